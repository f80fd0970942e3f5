import Apus
import ApusNN
import ApusTrain
import Foundation

/// One input of a model to export: its ONNX name, an example shape (with a batch size), dtype,
/// and which axis is the batch (`dim_param: "batch"` in the file; nil keeps every axis fixed).
///
/// ```swift
/// ONNXInput("image", [1, 3, 32, 32])                       // [batch, 3, 32, 32] float32
/// ONNXInput("ids", [35, 4], dtype: .int64, batchAxis: 1)   // [35, batch] (sequence first)
/// ```
public struct ONNXInput: Sendable {
    /// The graph input's name.
    public var name: String
    /// An example shape, including the batch axis at its example size.
    public var shape: [Int]
    /// The element type.
    public var dtype: DType
    /// The axis that is the batch dimension, or nil for an input of fixed shape.
    public var batchAxis: Int?

    /// An input named `name` shaped like `shape` (the batch axis at any example size).
    public init(_ name: String, _ shape: [Int], dtype: DType = .float32, batchAxis: Int? = 0) {
        (self.name, self.shape, self.dtype, self.batchAxis) = (name, shape, dtype, batchAxis)
    }

    /// The spec with the batch axis grown by `extra` (to see which dims follow the batch).
    func spec(batchGrownBy extra: Int) -> TensorSpec {
        var shape = self.shape
        if let axis = batchAxis { shape[axis] += extra }
        return TensorSpec(shape, dtype)
    }
}

/// ONNX export of Apus models: the inference graph traced by graph mode (`Graph.trace`), each
/// recorded op mapped to ONNX nodes (see docs/onnx.md for the table).
///
/// The model runs in evaluation mode while traced (BatchNorm on running statistics, dropout
/// off) and its modes are restored afterwards. Parameters and buffers become initializers
/// named by their module paths (`blocks.0.conv1.weight`) holding raw little-endian data; node
/// and value names start with the module path of the layer they belong to. The batch axis of
/// every input (and of each output that follows it) is `dim_param: "batch"`: the model is
/// traced at two batch sizes and the dimensions that change are the dynamic ones.
public enum ONNXExport {
    /// The ONNX operator set the exported files import (the default domain).
    public static let opsetVersion: Int64 = 17
    /// The ONNX IR version written (IR 8 goes with opset 17 and later).
    public static let irVersion: Int64 = 8

    /// The ONNX model of `forward` (the module's inference function of `inputs.count` tensors)
    /// over `module`'s parameters and buffers. Outputs are named `outputNames` (default
    /// "output", "output_1", …). Throws `ONNXError`: `.unsupported` naming every op without an
    /// ONNX mapping, `.batchDependent` when a traced shape cannot follow a dynamic batch,
    /// `.invalidInput` when tracing fails (a shape error).
    public static func model(of module: Module, inputs: [ONNXInput], outputNames: [String]? = nil, graphName: String = "apus",
                             forward: @escaping ([Tensor]) -> [Tensor]) throws -> Onnx_ModelProto {
        for input in inputs {
            if let axis = input.batchAxis, !(0..<input.shape.count).contains(axis) {
                throw ONNXError(.invalidInput, "ONNX export: input '\(input.name)' has batch axis \(axis) but rank \(input.shape.count)")
            }
        }
        let modes = module.namedModules().map { ($0.1, $0.1.isTraining) }
        module.eval()
        defer { for (m, training) in modes { m.train(training) } }
        let parameters = module.namedParameters(), buffers = module.namedBuffers()
        func trace(_ extra: Int) throws -> Graph {
            let specs = inputs.map { $0.spec(batchGrownBy: extra) } + parameters.map(\.1.value.spec) + buffers.map(\.1.value.spec)
            do {
                return try withoutGrad {
                    try Graph.trace(specs) { t in
                        let data = Array(t[0..<inputs.count])
                        let p = Array(t[inputs.count..<(inputs.count + parameters.count)]), b = Array(t[(inputs.count + parameters.count)...])
                        return Parameter.substituting(parameters.map(\.1), with: p) {
                            Buffer.substituting(buffers.map(\.1), with: b) { forward(data) }
                        }
                    }
                }
            } catch let error as ONNXError {
                throw error
            } catch {
                throw ONNXError(.invalidInput, "ONNX export: tracing the model failed: \(error)")
            }
        }
        // Traced at batch sizes of 2 or more (a batch of 1 can skip copies: a transposed
        // [T, 1, I] is already contiguous), then at one more.
        let grow = inputs.contains(where: { input in input.batchAxis.map { input.shape[$0] < 2 } ?? false }) ? 1 : 0
        let first = try trace(grow)
        let second = inputs.contains(where: { $0.batchAxis != nil }) ? try trace(grow + 1) : first
        let batched = inputs.first { $0.batchAxis != nil }
        let size = batched.map { $0.shape[$0.batchAxis!] + grow } ?? 0
        let names = outputNames ?? first.outputs.indices.map { $0 == 0 ? "output" : "output_\($0)" }
        guard names.count == first.outputs.count else {
            throw ONNXError(.invalidInput, "ONNX export: \(names.count) output names for \(first.outputs.count) outputs")
        }
        var translator = try GraphTranslator(first, second, inputs: inputs, batchSizes: (size, size + 1),
                                             slots: parameters.map { ($0.0, $0.1.value) } + buffers.map { ($0.0, $0.1.value) })
        try translator.translate(outputNames: names)
        var builder = translator.builder
        builder.setName(graphName)
        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "Apus"
        model.producerVersion = "0.1"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        model.opsetImport = [opset]
        model.graph = builder.graph
        return model
    }

