import ApusData
import Foundation

/// The channel count asked of a decoder: 0 (as stored), 1, 3 or 4, varied with the input's length.
func requestedChannels(_ data: Data) -> Int { [0, 1, 3, 4][data.count % 4] }

/// `data` with each PNG chunk's CRC recomputed, so that mutations reach libpng's decoding instead
/// of stopping at its checksum test (which needs no fuzzing: a mismatch is always an error).
func fixingPNGChecksums(_ data: Data) -> Data {
    var bytes = [UInt8](data), offset = 8
    while offset + 12 <= bytes.count {
        let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        let end = offset + 8 + length
        guard end + 4 <= bytes.count else { break }
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes[(offset + 4)..<end] {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        crc ^= 0xFFFF_FFFF
        for i in 0..<4 { bytes[end + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
        offset = end + 4
    }
    return Data(bytes)
}

/// A test pattern of `width`×`height` pixels of `channels` channels.
func patternImage(width: Int, height: Int, channels: Int) -> Image {
    var pixels: [UInt8] = []
    for y in 0..<height { for x in 0..<width { for c in 0..<channels { pixels.append(UInt8((x * 37 + y * 11 + c * 70) % 256)) } } }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

/// `tensor()` of images up to 16 MB (larger ones only slow fuzzing down: the conversion reads
/// nothing from the file but its pixels).
func convert(_ image: Image) {
    if image.pixels.count <= 1 << 24 { _ = image.tensor() }
}

/// `Image.decode` of PNG bytes (checksums repaired), then `tensor()`.
let pngTarget = FuzzTarget(name: "png", run: { data in
    convert(try Image.decode(fixingPNGChecksums(data), source: "fuzz", channels: requestedChannels(data)))
}, seeds: {
    var seeds: [String: Data] = [:]
    for channels in 1...4 {
        seeds["\(channels)-channels.png"] = try patternImage(width: 5, height: 4, channels: channels).pngData()
    }
    seeds["16-bit.png"] = try patternImage(width: 3, height: 3, channels: 3).pngData(sixteenBit: true)
    return seeds
})
