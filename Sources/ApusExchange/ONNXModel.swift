import Apus
import ApusNN
import Foundation
import SwiftProtobuf

/// A trainable ONNX initializer: `@Parameter value` (its module path is `weights.<name>.value`).
public final class ONNXWeight: Module {
    /// The initializer's current value.
    @Parameter public var value: Tensor
    init(_ value: Tensor) {
        self.value = value
        super.init()
    }
}

/// A saved but untrained ONNX initializer (BatchNormalization's running mean and variance):
/// `@Buffer value` (its module path is `statistics.<name>.value`).
public final class ONNXStatistic: Module {
    /// The initializer's current value.
    @Buffer public var value: Tensor
    init(_ value: Tensor) {
        self.value = value
        super.init()
    }
}

/// An ONNX model imported as an Apus module: each node runs as Apus ops (docs/onnx.md lists
/// the supported ones), floating-point initializers are parameters — so the model fine-tunes
/// with any optimizer — except BatchNormalization's statistics, which are buffers.
///
/// Loading checks everything first and throws one `ONNXError`: every unsupported node (name
/// and op type) at once, a malformed file (bad protobuf, a value nothing defines, a bad
/// attribute), or a shape error met by running the graph once on zeros of its input shapes.
///
/// ```swift
/// let model = try ONNXModel(contentsOf: URL(fileURLWithPath: "mlp.onnx"))
/// let logits = try model([x])[0]                 // inputs in the graph's order
/// let loss = crossEntropy(logits: logits, labels: y)
/// loss.backward()                                  // gradients reach model.parameters()
/// ```
public final class ONNXModel: Module {
    /// The graph inputs (initializers excluded), in order, with their declared shapes (nil:
    /// a dynamic dim) and dtypes.
    public let inputNames: [String], inputShapes: [[Int?]], inputDTypes: [DType]
    /// The graph outputs, in order.
    public let outputNames: [String]
    /// The trainable initializers by ONNX name.
    public let weights: [String: ONNXWeight]
    /// BatchNormalization statistics by ONNX name.
    public let statistics: [String: ONNXStatistic]
    /// The default-domain opset the model imports.
    public let opsetVersion: Int
    let constants: [String: Tensor]
    let nodes: [ONNXNode]

