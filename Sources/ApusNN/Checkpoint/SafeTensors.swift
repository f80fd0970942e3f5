import Apus
import Foundation

/// Errors reading or writing checkpoint files; each names the file and what is wrong.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The message: the file and what is wrong with it.
    public let description: String
    /// An error with the message `description`.
    public init(_ description: String) { self.description = description }
}

/// The safetensors format (read by Python's `safetensors`, PyTorch, JAX, MLX): an 8-byte
/// little-endian header length, a JSON header `{"name": {"dtype", "shape", "data_offsets"}, …,
/// "__metadata__": {…}}` padded with spaces to a multiple of 8, then the raw little-endian data.
public enum SafeTensors {
    /// The reference implementation's header size limit.
    static let maximumHeaderBytes = 100_000_000

    static func name(of dtype: DType) -> String {
        switch dtype {
        case .float32: return "F32"
        case .float64: return "F64"
        case .int32: return "I32"
        case .int64: return "I64"
        case .bool: return "BOOL"
        }
    }

    static func dtype(named name: String) -> DType? {
        ["F32": DType.float32, "F64": .float64, "I32": .int32, "I64": .int64, "BOOL": .bool][name]
    }

    /// The bytes of a safetensors file holding `tensors` (in name order) and `metadata`.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            guard !t.isSymbolic else { throw CheckpointError("safetensors: tensor '\(name)' is symbolic (no data)") }
            let bytes = t.count * t.dtype.byteSize
            header[name] = ["dtype": Self.name(of: t.dtype), "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names { data.append(tensors[name]!.littleEndianBytes) }
        return data
    }

    /// Parses and validates safetensors bytes (`source` names the file in errors).
    public static func decode(_ bytes: Data, source: String = "safetensors data") throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data = Data(bytes)   // indices from 0 even when given a slice
        func fail(_ why: String) -> CheckpointError { CheckpointError("\(source): \(why)") }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, too short for a safetensors header") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(maximumHeaderBytes) else { throw fail("header length \(headerLength) exceeds the 100 MB limit") }
        guard UInt64(data.count) >= 8 + headerLength else { throw fail("truncated: header says \(headerLength) bytes, file has \(data.count - 8)") }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let buffer = data.subdata(in: (8 + Int(headerLength))..<data.count)
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                metadata = map
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor '\(name)' needs dtype, shape and data_offsets [begin, end]")
            }
            guard let dtype = dtype(named: dtypeName) else { throw fail("tensor '\(name)' has dtype \(dtypeName), which Apus does not read (F32, F64, I32, I64, BOOL)") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)' has a negative dimension in \(shape)") }
            guard TensorSpec(shape, dtype).isAddressable else { throw fail("tensor '\(name)' has an impossibly large shape \(shape)") }
            let expected = shape.reduce(dtype.byteSize, *)
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == expected else {
                throw fail("tensor '\(name)' spans \(offsets[1] - offsets[0]) bytes, but \(dtypeName) \(shape) needs \(expected)")
            }
            entries.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        var position = 0
        for entry in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard entry.begin == position else {
                throw fail(entry.begin > position ? "gap in the data before tensor '\(entry.name)'" : "tensor '\(entry.name)' overlaps another tensor")
            }
            position = entry.end
        }
        guard position == buffer.count else { throw fail("data holds \(buffer.count) bytes but the tensors cover \(position)") }
        var tensors: [String: Tensor] = [:]
        for entry in entries {
            let bytes = buffer.subdata(in: entry.begin..<entry.end)
            if entry.dtype == .bool, !bytes.allSatisfy({ $0 <= 1 }) { throw fail("tensor '\(entry.name)' has a BOOL byte other than 0 or 1") }
            tensors[entry.name] = Tensor(littleEndianBytes: bytes, shape: entry.shape, dtype: entry.dtype)
        }
        return (tensors, metadata)
    }

    /// Writes `tensors` to `url` atomically (a temporary file in the same folder, then rename),
    /// so a crash never leaves a half-written file in place of a good one.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata), to: url)
    }

    /// Reads and validates a safetensors file.
    public static func read(from url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError("\(url.path): cannot read the file (missing or unreadable)")
        }
        return try decode(data, source: url.path)
    }
}

/// Crash-safe file replacement.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, flushes it, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CheckpointError("\(url.path): cannot create a file in \(folder.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError("\(url.path): writing failed: \(error.localizedDescription)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError("\(url.path): cannot move the new file into place")
        }
    }
}
