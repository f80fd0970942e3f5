import Apus
import ApusNN
import ApusTrain
@testable import ApusExchange
import Foundation
import Testing

/// LeNet-5 as in Caffe's and PyTorch's MNIST examples: [N, 1, 28, 28] → logits [N, 10].
func makeLeNet(generator: RandomGenerator) -> Sequential {
    Sequential(Conv2d(1, 6, kernelSize: 5, padding: 2, generator: generator), ReLU(), MaxPool2d(2),
               Conv2d(6, 16, kernelSize: 5, generator: generator), ReLU(), MaxPool2d(2), Flatten(),
               Linear(400, 120, generator: generator), ReLU(), Linear(120, 84, generator: generator), ReLU(),
               Linear(84, 10, generator: generator))
}

@Suite struct ONNXExportStructureTests {
    @Test func fileHasProducerOpsetNamedInitializersAndDynamicBatch() throws {
        let g = RandomGenerator(seed: 3)
        let net = Sequential(Linear(4, 8, generator: g), ReLU(), Linear(8, 3, generator: g))
        let model = try ONNXExport.model(of: net, inputs: [ONNXInput("x", [2, 4])]) { [net($0[0])] }
        #expect(model.producerName == "Apus")
        #expect(model.opsetImport.map(\.version) == [17])
        let initializers = Dictionary(uniqueKeysWithValues: model.graph.initializer.map { ($0.name, $0) })
        for (path, parameter) in net.namedParameters() {
            let proto = try #require(initializers[path], "initializer \(path)")
            #expect(proto.hasRawData && proto.dims == parameter.value.shape.map(Int64.init))
            #expect(try Tensor(onnx: proto).scalars(as: Float.self) == parameter.value.scalars(as: Float.self))
        }
        #expect(model.graph.input.map(\.name) == ["x"])
        #expect(model.graph.input[0].type.tensorType.shape.dim.map(\.dimParam) == ["batch", ""])
        #expect(model.graph.output[0].type.tensorType.shape.dim.map(\.dimParam) == ["batch", ""])
        #expect(model.graph.node.map(\.opType).contains("MatMul"))
        #expect(model.graph.node.contains { $0.name.hasPrefix("layers.0/") })
        // What the file holds decodes back to the same message.
        let decoded = try Onnx_ModelProto(serializedBytes: try model.serializedData())
        #expect(decoded == model)
    }

    @Test func unsupportedOpsAreNamedInOneError() throws {
        struct Square: Apus.Operation {
            var name: String { "square" }
            func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { [inputs[0]] }
            func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] { [inputs[0] * inputs[0]] }
        }
        let net = Linear(3, 3)
        let error = try #require(throws: ONNXError.self) {
            try ONNXExport.model(of: net, inputs: [ONNXInput("x", [1, 3])]) { t in
                let y = Tensor.apply(Square(), [net(t[0])])[0]
                return [Tensor.apply(Square(), [y])[0].relu()]
            }
        }
        #expect(error.kind == .unsupported)
        #expect(error.message == "ONNX export: no ONNX mapping for the traced op(s): square (×2)")
    }

    @Test func exportRestoresTrainingModeAndWritesAtomically() throws {
        let net = Sequential(Linear(2, 2), BatchNorm1d(2), Dropout(0.5))
        net.train()
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("net.onnx")
        try net.exportONNX(to: url, inputs: [ONNXInput("x", [3, 2])])
        #expect(net.namedModules().allSatisfy { $0.1.isTraining })
        let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
        #expect(!model.graph.node.contains { $0.opType.contains("Dropout") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["net.onnx"])
    }

    @Test func batchDependentGraphsThrow() throws {
        let net = Linear(3, 3)
        let error = try #require(throws: ONNXError.self) {
            try ONNXExport.model(of: net, inputs: [ONNXInput("x", [2, 3])]) { t in
                [net(t[0]) * Double(t[0].shape[0])]
            }
        }
        #expect(error.kind == .batchDependent)
    }
}

@Suite(.serialized, .enabled(if: onnxPython != nil, Comment(rawValue: onnxRuntimeMissing)))
struct ONNXRoundTripTests {
    /// Exports `module`, runs the file in onnxruntime at the traced batch and at `otherBatch`,
    /// and compares with Apus's eval-mode outputs; returns the largest difference.
    func roundTrip(_ label: String, _ module: Module, inputs: [ONNXInput], batches: [Int], make: (Int) -> [Tensor],
                   forward: @escaping ([Tensor]) -> [Tensor]) throws -> Double {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("\(label).onnx")
        try module.exportONNX(to: url, inputs: inputs, forward: forward)
        module.eval()
        var worst = 0.0
        for batch in batches {
            let values = make(batch)
            let expected = withoutGrad { forward(values) }
            // The examples' outputs differ (a constant output would make the comparison vacuous).
            let first = expected[0].scalars(as: Double.self), perExample = first.count / batch
            #expect(Set(first.prefix(perExample)) != Set(first.dropFirst(perExample).prefix(perExample)), "\(label): outputs do not depend on the input")
            let (outputs, summary) = try runInONNXRuntime(url, Dictionary(uniqueKeysWithValues: zip(inputs.map(\.name), values)))
            #expect(summary.contains("\"opset\": 17") && summary.contains("\"batch\""), "\(summary)")
            for (k, e) in expected.enumerated() {
                let got = try #require(outputs[k == 0 ? "output" : "output_\(k)"])
                let difference = maxAbsDifference(got, e)
                worst = Swift.max(worst, difference)
                #expect(difference <= 1e-5, "\(label) batch \(batch) output \(k): max |Δ| \(difference)")
            }
        }
        print("ONNX round trip \(label): max |apus − onnxruntime| = \(worst) over batches \(batches)")
        return worst
    }

