import Apus
import ApusNN
import ApusTrain
@testable import ApusExchange
import Foundation
import Testing

/// The ONNX import fixtures (scripts/onnx/make_torch_fixtures.py): models exported by PyTorch.
func fixture(_ name: String) -> URL { repositoryRoot.appendingPathComponent("Tests/ApusExchangeTests/Fixtures/onnx/\(name)") }

@Suite struct ONNXImportTests {
    /// Imports `name`.onnx, runs it on the fixture's input and compares with PyTorch's output.
    @discardableResult
    func reproduce(_ name: String) throws -> ONNXModel {
        let model = try ONNXModel(contentsOf: fixture("\(name).onnx"))
        let tensors = try SafeTensors.read(from: fixture("\(name).safetensors")).tensors
        let input = try #require(tensors["input"]), expected = try #require(tensors["output"])
        let output = try withoutGrad { try model([input])[0] }
        let difference = maxAbsDifference(output, expected)
        print("ONNX import \(name): max |apus − pytorch| = \(difference) (\(model.nodes.count) nodes, \(model.parameterCount) parameters)")
        #expect(difference <= 1e-5, "\(name): max |Δ| \(difference)")
        #expect(Set(expected.scalars(as: Float.self)).count > 1)
        return model
    }

    @Test func mlpReproducesPyTorch() throws {
        let model = try reproduce("mlp")
        #expect(model.parameterCount == 8 * 16 + 16 + 16 * 16 + 16 + 16 * 12 + 12 + 12 * 4 + 4)
    }

    @Test func cnnWithBatchNormReproducesPyTorch() throws {
        let model = try reproduce("cnn")
        // bn1's running mean and variance are buffers (PyTorch folded bn2 into the conv before it).
        #expect(Set(model.statistics.keys) == ["bn1.running_mean", "bn1.running_var"] && model.namedBuffers().count == 2)
        #expect(model.weights["bn1.running_mean"] == nil && model.weights["bn1.weight"] != nil)
    }

    @Test func lstmReproducesPyTorch() throws { try reproduce("lstm") }

    @Test func bidirectionalGRUReproducesPyTorch() throws { try reproduce("gru") }

    @Test func transformerEncoderLayerReproducesPyTorch() throws { try reproduce("transformer") }

    @Test func importedModelsFineTune() throws {
        // The classifiers learn labels (negative log-likelihood of their log-softmax / softmax
        // outputs), the encoder layer a random target (mean squared error).
        for (name, rate) in [("mlp", 5.0), ("cnn", 0.5), ("transformer", 0.1)] {
            let model = try ONNXModel(contentsOf: fixture("\(name).onnx"))
            let tensors = try SafeTensors.read(from: fixture("\(name).safetensors")).tensors
            let input = tensors["input"]!, shape = tensors["output"]!.shape
            let target = Tensor.normal(shape, std: 0.5, generator: RandomGenerator(seed: 5))
            let labels = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { $0 % shape[1] == ($0 / shape[1]) % shape[1] ? Float(1) : 0 })
            func loss() throws -> Tensor {
                let y = try model([input])[0]
                switch name {
                case "mlp": return -(y * labels).sum(axes: [1]).mean()
                case "cnn": return -(y.log() * labels).sum(axes: [1]).mean()
                default: return ((y - target) * (y - target)).mean()
                }
            }
            let before = try loss().item()
            var last = before
            for _ in 0..<20 {
                model.zeroGrad()
                let l = try loss()
                l.backward()
                for p in model.parameters() {
                    let g = try #require(p.grad, "\(name): a parameter got no gradient")
                    p.wrappedValue = withoutGrad { p.value - g * rate }
                }
                last = l.item()
            }
            print("ONNX import \(name): fine-tuning loss \(before) → \(last)")
            #expect(last < before * 0.9, "\(name): loss \(before) → \(last)")
        }
    }

    @Test func apusExportImportsBackIntoApus() throws {
        let g = RandomGenerator(seed: 21)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let lenet = makeLeNet(generator: g)
        try lenet.exportONNX(to: folder.appendingPathComponent("lenet.onnx"), inputs: [ONNXInput("image", [2, 1, 28, 28])])
        let x = Tensor.uniform([3, 1, 28, 28], low: 0, high: 1, generator: g)
        let imported = try ONNXModel(contentsOf: folder.appendingPathComponent("lenet.onnx"))
        #expect(imported.inputShapes == [[nil, 1, 28, 28]])
        #expect(maxAbsDifference(try imported([x])[0], withoutGrad { lenet(x) }) <= 1e-6)
        let lm = LSTMLanguageModel(vocabulary: 30, width: 16, layers: 2, generator: g)
        try lm.exportONNX(to: folder.appendingPathComponent("lm.onnx"), inputs: [ONNXInput("ids", [5, 2], dtype: .int64, batchAxis: 1)]) { [lm($0[0])] }
        let ids = Tensor(shape: [5, 3], scalars: (0..<15).map { Int64($0 * 7 % 30) })
        let back = try ONNXModel(contentsOf: folder.appendingPathComponent("lm.onnx"))
        #expect(maxAbsDifference(try back(["ids": ids])[0], withoutGrad { lm(ids) }) <= 1e-5)
        // GELU goes out as its Erf form and comes back through the importer's erf.
        let gpt = TransformerLanguageModel(vocabulary: 30, maxLength: 8, modelWidth: 16, heads: 2, feedForward: 32, layers: 1, generator: g)
        try gpt.exportONNX(to: folder.appendingPathComponent("gpt.onnx"), inputs: [ONNXInput("ids", [2, 6], dtype: .int64)])
        let tokens = Tensor(shape: [2, 6], scalars: (0..<12).map { Int64($0 * 5 % 30) })
        let gptBack = try ONNXModel(contentsOf: folder.appendingPathComponent("gpt.onnx"))
        let difference = maxAbsDifference(try gptBack([tokens])[0], withoutGrad { gpt(tokens) })
        print("ONNX Apus → ONNX → Apus transformer LM: max |Δ| = \(difference)")
        #expect(difference <= 1e-5)
    }
}