    /// The protobuf bytes of `model` (what an .onnx file holds).
    public static func data(_ model: Onnx_ModelProto) throws -> Data {
        do { return try model.serializedData() } catch { throw ONNXError(.io, "ONNX export: cannot encode the model: \(error)") }
    }

    /// Writes `model` to `url` (a temporary file beside it, then renamed over it).
    public static func write(_ model: Onnx_ModelProto, to url: URL) throws {
        let bytes = try data(model)
        do { try AtomicFile.write(bytes, to: url) } catch { throw ONNXError(.io, "ONNX export: \(error)") }
    }
}

extension Module {
    /// Exports this module's inference graph, `forward` applied to `inputs`, to an ONNX file
    /// at `url` (opset 17, dynamic batch). See `ONNXExport.model(of:inputs:outputNames:graphName:forward:)`.
    ///
    /// ```swift
    /// let lm = LSTMLanguageModel(vocabulary: 100, width: 32, layers: 2)
    /// try lm.exportONNX(to: url, inputs: [ONNXInput("ids", [35, 4], dtype: .int64, batchAxis: 1)]) { [lm($0[0])] }
    /// ```
    public func exportONNX(to url: URL, inputs: [ONNXInput], outputNames: [String]? = nil,
                           forward: @escaping ([Tensor]) -> [Tensor]) throws {
        let model = try ONNXExport.model(of: self, inputs: inputs, outputNames: outputNames, graphName: typeDescription, forward: forward)
        try ONNXExport.write(model, to: url)
    }
}

extension UnaryLayer {
    /// Exports this one-tensor layer (its `forward`) to an ONNX file at `url`; `inputs` holds
    /// exactly one input. `Sequential(Linear(4, 8), ReLU()).exportONNX(to: url, inputs: [ONNXInput("x", [1, 4])])`.
    public func exportONNX(to url: URL, inputs: [ONNXInput]) throws {
        guard inputs.count == 1 else { throw ONNXError(.invalidInput, "ONNX export: \(typeDescription) takes one input, got \(inputs.count)") }
        try exportONNX(to: url, inputs: inputs, outputNames: nil) { [self.forward($0[0])] }
    }
}

extension Model {
    /// The model's inputs as ONNX inputs: each named as in the model, [batch] + its per-example
    /// shape, with the batch axis dynamic.
    public func onnxInputs(batchSize: Int = 1) -> [ONNXInput] {
        inputs.map { ONNXInput($0.name, [batchSize] + $0.shape, dtype: $0.dtype) }
    }

    /// Exports this functional model's inference graph to an ONNX file at `url`: inputs named as
    /// the model's, outputs "output", "output_1", …, a dynamic batch axis (traced at
    /// `batchSize` and one more).
    public func exportONNX(to url: URL, batchSize: Int = 1) throws {
        let names = inputs.map(\.name)
        try exportONNX(to: url, inputs: onnxInputs(batchSize: batchSize), outputNames: nil) { tensors in
            self(Dictionary(uniqueKeysWithValues: zip(names, tensors)))
        }
    }
}
