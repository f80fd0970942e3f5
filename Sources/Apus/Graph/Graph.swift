import CApusKernels

/// A recorded computation: values with shapes and dtypes, and nodes (op + inputs + outputs),
/// built by running ordinary Apus code on symbolic tensors (`Graph.trace`).
///
/// This is the *record* mode of the single dispatch point: every op runs only its shape rule
/// and appends a node. Concrete tensors met along the way (parameters, constants) become
/// `constant` values of the graph.
public final class Graph: CustomStringConvertible {
    /// A value of the graph: the output of a node, an input placeholder or a captured constant.
    public final class Value {
        /// The value's id: its index in `Graph.values`.
        public let id: Int
        /// The value's shape and dtype.
        public let spec: TensorSpec
        init(id: Int, spec: TensorSpec) {
            self.id = id
            self.spec = spec
        }
    }

    /// One recorded op application.
    public struct Node {
        /// The op applied.
        public let op: any Operation
        /// Ids of the values the op reads, in order.
        public let inputs: [Int]
        /// Ids of the values the op produces, in order.
        public let outputs: [Int]
    }

    /// Specs of every value, indexed by value id.
    public internal(set) var values: [TensorSpec] = []
    /// Value ids of the placeholders, in the order given to `trace`.
    public internal(set) var inputs: [Int] = []
    /// Value ids returned by the traced function.
    public internal(set) var outputs: [Int] = []
    /// Concrete tensors captured while tracing, by value id.
    public internal(set) var constants: [Int: Tensor] = [:]
    /// Recorded nodes in execution order.
    public internal(set) var nodes: [Node] = []
    /// Constants made while tracing (literals such as a backward seed of ones): passes may fold
    /// ops on them. Other constants are captured state (parameters), read live on every run.
    public internal(set) var literals: Set<Int> = []
    let errorSink = ErrorSink()
    private var constantIDs: [ObjectIdentifier: [(Tensor, Int)]] = [:]
    /// Storages created after this serial number were made by the traced code.
    private var firstTracedSerial = Int.max

    init() {}

    /// A copy that passes can rewrite without touching this graph.
    func copy() -> Graph {
        let result = Graph()
        (result.values, result.inputs, result.outputs, result.constants, result.nodes, result.literals) =
            (values, inputs, outputs, constants, nodes, literals)
        return result
    }

    func newValue(_ spec: TensorSpec) -> Value {
        values.append(spec)
        return Value(id: values.count - 1, spec: spec)
    }

    /// A symbolic tensor of `spec` for this graph.
    func placeholder(_ spec: TensorSpec) -> Tensor {
        let value = newValue(spec)
        inputs.append(value.id)
        return symbolic(value)
    }

    /// A symbolic tensor for `value`: contiguous, or laid out as `view` (a view op's result).
    private func symbolic(_ value: Value, layout view: Tensor? = nil) -> Tensor {
        var t = Tensor(storage: Graph.noData, shape: value.spec.shape,
                       strides: view?.strides ?? Tensor.contiguousStrides(value.spec.shape), offset: view?.offset ?? 0,
                       dtype: value.spec.dtype)
        t.symbol = value
        return t
    }

    private static let noData = Storage(byteCount: 0)

    /// The value id of `tensor`, capturing it as a constant when it is concrete.
    private func valueID(_ tensor: Tensor) -> Int {
        if let symbol = tensor.symbol { return symbol.id }
        let key = ObjectIdentifier(tensor.storage)
        if let known = constantIDs[key]?.first(where: { $0.0.shape == tensor.shape && $0.0.strides == tensor.strides && $0.0.offset == tensor.offset }) {
            return known.1
        }
        let value = newValue(tensor.spec)
        constants[value.id] = tensor
        if tensor.storage.serial > firstTracedSerial { literals.insert(value.id) }
        constantIDs[key, default: []].append((tensor, value.id))
        return value.id
    }

    /// Appends a node for `op` and returns symbolic outputs of `specs`.
    ///
    /// A view op's symbolic outputs get the strides the view will have when the graph runs
    /// (computed from the symbolic inputs' layouts, no data touched), so code that looks at
    /// layouts while tracing (a vjp choosing a transposed GEMM, `contiguous()`) decides as it
    /// would eagerly.
    func record(_ op: any Operation, _ inputs: [Tensor], _ specs: [TensorSpec]) -> [Tensor] {
        let inputIDs = inputs.map(valueID)
        let outputValues = specs.map(newValue)
        nodes.append(Node(op: op, inputs: inputIDs, outputs: outputValues.map(\.id)))
        let viewsOnly = op.returnsView && inputs.allSatisfy { $0.symbol != nil }
            && (op as? ReshapeOp).map { _ in ReshapeOp.viewStrides(inputs[0].shape, inputs[0].strides, specs[0].shape) != nil } ?? true
        let layouts = viewsOnly ? op.cpu(inputs, specs) : []
        return outputValues.enumerated().map { i, value in symbolic(value, layout: i < layouts.count ? layouts[i] : nil) }
    }

    /// Records `body` applied to placeholders of `specs`.
    ///
    /// Throws the first `ShapeError` any op raised, so a model built from outside input (a
    /// configuration file) is checked before it runs.
    ///
    /// ```swift
    /// let graph = try Graph.trace([TensorSpec([32, 784])]) { x in [relu(x.matmul(w))] }
    /// graph.nodes.map(\.op.name)   // ["matmul", "relu"]
    /// ```
    public static func trace(_ specs: [TensorSpec], _ body: ([Tensor]) throws -> [Tensor]) throws -> Graph {
        let graph = Graph()
        graph.firstTracedSerial = Int(apus_next_serial())
        var state = DispatchState.current
        state.recorder = graph
        state.errorSink = nil
        let placeholders = specs.map(graph.placeholder)
        let results = try DispatchState.$current.withValue(state) { try body(placeholders) }
        if let error = graph.errorSink.error { throw error }
        graph.outputs = results.map(graph.valueID)
        return graph
    }

    /// Whether code is running under `Graph.trace` (symbolic tensors: no data to read or keep).
    public static var isTracing: Bool { DispatchState.current.recorder != nil }

    /// Shapes and dtypes of the outputs.
    public var outputSpecs: [TensorSpec] { outputs.map { values[$0] } }

    /// One line per node: `%3 = matmul(%0, %1) : [32, 10] float32`.
    public var description: String {
        var lines = inputs.map { "%\($0) = input : \(values[$0])" }
        lines += constants.keys.sorted().map { "%\($0) = constant : \(values[$0])" }
        for node in nodes {
            let args = node.inputs.map { "%\($0)" }.joined(separator: ", ")
            let results = node.outputs.map { "%\($0)" }.joined(separator: ", ")
            let types = node.outputs.map { "\(values[$0])" }.joined(separator: ", ")
            lines.append(node.outputs.isEmpty ? "\(node.op.name)(\(args))" : "\(results) = \(node.op.name)(\(args)) : \(types)")
        }
        lines.append("return " + outputs.map { "%\($0)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
