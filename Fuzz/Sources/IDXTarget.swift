import ApusData
import Foundation

/// MNIST's IDX images and labels (`MNIST(imageData:labelData:)`, gzipped or not), then the first
/// and last examples. One input holds both files: a 4-byte little-endian length of the images
/// file, the images file, then the labels file.
let idxTarget = FuzzTarget(name: "idx", run: { data in
    let bytes = [UInt8](data)
    guard bytes.count >= 4 else { return }
    let length = Swift.min(bytes.count - 4, Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24)
    let mnist = try MNIST(imageData: Data(bytes[4..<(4 + length)]), labelData: Data(bytes[(4 + length)...]))
    if mnist.count > 0 {
        _ = try mnist.example(0)
        _ = try mnist.example(mnist.count - 1)
    }
}, seeds: {
    func input(_ images: Data, _ labels: Data) -> Data {
        withUnsafeBytes(of: UInt32(images.count).littleEndian) { Data($0) } + images + labels
    }
    let images = Data([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255])
    let labels = Data([0, 0, 8, 1, 0, 0, 0, 2, 7, 3])
    return ["plain.idx": input(images, labels), "gzipped.idx": input(try gzipped(images), try gzipped(labels))]
})
