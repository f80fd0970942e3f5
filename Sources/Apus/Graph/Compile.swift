import CApusKernels
import Foundation

/// A function traced once per input signature (shapes and dtypes) into an optimised graph
/// that is then run without autodiff bookkeeping, freeing every intermediate right after its
/// last reader (so the caching allocator reuses it at once).
///
/// What tracing means: Swift control flow and random numbers inside the function are evaluated
/// once, at trace time, and baked into the graph (a dropout mask drawn while tracing is reused
/// on every call); tensors the function reads but does not take as inputs (parameters) are
/// read live on every call, so in-place optimizer updates are seen. A gradient computed inside
/// the function (`gradients(of:wrt:)` on inputs marked `requiringGrad()`) is traced too.
///
/// ```swift
/// let step = compile { xs in [(xs[0].matmul(w)).relu().sum()] }
/// let y = step([x])[0]        // traces on the first call for this shape, then runs the graph
/// ```
public final class CompiledFunction {
    let body: ([Tensor]) -> [Tensor]
    private var plans: [[TensorSpec]: Plan] = [:]
    /// How many times the function was traced (one per new input signature).
    public private(set) var traceCount = 0

    struct Plan {
        let graph: Graph
        let lastUse: [Int: Int]
        let peakBytes: Int
    }

    init(_ body: @escaping ([Tensor]) -> [Tensor]) { self.body = body }

    /// The optimised graph for `specs` (tracing it if needed).
    public func graph(for specs: [TensorSpec]) throws -> Graph { try plan(for: specs).graph }

    /// Bytes of intermediates alive at once at the worst point of a run for `specs`.
    public func plannedPeakBytes(for specs: [TensorSpec]) throws -> Int { try plan(for: specs).peakBytes }

    private func plan(for specs: [TensorSpec]) throws -> Plan {
        if let plan = plans[specs] { return plan }
        let traced = try Graph.trace(specs) { body($0) }
        traceCount += 1
        let graph = traced.optimized()
        let plan = Plan(graph: graph, lastUse: graph.lastUses(), peakBytes: graph.plannedPeakBytes())
        plans[specs] = plan
        return plan
    }

    /// Runs the function's graph on `inputs`; a shape error stops the program with its message.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        do { return try run(inputs) } catch { fatalError("\(error)") }
    }

    /// Runs the function's graph on `inputs`, throwing a shape error found while tracing.
    public func run(_ inputs: [Tensor]) throws -> [Tensor] {
        let plan = try plan(for: inputs.map(\.spec))
        let graph = plan.graph
        var values = [Tensor?](repeating: nil, count: graph.values.count)
        for (id, input) in zip(graph.inputs, inputs) { values[id] = input.detached() }
        for (id, constant) in graph.constants { values[id] = constant }
        apus_flush_denormals()
        let profiling = OpProfiler.isEnabled
        for (index, node) in graph.nodes.enumerated() {
            let arguments = node.inputs.map { values[$0]! }
            let specs = node.outputs.map { graph.values[$0] }
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            let results = node.op.cpu(arguments, specs)
            if profiling { OpProfiler.record(node.op.name, since: start) }
            for (id, result) in zip(node.outputs, results) { values[id] = result }
            for id in node.inputs where plan.lastUse[id] == index && graph.constants[id] == nil { values[id] = nil }
        }
        return graph.outputs.map { values[$0]! }
    }
}

/// Compiles `body` (see `CompiledFunction`): MXNet's hybridize for any function of tensors.
public func compile(_ body: @escaping ([Tensor]) -> [Tensor]) -> CompiledFunction { CompiledFunction(body) }
