import Apus
import Foundation

/// One node of an imported ONNX graph with its attributes, read with checks: a missing or
/// ill-typed attribute throws an `ONNXError` naming the node, never traps.
struct ONNXNode {
    let name: String, opType: String
    /// Input value names ("" for an omitted optional input) and output value names.
    let inputs: [String], outputs: [String]
    let attributes: [String: Onnx_AttributeProto]

    init(_ proto: Onnx_NodeProto, index: Int) {
        name = proto.name.isEmpty ? "#\(index)" : proto.name
        (opType, inputs, outputs) = (proto.opType, proto.input, proto.output)
        var attributes: [String: Onnx_AttributeProto] = [:]
        for a in proto.attribute { attributes[a.name] = a }
        self.attributes = attributes
    }

    /// "'conv1' (Conv)", for messages.
    var label: String { "'\(name)' (\(opType))" }

    func error(_ message: String) -> ONNXError { ONNXError(.malformed, "ONNX import: node \(label): \(message)") }
    func unsupported(_ message: String) -> ONNXError { ONNXError(.unsupported, "ONNX import: node \(label): \(message)") }

    func int(_ key: String, _ fallback: Int) throws -> Int {
        guard let a = attributes[key] else { return fallback }
        guard a.type == .int || (a.type == .undefined && a.hasI) else { throw error("attribute \(key) must be an int") }
        guard abs(a.i) < 1 << 40 else { throw error("attribute \(key) = \(a.i) is out of range") }
        return Int(a.i)
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let a = attributes[key] else { return nil }
        guard a.type == .ints || (a.type == .undefined && !a.ints.isEmpty) else { throw error("attribute \(key) must be a list of ints") }
        guard a.ints.allSatisfy({ abs($0) < 1 << 40 }) else { throw error("attribute \(key) = \(a.ints) is out of range") }
        return a.ints.map(Int.init)
    }

    func float(_ key: String, _ fallback: Double) throws -> Double {
        guard let a = attributes[key] else { return fallback }
        guard a.type == .float || (a.type == .undefined && a.hasF) else { throw error("attribute \(key) must be a float") }
        return Double(a.f)
    }

    func string(_ key: String, _ fallback: String) throws -> String {
        guard let a = attributes[key] else { return fallback }
        guard a.type == .string || (a.type == .undefined && a.hasS) else { throw error("attribute \(key) must be a string") }
        return String(decoding: a.s, as: UTF8.self)
    }

    /// Input `k` when present and not the empty name.
    func hasInput(_ k: Int) -> Bool { k < inputs.count && !inputs[k].isEmpty }
}

/// The values of a running imported graph, by name.
struct ONNXValues {
    var tensors: [String: Tensor] = [:]

    /// Input `k` of `node` (which must be present).
    func input(_ node: ONNXNode, _ k: Int) throws -> Tensor {
        guard node.hasInput(k) else { throw node.error("input \(k) is required") }
        guard let t = tensors[node.inputs[k]] else { throw node.error("input '\(node.inputs[k])' has no value") }
        return t
    }

    func optional(_ node: ONNXNode, _ k: Int) throws -> Tensor? { node.hasInput(k) ? try input(node, k) : nil }

    /// Input `k` as integers known when the model is loaded (a constant, initializer or shape).
    func ints(_ node: ONNXNode, _ k: Int) throws -> [Int] {
        let t = try input(node, k)
        guard !t.isSymbolic else {
            throw node.unsupported("input \(k) ('\(node.inputs[k])') is computed at run time; Apus needs it constant (export with constant folding)")
        }
        guard t.dtype == .int64 || t.dtype == .int32, t.rank <= 1, t.count <= 1 << 16 else {
            throw node.error("input \(k) must be a small 1-D integer tensor, got \(t.spec)")
        }
        return t.scalars(as: Int64.self).map { Int(clamping: $0) }
    }

    /// Input `k` as floating-point scalar known when the model is loaded.
    func scalar(_ node: ONNXNode, _ k: Int) throws -> Double? {
        guard let t = try optional(node, k) else { return nil }
        guard !t.isSymbolic, t.count == 1 else { throw node.unsupported("input \(k) must be a constant scalar") }
        return t.scalars(as: Double.self)[0]
    }
}

/// The element count of `shape`, or nil when a dim is negative or the count exceeds 2³⁴ (so
/// a hostile file cannot overflow or exhaust memory before Apus's shape rules see it).
func checkedCount(_ shape: [Int]) -> Int? {
    var count = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow, product <= 1 << 34 else { return nil }
        count = product
    }
    return count
}
