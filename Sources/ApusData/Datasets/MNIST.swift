import Apus
import CApusCodecs
import Foundation

/// The bytes of a file; a missing or unreadable one throws a `DataError`.
func readFile(_ url: URL) throws -> Data {
    guard let data = FileManager.default.contents(atPath: url.path) else { throw DataError(url.path, "missing or unreadable") }
    return data
}

/// `data` inflated when it starts with the gzip signature 1f 8b, else `data` itself; corrupt or
/// truncated gzip data throws a `DataError` naming `source`.
public func inflateIfGzipped(_ data: Data, source: String) throws -> Data {
    guard data.count >= 2, data[data.startIndex] == 0x1f, data[data.startIndex + 1] == 0x8b else { return data }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = data.withUnsafeBytes { raw in
        apus_gunzip(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, &out, &size, &message)
    }
    guard status == 0, let out else { throw DataError(source, "cannot decompress: \(String(cString: message))") }
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
        try self.init(imageData: try readFile(imagesFile), labelData: try readFile(labelsFile),
                      imagesSource: imagesFile.path, labelsSource: labelsFile.path)
    }

    /// Reads IDX images and labels from the bytes of the two files (gzipped or not);
    /// `imagesSource` and `labelsSource` name them in errors.
    public init(imageData: Data, labelData: Data, imagesSource: String = "IDX images", labelsSource: String = "IDX labels") throws {
        let imageData = [UInt8](try inflateIfGzipped(imageData, source: imagesSource))
        let labelData = [UInt8](try inflateIfGzipped(labelData, source: labelsSource))
        func u32(_ bytes: [UInt8], _ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard imageData.count >= 16, u32(imageData, 0) == 0x0000_0803 else { throw DataError(imagesSource, "not an IDX image file (magic 0x00000803)") }
        guard labelData.count >= 8, u32(labelData, 0) == 0x0000_0801 else { throw DataError(labelsSource, "not an IDX label file (magic 0x00000801)") }
        let n = u32(imageData, 4), r = u32(imageData, 8), c = u32(imageData, 12)
        let (area, areaOverflow) = r.multipliedReportingOverflow(by: c)
        let (pixels, overflow) = n.multipliedReportingOverflow(by: area)
        guard !areaOverflow, !overflow, imageData.count - 16 == pixels else {
            throw DataError(imagesSource, "holds \(imageData.count - 16) pixel bytes, header promises \(n)×\(r)×\(c)")
        }
        guard u32(labelData, 4) == n, labelData.count == 8 + n else { throw DataError(labelsSource, "label count does not match the \(n) images") }
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
        for url in batches { all += try CIFAR10.checkedRecords(in: try readFile(url), source: url.path) }
        (records, count) = (all, all.count / CIFAR10.recordSize)
    }

    /// Reads the bytes of batch files (gzipped or not), each with the name its errors give.
    public init(batches: [(source: String, data: Data)]) throws {
        var all: [UInt8] = []
        for batch in batches { all += try CIFAR10.checkedRecords(in: batch.data, source: batch.source) }
        (records, count) = (all, all.count / CIFAR10.recordSize)
    }

    /// The records of one batch file's bytes (inflated when gzipped), checked to be whole records.
    static func checkedRecords(in data: Data, source: String) throws -> [UInt8] {
        let bytes = [UInt8](try inflateIfGzipped(data, source: source))
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw DataError(source, "size \(bytes.count) is not a multiple of the 3073-byte CIFAR-10 record")
        }
        return bytes
    }

    public func example(_ index: Int) throws -> Example {
        let start = index * CIFAR10.recordSize
        let pixels = records[(start + 1)..<(start + CIFAR10.recordSize)].map { Float($0) / 255 }
        return ["image": Tensor(shape: [3, 32, 32], scalars: pixels), "label": Tensor(shape: [], scalars: [Int64(records[start])])]
    }
}
