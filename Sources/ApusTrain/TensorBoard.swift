import Foundation

/// Writes TensorBoard event files (scalars) without TensorFlow: TFRecord framing with masked
/// CRC-32C checksums around protobuf-encoded `Event` messages.
public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle

    /// Creates `events.out.tfevents.<time>.<host>.<pid>.0` in `directory` and writes the
    /// file-version record.
    public init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = "events.out.tfevents.\(String(format: "%010d", Int(wallTime))).\(ProcessInfo.processInfo.hostName).\(ProcessInfo.processInfo.processIdentifier).0"
        url = directory.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw TrainingError("cannot create \(url.path)") }
        handle = try FileHandle(forWritingTo: url)
        try handle.write(contentsOf: TensorBoardWriter.record(TensorBoardWriter.fileVersionEvent(wallTime: wallTime)))
    }

    deinit { try? handle.close() }

    /// Appends one scalar.
    public func scalar(_ tag: String, _ value: Double, step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try handle.write(contentsOf: TensorBoardWriter.record(TensorBoardWriter.scalarEvent(tag, Float(value), step: step, wallTime: wallTime)))
    }

    /// Flushes written records to disk.
    public func flush() throws { try handle.synchronize() }

    // MARK: encoding

    /// CRC-32C (Castagnoli), table-driven.
    static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let c = crc32c(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// One TFRecord: length, its masked CRC, the data, the data's masked CRC.
    static func record(_ data: [UInt8]) -> Data {
        let length = littleEndian(UInt64(data.count))
        return Data(length + littleEndian(maskedCRC(length)) + data + littleEndian(maskedCRC(data)))
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            out.append(UInt8(v & 0x7F) | (v > 0x7F ? 0x80 : 0))
            v >>= 7
        } while v > 0
        return out
    }

    static func lengthDelimited(_ field: UInt64, _ bytes: [UInt8]) -> [UInt8] { varint(field << 3 | 2) + varint(UInt64(bytes.count)) + bytes }

    /// Event { wall_time (1, double); step (2, int64, omitted when 0); … }.
    static func eventHeader(wallTime: Double, step: Int) -> [UInt8] {
        var bytes = varint(1 << 3 | 1) + littleEndian(wallTime.bitPattern)
        if step != 0 { bytes += varint(2 << 3) + varint(UInt64(bitPattern: Int64(step))) }
        return bytes
    }

    static func fileVersionEvent(wallTime: Double) -> [UInt8] {
        eventHeader(wallTime: wallTime, step: 0) + lengthDelimited(3, Array("brain.Event:2".utf8))
    }

    /// Event { …; summary (5) = Summary { value (1) = Value { tag (1); simple_value (2, float) } } }.
    static func scalarEvent(_ tag: String, _ value: Float, step: Int, wallTime: Double) -> [UInt8] {
        let summaryValue = lengthDelimited(1, Array(tag.utf8)) + varint(2 << 3 | 5) + littleEndian(value.bitPattern)
        return eventHeader(wallTime: wallTime, step: step) + lengthDelimited(5, lengthDelimited(1, summaryValue))
    }
}

/// Logs the batch loss every `updateFrequency` steps ("batch/loss") and every epoch value
/// ("epoch/loss", "epoch/val_accuracy", …) to TensorBoard event files in `directory`.
public final class TensorBoard: Callback {
    public let directory: URL
    public let updateFrequency: Int
    public private(set) var writer: TensorBoardWriter?
    private var globalStep = 0

    public init(directory: URL, updateFrequency: Int = 100) {
        (self.directory, self.updateFrequency) = (directory, Swift.max(1, updateFrequency))
    }

    public func trainBegin(_ trainer: Trainer) {
        writer = try? TensorBoardWriter(directory: directory)
    }

    public func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) -> Bool {
        globalStep += 1
        if globalStep % updateFrequency == 0, let loss = logs["loss"] { try? writer?.scalar("batch/loss", loss, step: globalStep) }
        return false
    }

    public func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        guard let writer else { throw TrainingError("TensorBoard: cannot write event files in \(directory.path)") }
        for key in logs.keys.sorted() { try writer.scalar("epoch/" + key, logs[key]!, step: epoch + 1) }
        try writer.flush()
        return false
    }
}
