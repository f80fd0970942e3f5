import Apus
import CApusCodecs
import Foundation

/// Reads a file, inflating it when it is gzip-compressed (by its 1f 8b signature).
func readMaybeGzipped(_ url: URL) throws -> Data {
    guard let data = FileManager.default.contents(atPath: url.path) else { throw DataError(url.path, "missing or unreadable") }
    guard data.count >= 2, data[data.startIndex] == 0x1f, data[data.startIndex + 1] == 0x8b else { return data }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = data.withUnsafeBytes { raw in
        apus_gunzip(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, &out, &size, &message)
    }
    guard status == 0, let out else { throw DataError(url.path, "cannot decompress: \(String(cString: message))") }
    defer { apus_free(out) }
    return Data(bytes: out, count: size)
}

/// MNIST / Fashion-MNIST in IDX format (gzipped or not): "image" Float32 [1, rows, columns] in
/// [0, 1], "label" Int64 [].
public struct MNIST: Dataset {
    public let images: [UInt8]
    public let labels: [UInt8]
    public let rows: Int, columns: Int
    public let count: Int

    public init(images imagesFile: URL, labels labelsFile: URL) throws {
        let imageData = [UInt8](try readMaybeGzipped(imagesFile)), labelData = [UInt8](try readMaybeGzipped(labelsFile))
        func u32(_ bytes: [UInt8], _ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard imageData.count >= 16, u32(imageData, 0) == 0x0000_0803 else { throw DataError(imagesFile.path, "not an IDX image file (magic 0x00000803)") }
        guard labelData.count >= 8, u32(labelData, 0) == 0x0000_0801 else { throw DataError(labelsFile.path, "not an IDX label file (magic 0x00000801)") }
        let n = u32(imageData, 4), r = u32(imageData, 8), c = u32(imageData, 12)
        let (pixels, overflow) = n.multipliedReportingOverflow(by: r * c)
        guard !overflow, imageData.count == 16 + pixels else { throw DataError(imagesFile.path, "holds \(imageData.count - 16) pixel bytes, header promises \(n)×\(r)×\(c)") }
        guard u32(labelData, 4) == n, labelData.count == 8 + n else { throw DataError(labelsFile.path, "label count does not match the \(n) images") }
        (images, labels, rows, columns, count) = (Array(imageData[16...]), Array(labelData[8...]), r, c, n)
    }

    public func example(_ index: Int) throws -> Example {
        let size = rows * columns
        let pixels = images[(index * size)..<((index + 1) * size)].map { Float($0) / 255 }
        return ["image": Tensor(shape: [1, rows, columns], scalars: pixels), "label": Tensor(shape: [], scalars: [Int64(labels[index])])]
    }
}

/// CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32×32).
/// "image" Float32 [3, 32, 32] in [0, 1], "label" Int64 [].
public struct CIFAR10: Dataset {
    public let records: [UInt8]
    public let count: Int
    static let recordSize = 1 + 3 * 32 * 32
    /// The name of each class, by label.
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    public init(batches: [URL]) throws {
        var all: [UInt8] = []
        for url in batches {
            let data = [UInt8](try readMaybeGzipped(url))
            guard !data.isEmpty, data.count % CIFAR10.recordSize == 0 else {
                throw DataError(url.path, "size \(data.count) is not a multiple of the 3073-byte CIFAR-10 record")
            }
            all += data
        }
        records = all
        count = all.count / CIFAR10.recordSize
    }

    public func example(_ index: Int) throws -> Example {
        let start = index * CIFAR10.recordSize
        let pixels = records[(start + 1)..<(start + CIFAR10.recordSize)].map { Float($0) / 255 }
        return ["image": Tensor(shape: [3, 32, 32], scalars: pixels), "label": Tensor(shape: [], scalars: [Int64(records[start])])]
    }
}