    /// Reads and imports the ONNX file at `url`.
    public convenience init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ONNXError(.io, "ONNX import: cannot read \(url.path)") }
        try self.init(serializedData: data)
    }

    /// Imports an ONNX model from its protobuf bytes.
    public convenience init(serializedData data: Data) throws {
        let proto: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            proto = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError(.malformed, "ONNX import: not a valid ONNX protobuf (\(error))")
        }
        try self.init(proto: proto)
    }

    /// Imports a decoded ONNX model.
    public init(proto: Onnx_ModelProto) throws {
        guard proto.hasGraph, !proto.graph.output.isEmpty else { throw ONNXError(.malformed, "ONNX import: the model has no graph (or no outputs)") }
        guard let opset = proto.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            throw ONNXError(.malformed, "ONNX import: the model imports no default-domain opset")
        }
        guard opset.version >= 13 else {
            throw ONNXError(.unsupported, "ONNX import: opset \(opset.version); Apus imports opset 13 and later (convert the model with onnx.version_converter)")
        }
        opsetVersion = Int(clamping: opset.version)
        let graph = proto.graph
        let nodes = graph.node.enumerated().map { ONNXNode($1, index: $0) }
        let unsupported = zip(graph.node, nodes).filter { proto, node in
            !(proto.domain.isEmpty || proto.domain == "ai.onnx") || !ONNXImportOps.supported.contains(node.opType)
        }.map(\.1)
        if !unsupported.isEmpty {
            throw ONNXError(.unsupported, "ONNX import: \(unsupported.count) unsupported node(s): "
                            + unsupported.map { "'\($0.name)' (\($0.opType))" }.joined(separator: ", "))
        }
        // Initializers: floats used in a trainable slot are parameters, BatchNorm statistics buffers.
        var initial: [String: Tensor] = [:]
        for t in graph.initializer {
            guard !t.name.isEmpty, initial[t.name] == nil else { throw ONNXError(.malformed, "ONNX import: an initializer is unnamed or named twice ('\(t.name)')") }
            initial[t.name] = try Tensor(onnx: t)
        }
        var trainableUse = Set<String>(), statisticUse = Set<String>()
        for node in nodes {
            for (k, name) in node.inputs.enumerated() where !name.isEmpty {
                switch (node.opType, k) {
                case ("BatchNormalization", 3), ("BatchNormalization", 4): statisticUse.insert(name)
                case ("Shape", _), ("Pow", 1): continue   // read for its shape, or an exponent
                case (let op, let k) where k >= 1 && ["Reshape", "Expand", "Slice", "Unsqueeze", "Squeeze", "Split", "ReduceSum", "ReduceMean"].contains(op):
                    continue   // shapes, axes, starts/ends/steps, split sizes
                default: trainableUse.insert(name)
                }
            }
        }
        var weights: [String: ONNXWeight] = [:], statistics: [String: ONNXStatistic] = [:], constants: [String: Tensor] = [:]
        for (name, t) in initial {
            if t.dtype.isFloatingPoint && trainableUse.contains(name) {
                weights[name] = ONNXWeight(t)
            } else if t.dtype.isFloatingPoint && statisticUse.contains(name) {
                statistics[name] = ONNXStatistic(t)
            } else {
                constants[name] = t
            }
        }
        // Graph inputs (an initializer listed as an input is not one).
        var names: [String] = [], shapes: [[Int?]] = [], dtypes: [DType] = []
        for input in graph.input where initial[input.name] == nil {
            guard input.type.tensorType.hasElemType, let dtype = ONNXElementType.dtype(input.type.tensorType.elemType) else {
                throw ONNXError(.unsupported, "ONNX import: input '\(input.name)' is not a tensor of a type Apus has")
            }
            guard input.type.tensorType.hasShape else { throw ONNXError(.malformed, "ONNX import: input '\(input.name)' has no shape") }
            names.append(input.name)
            dtypes.append(dtype)
            shapes.append(input.type.tensorType.shape.dim.map { dim -> Int? in
                if case .dimValue(let size)? = dim.value, size >= 0, size < 1 << 31 { return Int(size) }
                return nil
            })
        }
        // Every value read is defined before, once.
        var defined = Set(names).union(initial.keys)
        for node in nodes {
            if let missing = node.inputs.first(where: { !$0.isEmpty && !defined.contains($0) }) {
                throw ONNXError(.malformed, "ONNX import: node \(node.label) reads '\(missing)', which no input, initializer or earlier node defines")
            }
            for output in node.outputs where !output.isEmpty {
                guard defined.insert(output).inserted else { throw ONNXError(.malformed, "ONNX import: value '\(output)' is defined twice") }
            }
        }
        if let missing = graph.output.first(where: { !defined.contains($0.name) }) {
            throw ONNXError(.malformed, "ONNX import: output '\(missing.name)' is not computed by the graph")
        }
        (inputNames, inputShapes, inputDTypes, outputNames) = (names, shapes, dtypes, graph.output.map(\.name))
        (self.weights, self.statistics, self.constants, self.nodes) = (weights, statistics, constants, nodes)
        super.init()
        eval()
        // One run on zeros of the declared shapes (dynamic dims 1) finds shape errors now.
        for (name, shape) in zip(names, shapes) where checkedCount(shape.map { $0 ?? 1 }).map({ $0 > 1 << 28 }) ?? true {
            throw ONNXError(.unsupported, "ONNX import: input '\(name)' of shape \(shape) is too large to check")
        }
        let trial = zip(shapes, dtypes).map { Tensor.zeros($0.map { $0 ?? 1 }, dtype: $1) }
        _ = try withoutGrad { try self.run(trial) }
    }

    override public var typeDescription: String { "ONNXModel(\(nodes.count) nodes, opset \(opsetVersion))" }

    /// Runs the graph on `inputs` (in `inputNames` order); returns the outputs in `outputNames`
    /// order. Throws `ONNXError` for inputs of the wrong count, dtype or shape, or an op's shape error.
    public func callAsFunction(_ inputs: [Tensor]) throws -> [Tensor] { try run(inputs) }

    /// Runs the graph on inputs given by name.
    public func callAsFunction(_ inputs: [String: Tensor]) throws -> [Tensor] {
        try run(try inputNames.map { name in
            guard let t = inputs[name] else { throw ONNXError(.invalidInput, "ONNX model: input '\(name)' is missing (have \(inputs.keys.sorted()))") }
            return t
        })
    }

    func run(_ inputs: [Tensor]) throws -> [Tensor] {
        guard inputs.count == inputNames.count else {
            throw ONNXError(.invalidInput, "ONNX model: \(inputNames.count) inputs (\(inputNames.joined(separator: ", "))), got \(inputs.count)")
        }
        var values = ONNXValues()
        values.tensors = constants
        for (name, w) in weights { values.tensors[name] = w.value }
        for (name, s) in statistics { values.tensors[name] = s.value }
        for (k, t) in inputs.enumerated() {
            let shape = inputShapes[k]
            guard t.dtype == inputDTypes[k], t.rank == shape.count, zip(t.shape, shape).allSatisfy({ $1 == nil || $0 == $1 }) else {
                throw ONNXError(.invalidInput, "ONNX model: input '\(inputNames[k])' must be \(shape.map { $0.map(String.init) ?? "?" }) "
                                + "\(inputDTypes[k]), got \(t.shape) \(t.dtype)")
            }
            values.tensors[inputNames[k]] = t
        }
        for node in nodes {
            let outputs: [Tensor?]
            do {
                outputs = try Tensor.checking { try ONNXImportOps.run(node, values) }
            } catch let error as ONNXError {
                throw error
            } catch {
                throw ONNXError(.invalidInput, "ONNX model: node \(node.label): \(error)")
            }
            for (name, t) in zip(node.outputs, outputs) where !name.isEmpty {
                values.tensors[name] = t
            }
        }
        return try outputNames.map { name in
            guard let t = values.tensors[name] else { throw ONNXError(.unsupported, "ONNX model: output '\(name)' is not produced") }
            return t
        }
    }
}
