import CApusKernels
import Foundation

/// A function traced once per input signature (shapes and dtypes) into an optimised,
/// memory-planned graph (`Program`) that then runs without autodiff bookkeeping.
///
/// What tracing means: Swift control flow and random numbers drawn in Swift inside the function
/// are evaluated once, at trace time, and baked into the graph (a dropout mask comes from an op,
/// `DropoutMaskOp`, which draws anew on every run); tensors the function reads but does not
/// take as inputs (parameters, optimizer state) are captured and read live on every call, so
/// in-place updates are seen.
/// A gradient computed inside the function (`gradients(of:wrt:)` on inputs or parameters that
/// require one) is traced too, and so is an optimizer update (`Optimizer.stepInGraph`).
///
/// ```swift
/// let step = compile { xs in [(xs[0].matmul(w)).relu().sum()] }
/// let y = step([x])[0]        // traces on the first call for this shape, then runs the graph
/// ```
public final class CompiledFunction {
    let body: ([Tensor]) -> [Tensor]
    private var programs: [[TensorSpec]: Program] = [:]
    private let lock = NSLock()
    /// How many times the function was traced (one per new input signature).
    public private(set) var traceCount = 0

    init(_ body: @escaping ([Tensor]) -> [Tensor]) { self.body = body }

    /// The optimised graph for `specs` (tracing it if needed).
    public func graph(for specs: [TensorSpec]) throws -> Graph { try program(for: specs).graph }

    /// Bytes of the arena that holds every planned intermediate of a run for `specs`.
    public func arenaBytes(for specs: [TensorSpec]) throws -> Int { try program(for: specs).plan.arenaBytes }

    private func program(for specs: [TensorSpec]) throws -> Program {
        lock.lock()
        defer { lock.unlock() }
        if let program = programs[specs] { return program }
        let traced = try Graph.trace(specs) { body($0) }
        traceCount += 1
        let program = Program(traced.optimized())
        programs[specs] = program
        return program
    }

    /// Runs the function's graph on `inputs`. An error is reported as eager ops report theirs
    /// (thrown by an enclosing `Tensor.checking`, else it stops the program): a shape error
    /// found while tracing by running the function eagerly, which meets it again; an index
    /// out of range met while running by placeholders for the outputs.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        let program: Program
        do { program = try self.program(for: inputs.map(\.spec)) } catch { return body(inputs) }
        return program.reportingRun(inputs)
    }

    /// Runs the function's graph on `inputs`, throwing a shape error found while tracing or an
    /// `IndexError` met while running (the run stops at the op that met it).
    public func run(_ inputs: [Tensor]) throws -> [Tensor] {
        try program(for: inputs.map(\.spec)).run(inputs)
    }
}

/// Compiles `body` (see `CompiledFunction`): MXNet's hybridize for any function of tensors.
public func compile(_ body: @escaping ([Tensor]) -> [Tensor]) -> CompiledFunction { CompiledFunction(body) }

/// An optimised graph with its memory plan and arena, ready to run: each node's outputs are
/// placed at their planned arena offsets (no allocation), and every value is dropped right
/// after its last reader. Runs of one program take turns (they share the arena); each input
/// signature of a function has its own program and arena.
final class Program {
    let graph: Graph
    let plan: MemoryPlan
    private let arena: UnsafeMutableRawPointer
    private let lock = NSLock()
    /// Per node: (allocation bytes, arena address) of each output placed in the arena.
    private let placements: [[(bytes: Int64, address: UnsafeMutableRawPointer?)]]
    /// Per node: (input position, placement index) of an output computed in place.
    private let inPlace: [(input: Int, placement: Int)?]
    /// Per node: values whose last reader it is.
    private let releases: [[Int]]

