import Apus
import ApusNN
import ApusTestSupport
import Foundation
import Testing

@Suite struct CheckpointTests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("apus-ckpt-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    @Test func readsAFileWrittenByPythonSafetensors() throws {
        let (tensors, metadata) = try SafeTensors.read(from: Fixtures.path("ApusNNTests", "python.safetensors"))
        #expect(metadata == ["format": "pt", "epoch": "3"])
        #expect(tensors["weight"]!.dtype == .float32 && tensors["weight"]!.shape == [2, 3])
        expectClose(tensors["weight"]!, [0, 0.25, 0.5, 0.75, 1, 1.25])
        #expect(tensors["layer.bias"]!.scalars(as: Double.self) == [1.5, -2, 0.25])
        #expect(tensors["ids"]!.scalars(as: Int64.self) == [0, 7, -3, 1 << 40])
        #expect(tensors["mask"]!.scalars(as: Bool.self) == [true, false])
        #expect(tensors["small"]!.scalars(as: Int32.self) == [-1, 5])
    }

    /// The bytes Apus writes for the tensors of `python.safetensors`; the committed file
    /// `apus.safetensors` was written this way and checked with Python
    /// (`scripts/fixtures/check_safetensors.py Tests/ApusNNTests/Fixtures/apus.safetensors`).
    @Test func writesTheBytesPythonWasShownToRead() throws {
        let tensors: [String: Tensor] = [
            "weight": Tensor(shape: [2, 3], scalars: [Float(0), 0.25, 0.5, 0.75, 1, 1.25]),
            "layer.bias": Tensor(shape: [3], scalars: [1.5, -2, 0.25]),
            "ids": Tensor(shape: [4], scalars: [Int64(0), 7, -3, 1 << 40]),
            "mask": Tensor(shape: [2], scalars: [true, false]),
            "small": Tensor(shape: [2], scalars: [Int32(-1), 5]),
        ]
        let data = try SafeTensors.encode(tensors, metadata: ["format": "pt", "epoch": "3"])
        if ProcessInfo.processInfo.environment["APUS_WRITE_FIXTURES"] == "1" {   // regenerate, then check with Python
            try data.write(to: Fixtures.path("ApusNNTests", "apus.safetensors"))
        }
        let committed = try Data(contentsOf: Fixtures.path("ApusNNTests", "apus.safetensors"))
        #expect(data == committed)
        let (back, metadata) = try SafeTensors.decode(data)
        #expect(metadata["epoch"] == "3" && back.count == 5)
        #expect(back["ids"]!.scalars(as: Int64.self) == [0, 7, -3, 1 << 40])
    }

    @Test func moduleRoundTripAndMismatchReport() throws {
        let url = folder.appendingPathComponent("mlp.safetensors")
        let a = Sequential(Linear(4, 3), ReLU(), BatchNorm1d(3))
        try a.save(to: url, metadata: ["epoch": "2"])
        let b = Sequential(Linear(4, 3), ReLU(), BatchNorm1d(3))
        let metadata = try b.load(from: url)
        #expect(metadata["epoch"] == "2")
        for ((name, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
            #expect(pa.value.scalars(as: Float.self) == pb.value.scalars(as: Float.self), "\(name)")
        }
        let wrong = Sequential(Linear(4, 5), ReLU())
        do {
            try wrong.load(from: url)
            Issue.record("expected a mismatch error")
        } catch let error as CheckpointError {
            #expect(error.description.contains("'layers.0.weight' is [3, 4] float32 in the file but [5, 4] float32 in the model"))
            #expect(error.description.contains("'layers.0.bias' is [3] float32"))
            #expect(error.description.contains("unexpected 'layers.2.runningMean'"))
        }
        #expect(wrong.layers.count == 2)
    }

    @Test func corruptFilesAreRejectedClearly() throws {
        let good = try SafeTensors.encode(["a": Tensor([1.0, 2.0]), "b": Tensor([3.0])])
        func rejects(_ data: Data, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try SafeTensors.decode(data, source: "x.safetensors")
                Issue.record("accepted a bad file", sourceLocation: sourceLocation)
            } catch let error as CheckpointError {
                #expect(error.description.hasPrefix("x.safetensors: "), sourceLocation: sourceLocation)
                #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
            } catch {
                Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            }
        }
        rejects(good.prefix(5), "too short")
        rejects(good.prefix(good.count - 4), "data holds")
        rejects(good.prefix(20), "truncated")
        var hugeHeader = good
        hugeHeader.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
        rejects(hugeHeader, "exceeds")
        func file(_ header: String, data: Int) -> Data {
            var d = Data(withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) })
            d.append(header.data(using: .utf8)!)
            d.append(Data(count: data))
            return d
        }
        rejects(file(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#, data: 4), "needs 8")
        rejects(file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: 8), "gap")
        rejects(file(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}"#, data: 8), "overlaps")
        rejects(file(#"{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}"#, data: 2), "does not read")
        rejects(file("[1, 2]", data: 0), "not a JSON object")
        // Empty, but its strides would overflow (found by fuzzing: it trapped).
        rejects(file(#"{"a": {"dtype": "BOOL", "shape": [0, 1099511627776, 1099511627776], "data_offsets": [0, 0]}}"#, data: 0),
                "impossibly large shape")
        #expect(throws: CheckpointError.self) { try SafeTensors.read(from: folder.appendingPathComponent("missing.safetensors")) }
    }

    @Test func failedWriteKeepsTheOldFile() throws {
        let url = folder.appendingPathComponent("keep.safetensors")
        try SafeTensors.write(["a": Tensor([1.0])], to: url)
        let before = try Data(contentsOf: url)
        #expect(throws: CheckpointError.self) {
            try SafeTensors.write(["a": Tensor([2.0])], to: folder.appendingPathComponent("no-such-folder/keep.safetensors"))
        }
        #expect(try Data(contentsOf: url) == before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }
}
