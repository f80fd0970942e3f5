import Foundation
import Testing

/// `apus export CONFIG --onnx FILE [--checkpoint FILE]`: the ONNX file of a configured model
/// (its onnxruntime round trips are in ApusExchangeTests).
@Suite(.serialized) struct CLIExportTests {
    @Test func exportsTheTrainedOrInitialModelAndFailsInOneLine() throws {
        let folder = try workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Before training: the initial weights, with a warning.
        let initial = try apus(["export", "vqa.yaml", "--onnx", "initial.onnx"], in: folder)
        #expect(initial.status == 0, "\(initial.error)")
        #expect(initial.error.contains("no checkpoint") && initial.error.contains("initial (untrained) weights"))
        #expect(initial.output.contains("wrote initial.onnx") && initial.output.contains("image [batch, 3, 8, 8] float32"), "\(initial.output) \(initial.error)")
        let bytes = try Data(contentsOf: folder.appendingPathComponent("initial.onnx"))
        #expect(bytes.count > 1000 && String(decoding: bytes, as: UTF8.self).contains("Apus"))
        // After training: the last checkpoint, silently; a different file from the initial one.
        #expect(try apus(["train", "vqa.yaml", "--epochs", "1"], in: folder).status == 0)
        let trained = try apus(["export", "vqa.yaml", "--onnx", "trained.onnx"], in: folder)
        #expect(trained.status == 0 && trained.error.isEmpty, "\(trained.error)")
        #expect(try Data(contentsOf: folder.appendingPathComponent("trained.onnx")) != bytes)
        // A missing checkpoint: one line, exit 4, nothing written.
        let missing = try apus(["export", "vqa.yaml", "--onnx", "missing.onnx", "--checkpoint", "nope.safetensors"], in: folder)
        #expect(missing.status == 4 && missing.error.split(separator: "\n").count == 1, "\(missing.error)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("missing.onnx").path))
        // An unwritable destination: one line, exit 1.
        let unwritable = try apus(["export", "vqa.yaml", "--onnx", "no/such/folder/model.onnx"], in: folder)
        #expect(unwritable.status == 1 && unwritable.error.hasPrefix("apus: ONNX export:") && unwritable.error.split(separator: "\n").count == 1,
                "\(unwritable.error)")
    }
}