    init(_ graph: Graph) {
        let plan = MemoryPlan(graph)
        let arena = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(plan.arenaBytes, 1), alignment: MemoryPlan.alignment)
        (self.graph, self.plan, self.arena) = (graph, plan, arena)
        var placements: [[(Int64, UnsafeMutableRawPointer?)]] = []
        var inPlace: [(Int, Int)?] = []
        for node in graph.nodes {
            let placed = node.outputs.compactMap { v in plan.offsets[v].map { (v, $0) } }
            placements.append(placed.map { (Int64(MemoryPlan.allocationBytes(graph.values[$0.0])), arena + $0.1) })
            inPlace.append(placed.enumerated().lazy.compactMap { index, entry in
                plan.inPlace[entry.0].flatMap { u in node.inputs.firstIndex(of: u).map { ($0, index) } }
            }.first)
        }
        (self.placements, self.inPlace) = (placements, inPlace)
        let external = Set(graph.inputs).union(graph.constants.keys)
        var releases = [[Int]](repeating: [], count: graph.nodes.count)
        for (v, i) in graph.lastUses() where i != Int.max && !external.contains(v) { releases[i].append(v) }
        self.releases = releases
    }

    deinit { arena.deallocate() }

    /// The outputs for `inputs`; throws the first error an op reports (an index out of range)
    /// and runs no op after it, so a compiled training step never updates on a bad batch.
    func run(_ inputs: [Tensor]) throws -> [Tensor] {
        lock.lock()
        defer { lock.unlock() }
        let sink = ErrorSink()
        var state = DispatchState.current
        state.errorSink = sink
        return try DispatchState.$current.withValue(state) { try runNodes(inputs, errors: sink) }
    }

    /// `run` for an op's kernel (which cannot throw): an error is reported to the enclosing
    /// scope (see `Tensor.report`) and the outputs are placeholders.
    func reportingRun(_ inputs: [Tensor]) -> [Tensor] {
        do { return try run(inputs) } catch {
            Tensor.report(error)
            return graph.outputs.map { _ in Tensor.poisoned }
        }
    }

    private func runNodes(_ inputs: [Tensor], errors sink: ErrorSink) throws -> [Tensor] {
        var values = [Tensor?](repeating: nil, count: graph.values.count)
        for (id, input) in zip(graph.inputs, inputs) { values[id] = input.detached() }
        for (id, constant) in graph.constants { values[id] = constant }
        apus_flush_denormals()
        let profiling = OpProfiler.isEnabled
        var pointers: [UnsafeMutableRawPointer?] = [], sizes: [Int64] = []
        for (index, node) in graph.nodes.enumerated() {
            let arguments = node.inputs.map { values[$0]! }
            let specs = node.outputs.map { graph.values[$0] }
            pointers.removeAll(keepingCapacity: true)
            sizes.removeAll(keepingCapacity: true)
            for (k, placement) in placements[index].enumerated() {
                // In place only over a dense input that really sits in the slot (else allocate).
                if let (input, at) = inPlace[index], at == k,
                   !(arguments[input].isContiguous && arguments[input].rawPointer == placement.address) { continue }
                pointers.append(placement.address)
                sizes.append(placement.bytes)
            }
            if !pointers.isEmpty { apus_placement_set(Int32(pointers.count), pointers, sizes) }
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            let results = node.op.cpu(arguments, specs)
            if profiling { OpProfiler.record(node.op.name, since: start) }
            if !pointers.isEmpty { apus_placement_clear() }
            if let error = sink.error { throw error }
            if !node.op.returnsView {
                for result in results where arguments.contains(where: { $0.storage === result.storage }) {
                    fatalError("graph: \(node.op.name) returned a view of an input but does not declare returnsView")
                }
            }
            for (id, result) in zip(node.outputs, results) {
                // Only planned values may live in the arena (never one returned to the caller).
                let unplannedInArena = plan.offsets[id] == nil && !node.op.returnsView
                    && result.storage.pointer >= arena && result.storage.pointer < arena + plan.arenaBytes
                values[id] = unplannedInArena ? withoutGrad { result.copied() } : result
            }
            for id in releases[index] { values[id] = nil }
        }
        return graph.outputs.map { values[$0]! }
    }
}
