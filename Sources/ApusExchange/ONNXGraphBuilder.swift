import Apus
import Foundation

/// One ONNX attribute value, for building nodes: `.int("axis", 1)`, `.ints("perm", [0, 2, 1])`.
enum ONNXAttribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Double)
    case string(String, String)

    var proto: Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        switch self {
        case let .int(name, value): (a.name, a.type, a.i) = (name, .int, Int64(value))
        case let .ints(name, values): (a.name, a.type, a.ints) = (name, .ints, values.map(Int64.init))
        case let .float(name, value): (a.name, a.type, a.f) = (name, .float, Float(value))
        case let .string(name, value): (a.name, a.type, a.s) = (name, .string, Data(value.utf8))
        }
        return a
    }
}

/// Builds an ONNX `GraphProto` node by node with unique value and node names: the exporter's
/// scratch pad. Names are ONNX value names (strings); initializers hold raw data.
struct ONNXGraphBuilder {
    private(set) var graph = Onnx_GraphProto()
    private var used: Set<String> = []
    private var scalarCache: [String: String] = [:]

    /// `base`, or `base_2`, `base_3`, … when taken; reserves it.
    mutating func unique(_ base: String) -> String {
        var name = base, k = 2
        while used.contains(name) {
            name = "\(base)_\(k)"
            k += 1
        }
        used.insert(name)
        return name
    }

    /// Reserves `name` exactly (graph inputs and parameter paths), failing on a clash.
    mutating func reserve(_ name: String) throws {
        guard used.insert(name).inserted else { throw ONNXError(.invalidInput, "ONNX export: the name '\(name)' is used twice") }
    }

    /// Adds `tensor` as an initializer named (uniquely) after `name`; returns the name used.
    @discardableResult
    mutating func initializer(_ tensor: Tensor, name: String, exact: Bool = false) throws -> String {
        let final = exact ? name : unique(name)
        if exact { try reserve(name) }
        graph.initializer.append(tensor.onnxProto(name: final))
        return final
    }

    /// A 1-D int64 initializer (shapes, axes, pads), shared between nodes asking for the same values.
    mutating func int64s(_ values: [Int], scope: String) throws -> String {
        let key = "i64:" + values.map(String.init).joined(separator: ",")
        if let known = scalarCache[key] { return known }
        let name = try initializer(Tensor(shape: [values.count], scalars: values.map(Int64.init)), name: "\(scope)/const")
        scalarCache[key] = name
        return name
    }

    /// A scalar initializer of `dtype` holding `value`, shared between nodes asking for the same one.
    mutating func scalar(_ value: Double, _ dtype: DType) throws -> String {
        let key = "\(dtype):\(value.bitPattern)"
        if let known = scalarCache[key] { return known }
        let name = try initializer(Tensor.full([], value, dtype: dtype), name: "const/\(dtype)")
        scalarCache[key] = name
        return name
    }

    /// Appends a node `op` reading `inputs` ("" for an omitted optional input) and returns its
    /// `outputs` fresh value names made from `scope`.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], scope: String, outputs: Int = 1,
                       _ attributes: [ONNXAttribute] = [], named: [String]? = nil) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = unique("\(scope)/\(op)")
        node.input = inputs
        node.output = named ?? (0..<outputs).map { _ in unique("\(scope)/\(op.lowercased())") }
        node.attribute = attributes.map(\.proto)
        graph.node.append(node)
        return node.output
    }

    /// As `node`, returning its single output.
    mutating func node1(_ op: String, _ inputs: [String], scope: String, _ attributes: [ONNXAttribute] = []) -> String {
        node(op, inputs, scope: scope, outputs: 1, attributes)[0]
    }

    /// Declares a graph input or output named `name` of `dtype` whose dims are fixed except
    /// those listed in `dynamic` (named by `dimParam`).
    static func valueInfo(_ name: String, _ spec: TensorSpec, dynamic: Set<Int>, dimParam: String = "batch") -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = ONNXElementType.code(spec.dtype)
        var shape = Onnx_TensorShapeProto()
        shape.dim = spec.shape.enumerated().map { axis, size in
            var d = Onnx_TensorShapeProto.Dimension()
            if dynamic.contains(axis) { d.dimParam = dimParam } else { d.dimValue = Int64(size) }
            return d
        }
        tensorType.shape = shape
        info.type.tensorType = tensorType
        return info
    }

    mutating func appendInitializer(_ tensor: Onnx_TensorProto) { graph.initializer.append(tensor) }
    mutating func addInput(_ info: Onnx_ValueInfoProto) { graph.input.append(info) }
    mutating func addOutput(_ info: Onnx_ValueInfoProto) { graph.output.append(info) }
    mutating func setName(_ name: String) { graph.name = name }
}
