import Apus
import ApusData
import ApusTestSupport
import Foundation
import Testing

/// A small gradient image with every channel different.
func pattern(width: Int, height: Int, channels: Int) -> Image {
    var pixels: [UInt8] = []
    for y in 0..<height { for x in 0..<width { for c in 0..<channels { pixels.append(UInt8((x * 37 + y * 11 + c * 70) % 256)) } } }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("apus-data-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct ImageTests {
    @Test func pngRoundTripsInEveryLayout() throws {
        for channels in [1, 2, 3, 4] {
            let image = pattern(width: 7, height: 5, channels: channels)
            let decoded = try Image.decode(try image.pngData(), source: "t.png", channels: 0)
            #expect(decoded == image, "channels \(channels)")
            let sixteen = try Image.decode(try image.pngData(sixteenBit: true), source: "t16.png", channels: 0)
            #expect(sixteen.pixels == image.pixels, "16-bit, channels \(channels)")
        }
        // Conversions: gray → RGB repeats the value; RGB → RGBA adds opaque alpha.
        let gray = pattern(width: 3, height: 2, channels: 1)
        let rgb = try Image.decode(try gray.pngData(), source: "g.png", channels: 3)
        #expect(rgb.channels == 3 && rgb.pixels[0..<3].allSatisfy { $0 == gray.pixels[0] })
        let rgba = try Image.decode(try pattern(width: 2, height: 2, channels: 3).pngData(), source: "c.png", channels: 4)
        #expect(rgba.channels == 4 && rgba.pixels[3] == 255)
    }

    @Test func jpegDecodesCloseToTheSource() throws {
        var flat = Image(width: 16, height: 16, channels: 3, pixels: Array(repeating: 0, count: 16 * 16 * 3))
        for i in 0..<(16 * 16) { flat.pixels[i * 3] = 200; flat.pixels[i * 3 + 1] = 100; flat.pixels[i * 3 + 2] = 50 }
        let decoded = try Image.decode(try flat.jpegData(quality: 95), source: "f.jpg")
        #expect(decoded.width == 16 && decoded.channels == 3)
        #expect(zip(decoded.pixels, flat.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 3 })
        let gray = try Image.decode(try pattern(width: 8, height: 8, channels: 1).jpegData(), source: "g.jpg", channels: 0)
        #expect(gray.channels == 1)
    }

    @Test func floatTensorIsCHWInUnitRange() throws {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [255, 0, 51, 0, 255, 102])
        let t = image.tensor()
        #expect(t.shape == [3, 1, 2])
        expectClose(t, [1, 0, 0, 1, 0.2, 0.4], tolerance: 1e-6)
    }

    @Test func corruptAndTruncatedFilesThrowNamingTheFile() throws {
        let good = try pattern(width: 16, height: 16, channels: 3).pngData()
        let cases: [(Data, String)] = [
            (good.prefix(good.count / 2), "truncated"),
            (good.prefix(16) + Data(repeating: 7, count: 200), "cannot decode"),
            (Data("hello world".utf8), "not a PNG or JPEG"),
            (try pattern(width: 16, height: 16, channels: 3).jpegData().prefix(100), "cannot decode"),
        ]
        for (data, fragment) in cases {
            do {
                _ = try Image.decode(data, source: "/data/bad.png")
                Issue.record("accepted bad data (\(fragment))")
            } catch let error as DataError {
                #expect(error.file == "/data/bad.png")
                #expect(error.description.contains(fragment), "\(error)")
            }
        }
        #expect(throws: DataError.self) { try Image.load(temporaryFolder().appendingPathComponent("none.png")) }
    }

    /// A header claiming more than `APUS_IMAGE_MAX_PIXELS` is refused before anything is
    /// allocated (fuzzing found a 300-byte JPEG asking for a 5 GB buffer).
    @Test func absurdImageSizesAreRefused() throws {
        var png = [UInt8](try pattern(width: 4, height: 4, channels: 3).pngData())
        let million: [UInt8] = [0x00, 0x0F, 0x42, 0x40]   // 1 000 000, big-endian
        png.replaceSubrange(16..<24, with: million + million)   // IHDR width and height
        var crc: UInt32 = 0xFFFF_FFFF   // the IHDR chunk's CRC-32, over its type and data
        for byte in png[12..<29] {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        png.replaceSubrange(29..<33, with: withUnsafeBytes(of: (crc ^ 0xFFFF_FFFF).bigEndian) { Array($0) })
        var jpeg = [UInt8](try pattern(width: 8, height: 8, channels: 3).jpegData())
        let frame = try #require(jpeg.indices.first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange((frame + 5)..<(frame + 9), with: [0xFD, 0xE8, 0xFD, 0xE8])   // 65000 × 65000
        for (data, name, size) in [(png, "huge.png", "1000000 × 1000000"), (jpeg, "huge.jpg", "65000 × 65000")] {
            #expect(throws: DataError(name, "cannot decode image: image is \(size) pixels, more than the 134217728-pixel limit")) {
                try Image.decode(Data(data), source: name)
            }
        }
    }

    /// JPEG image data that stops early (a marker where the data should go on) is a truncated
    /// file, as running out of bytes is; libjpeg would only warn and fill the rest with gray.
    @Test func jpegDataEndingBeforeTheImageIsRefused() throws {
        let good = [UInt8](try pattern(width: 64, height: 64, channels: 3).jpegData())
        let scan = try #require(good.indices.first { good[$0] == 0xFF && good[$0 + 1] == 0xDA })
        let cut = Data(good[..<(scan + 40)] + [0xFF, 0xD9])
        #expect(throws: DataError("cut.jpg", "cannot decode image: truncated file (premature end of JPEG data)")) {
            try Image.decode(cut, source: "cut.jpg")
        }
    }

    @Test func transforms() {
        let g = RandomGenerator(seed: 1)
        let image = Tensor(shape: [1, 2, 2], scalars: [Float(0), 1, 2, 3])
        // Upsampling 2×2 → 4×4 with half-pixel centres (PyTorch align_corners=False).
        expectClose(Resize(4)(image, generator: g), [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
        expectClose(Resize(1)(image, generator: g), [1.5])
        let big = Tensor.arange(0, 25, dtype: .float32).reshaped([1, 5, 5])
        expectClose(CenterCrop(height: 3, width: 3)(big, generator: g), [6, 7, 8, 11, 12, 13, 16, 17, 18])
        let a = RandomCrop(height: 3, width: 3, padding: 1)(big, generator: RandomGenerator(seed: 4))
        let b = RandomCrop(height: 3, width: 3, padding: 1)(big, generator: RandomGenerator(seed: 4))
        #expect(a.shape == [1, 3, 3] && a.scalars(as: Float.self) == b.scalars(as: Float.self))
        expectClose(RandomHorizontalFlip(p: 1)(image, generator: g), [1, 0, 3, 2])
        expectClose(RandomHorizontalFlip(p: 0)(image, generator: g), [0, 1, 2, 3])
        expectClose(Normalize(mean: [1], std: [2])(image, generator: g), [-0.5, 0, 0.5, 1])
        let pipeline = Compose([Resize(4), CenterCrop(height: 2, width: 2), Normalize(mean: [0], std: [1])])
        expectClose(pipeline(image, generator: g), [0.75, 1.25, 1.75, 2.25])
    }
}