@Suite struct ONNXImportErrorTests {
    func graph(_ nodes: [(String, String, [String], [String])]) -> Onnx_ModelProto {
        var model = Onnx_ModelProto()
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        model.opsetImport = [opset]
        model.graph.input = [ONNXGraphBuilder.valueInfo("x", TensorSpec([2, 3]), dynamic: [0])]
        model.graph.output = [ONNXGraphBuilder.valueInfo("y", TensorSpec([2, 3]), dynamic: [0])]
        model.graph.node = nodes.map { name, op, inputs, outputs in
            var n = Onnx_NodeProto()
            (n.name, n.opType, n.input, n.output) = (name, op, inputs, outputs)
            return n
        }
        return model
    }

    @Test func everyUnsupportedNodeIsNamedInOneError() throws {
        let model = graph([("a", "Relu", ["x"], ["h"]), ("nms", "NonMaxSuppression", ["h"], ["k"]), ("fft", "DFT", ["k"], ["y"])])
        let error = try #require(throws: ONNXError.self) { try ONNXModel(proto: model) }
        #expect(error.kind == .unsupported)
        #expect(error.message == "ONNX import: 2 unsupported node(s): 'nms' (NonMaxSuppression), 'fft' (DFT)")
    }

    @Test func danglingValuesAndBadShapesAreMalformed() throws {
        let dangling = try #require(throws: ONNXError.self) { try ONNXModel(proto: graph([("a", "Relu", ["nothing"], ["y"])])) }
        #expect(dangling.kind == .malformed && dangling.message.contains("'a' (Relu) reads 'nothing'"))
        let badShape = try #require(throws: ONNXError.self) { try ONNXModel(proto: graph([("mm", "MatMul", ["x", "x"], ["y"])])) }
        #expect(badShape.message.hasPrefix("ONNX model: node 'mm' (MatMul): matmul: got shapes [1, 3], [1, 3]"), "\(badShape.message)")
        let working = try ONNXModel(proto: graph([("r", "Relu", ["x"], ["y"])]))
        let wrongInput = try #require(throws: ONNXError.self) { try working([Tensor.zeros([2, 4])]) }
        #expect(wrongInput.kind == .invalidInput)
    }

    @Test func malformedBytesThrowAndNeverCrash() throws {
        let bytes = try Data(contentsOf: fixture("cnn.onnx"))
        var generator = SystemRandomNumberGenerator()
        var failures = 0
        for cut in stride(from: 1, to: bytes.count, by: 97) {
            do { _ = try ONNXModel(serializedData: bytes.prefix(cut)) } catch is ONNXError { failures += 1 }
        }
        for _ in 0..<200 {
            var corrupted = bytes
            for _ in 0..<4 { corrupted[Int.random(in: 0..<corrupted.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            do { _ = try ONNXModel(serializedData: corrupted) } catch is ONNXError { failures += 1 }
        }
        #expect(failures > 0)
        let garbage = try #require(throws: ONNXError.self) { try ONNXModel(serializedData: Data("not a model".utf8)) }
        #expect(garbage.kind == .malformed)
    }
}