    @Test func leNet() throws {
        let g = RandomGenerator(seed: 11)
        let net = makeLeNet(generator: g)
        _ = try roundTrip("lenet", net, inputs: [ONNXInput("image", [2, 1, 28, 28])], batches: [2, 5, 1],
                          make: { [Tensor.uniform([$0, 1, 28, 28], low: 0, high: 1, generator: g)] }) { [net($0[0])] }
    }

    @Test func resNet18() throws {
        let g = RandomGenerator(seed: 12)
        let net = ResNet18(classes: 10, generator: g)
        // Non-trivial running statistics, so evaluation mode matters.
        for (path, buffer) in net.namedBuffers() where buffer.value.rank == 1 {
            let shape = buffer.value.shape
            buffer.value = path.hasSuffix("runningVar") ? Tensor.uniform(shape, low: 0.5, high: 1.5, generator: g)
                                                        : Tensor.normal(shape, std: 0.1, generator: g)
        }
        _ = try roundTrip("resnet18", net, inputs: [ONNXInput("image", [2, 3, 32, 32])], batches: [2, 3],
                          make: { [Tensor.normal([$0, 3, 32, 32], generator: g)] }) { [net($0[0])] }
    }

    @Test func lstmLanguageModel() throws {
        let g = RandomGenerator(seed: 13)
        let lm = LSTMLanguageModel(vocabulary: 60, width: 32, layers: 2, generator: g)
        _ = try roundTrip("lstm-lm", lm, inputs: [ONNXInput("ids", [7, 2], dtype: .int64, batchAxis: 1)], batches: [2, 4],
                          make: { batch in [Tensor(shape: [7, batch], scalars: (0..<(7 * batch)).map { Int64(($0 * 37 + 5) % 60) })] }) { [lm($0[0])] }
    }

    @Test func transposedConvolutionDecoder() throws {
        let g = RandomGenerator(seed: 16)
        let net = Sequential(Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1, generator: g), ReLU(),
                             ConvTranspose2d(4, 3, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), generator: g),
                             Sigmoid())
        _ = try roundTrip("conv-transpose", net, inputs: [ONNXInput("image", [2, 3, 10, 10])], batches: [2, 3],
                          make: { [Tensor.normal([$0, 3, 10, 10], generator: g)] }) { [net($0[0])] }
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try net.exportONNX(to: folder.appendingPathComponent("decoder.onnx"), inputs: [ONNXInput("image", [2, 3, 10, 10])])
        let back = try ONNXModel(contentsOf: folder.appendingPathComponent("decoder.onnx"))
        let x = Tensor.normal([4, 3, 10, 10], generator: g)
        #expect(maxAbsDifference(try back([x])[0], withoutGrad { net(x) }) <= 1e-6)
    }

    @Test func transformerLanguageModel() throws {
        let g = RandomGenerator(seed: 15)
        let lm = TransformerLanguageModel(vocabulary: 50, maxLength: 16, modelWidth: 32, heads: 2, feedForward: 64, layers: 2, generator: g)
        _ = try roundTrip("transformer-lm", lm, inputs: [ONNXInput("ids", [2, 9], dtype: .int64)], batches: [2, 3],
                          make: { batch in [Tensor(shape: [batch, 9], scalars: (0..<(9 * batch)).map { Int64(($0 * 11 + 3) % 50) })] }) { [lm($0[0])] }
    }

    @Test func visualQuestionAnswering() throws {
        let g = RandomGenerator(seed: 14)
        let model = try ReferenceModels.visualQuestionAnswering(vocabularySize: 40, answers: 13, imageSize: 64, generator: g)
        let names = model.inputs.map(\.name)
        _ = try roundTrip("vqa", model, inputs: model.onnxInputs(batchSize: 2), batches: [2, 3],
                          make: { batch in [Tensor.uniform([batch, 3, 64, 64], low: 0, high: 1, generator: g),
                                            Tensor(shape: [batch, 12], scalars: (0..<(12 * batch)).map { Int64(($0 * 7 + 1) % 40) })] }) {
            model(Dictionary(uniqueKeysWithValues: zip(names, $0)))
        }
    }
}
