import Apus
import CApusCodecs
import CApusKernels
import Foundation

/// A decoded 8-bit image: `pixels` holds rows of `width × channels` bytes (HWC), top row first.
public struct Image: Equatable, Sendable {
    public let width: Int, height: Int, channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "Image: \(pixels.count) bytes for \(width)×\(height)×\(channels)")
        (self.width, self.height, self.channels, self.pixels) = (width, height, channels, pixels)
    }

    /// Decodes PNG or JPEG bytes (told apart by their signature). `channels`: 1 (gray), 3 (RGB),
    /// 4 (RGBA) or 0 (as stored). Corrupt or truncated data throws a `DataError` naming `source`.
    public static func decode(_ data: Data, source: String, channels: Int = 3) throws -> Image {
        var image = apus_image()
        var message = [CChar](repeating: 0, count: 256)
        let status: Int32 = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let base = bytes.baseAddress, bytes.count >= 4 else { return -2 }
            if bytes[0] == 0x89 && bytes[1] == 0x50 { return apus_png_decode(base, bytes.count, Int32(channels), &image, &message) }
            if bytes[0] == 0xFF && bytes[1] == 0xD8 { return apus_jpeg_decode(base, bytes.count, Int32(channels), &image, &message) }
            return -2
        }
        if status == -2 { throw DataError(source, "not a PNG or JPEG image") }
        guard status == 0, let pixels = image.pixels else { throw DataError(source, "cannot decode image: \(String(cString: message))") }
        defer { apus_image_free(&image) }
        let count = Int(image.width) * Int(image.height) * Int(image.channels)
        return Image(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                     pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// Reads and decodes an image file.
    public static func load(_ url: URL, channels: Int = 3) throws -> Image {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw DataError(url.path, "image file is missing or unreadable") }
        return try decode(data, source: url.path, channels: channels)
    }

    /// PNG bytes of this image (8-bit, or 16-bit with each value v stored as v·257).
    public func pngData(sixteenBit: Bool = false) throws -> Data {
        try encode { out, size, message in
            apus_png_encode(pixels, Int32(width), Int32(height), Int32(channels), sixteenBit ? 1 : 0, &out, &size, message)
        }
    }

    /// JPEG bytes of this image (gray or RGB).
    public func jpegData(quality: Int = 90) throws -> Data {
        try encode { out, size, message in
            apus_jpeg_encode(pixels, Int32(width), Int32(height), Int32(channels), Int32(quality), &out, &size, message)
        }
    }

    private func encode(_ body: (inout UnsafeMutablePointer<UInt8>?, inout Int, UnsafeMutablePointer<CChar>) -> Int32) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { body(&out, &size, $0.baseAddress!) }
        guard status == 0, let out else { throw DataError("<memory>", "cannot encode image: \(String(cString: message))") }
        defer { apus_free(out) }
        return Data(bytes: out, count: size)
    }

    /// Float32 [channels, height, width] with values in [0, 1].
    public func tensor() -> Tensor {
        var values = [Float](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { p in
            values.withUnsafeMutableBufferPointer { v in
                apus_u8_hwc_to_f32_chw(Int64(height), Int64(width), Int64(channels), p.baseAddress!, v.baseAddress!)
            }
        }
        return Tensor(shape: [channels, height, width], scalars: values)
    }
}
