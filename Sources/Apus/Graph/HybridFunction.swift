/// A function compiled for use inside eager code that still takes gradients through it
/// (MXNet's CachedOp; what `Module.hybridize()` runs).
///
/// - Called without any input that needs a gradient, it runs one optimised graph of the
///   function (as `compile`).
/// - Called with inputs that need gradients, it traces the function together with its
///   backward pass once per signature and splits that graph in two: a forward graph, which
///   also returns the intermediates the backward pass reads, and a backward graph from those
///   intermediates and the output cotangents to the input gradients. The call is one op on the
///   eager tape (`HybridCallOp`), so `loss.backward()` runs the compiled backward graph.
/// - Inside another trace it inlines the function.
public final class HybridFunction {
    let body: ([Tensor]) -> [Tensor]
    private let inference: CompiledFunction
    private var programs: [Signature: HybridProgram] = [:]
    /// Traces of the forward-and-backward function (one per signature and set of inputs that
    /// need gradients).
    public private(set) var differentiableTraceCount = 0
    /// Traces in all: inference ones plus forward-and-backward ones.
    public var traceCount: Int { inference.traceCount + differentiableTraceCount }

    struct Signature: Hashable {
        let specs: [TensorSpec]
        let needsGradient: [Bool]
    }

    /// Wraps `body`, a function of tensors to tensors; nothing is traced until the first call.
    public init(_ body: @escaping ([Tensor]) -> [Tensor]) {
        self.body = body
        inference = CompiledFunction(body)
    }

    /// The function's outputs for `inputs`, differentiable with respect to every input that
    /// requires a gradient.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        if Graph.isTracing { return body(inputs) }
        let needs = inputs.map { isGradEnabled && $0.requiresGrad && $0.dtype.isFloatingPoint }
        guard needs.contains(true) else { return inference(inputs) }
        let program: HybridProgram
        do { program = try self.program(Signature(specs: inputs.map(\.spec), needsGradient: needs)) } catch {
            return body(inputs)   // meets the shape error again, eagerly, and reports it as eager ops do
        }
        return Array(Tensor.apply(HybridCallOp(program: program), inputs).prefix(program.outputCount))
    }

    private func program(_ signature: Signature) throws -> HybridProgram {
        if let program = programs[signature] { return program }
        let wanted = signature.needsGradient.indices.filter { signature.needsGradient[$0] }
        var outputCount = 0, cotangentIDs: [Int] = [], differentiable: [Int] = []
        let joint = try Graph.trace(signature.specs) { xs in
            let leaves = zip(xs, signature.needsGradient).map { $1 ? $0.requiringGrad() : $0 }
            let ys = withGrad { body(leaves) }
            outputCount = ys.count
            let recorder = DispatchState.current.recorder!
            var grads: [Tensor?] = Array(repeating: nil, count: wanted.count)
            for (position, y) in ys.enumerated() where y.requiresGrad {
                differentiable.append(position)
                let cotangent = recorder.placeholder(y.spec)
                cotangentIDs.append(cotangent.symbol!.id)
                let parts = withoutGrad { gradients(of: y, wrt: wanted.map { leaves[$0] }, seed: cotangent) }
                grads = zip(grads, parts).map { previous, part in previous.map { $0 + part } ?? part }
            }
            return ys + zip(grads, wanted).map { $0 ?? leaves[$1].zerosLike() }
        }
        differentiableTraceCount += 1
        let program = HybridProgram(joint: joint, inputCount: signature.specs.count, outputCount: outputCount,
                                    cotangents: cotangentIDs, differentiableOutputs: differentiable, gradientInputs: wanted)
        programs[signature] = program
        return program
    }
}

/// The two halves of a traced forward-and-backward function (see `HybridFunction`).
final class HybridProgram {
    let forward: Program
    let backward: Program
    /// Outputs of the function; the forward graph returns the saved intermediates after them.
    let outputCount: Int
    let forwardSpecs: [TensorSpec]
    /// Positions of the inputs that get gradients (the backward graph's outputs, in order).
    let gradientInputs: [Int]
    /// Output positions that have a cotangent input in the backward graph.
    let differentiableOutputs: [Int]

    init(joint: Graph, inputCount: Int, outputCount: Int, cotangents: [Int], differentiableOutputs: [Int], gradientInputs: [Int]) {
        let inputs = Array(joint.inputs.prefix(inputCount))
        let ys = Array(joint.outputs.prefix(outputCount)), grads = Array(joint.outputs.dropFirst(outputCount))
        // Backward nodes: those that depend on a cotangent.
        var fromCotangent = Set(cotangents)
        var forwardNodes: [Graph.Node] = [], backwardNodes: [Graph.Node] = []
        for node in joint.nodes {
            if node.inputs.contains(where: fromCotangent.contains) {
                fromCotangent.formUnion(node.outputs)
                backwardNodes.append(node)
            } else {
                forwardNodes.append(node)
            }
        }
        let computedForward = Set(forwardNodes.flatMap(\.outputs))
        var seen = Set<Int>()
        let saved = (backwardNodes.flatMap(\.inputs) + grads).filter { computedForward.contains($0) && seen.insert($0).inserted }
        let forwardGraph = joint.copy()
        (forwardGraph.nodes, forwardGraph.inputs, forwardGraph.outputs) = (forwardNodes, inputs, ys + saved)
        let backwardGraph = joint.copy()
        (backwardGraph.nodes, backwardGraph.inputs, backwardGraph.outputs) = (backwardNodes, inputs + saved + cotangents, grads)
        forward = Program(forwardGraph.optimized())
        backward = Program(backwardGraph.optimized())
        self.outputCount = outputCount
        forwardSpecs = (ys + saved).map { joint.values[$0] }
        self.gradientInputs = gradientInputs
        self.differentiableOutputs = differentiableOutputs
    }
}

/// A `HybridFunction` call on the eager tape: inputs → the function's outputs followed by the
/// intermediates its backward graph reads.
struct HybridCallOp: Operation {
    let program: HybridProgram

    var name: String { "hybrid" }
    var outputCount: Int { program.forwardSpecs.count }
    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { program.forwardSpecs }
    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] { program.forward.reportingRun(inputs) }

    func vjp(_ c: VJPContext) -> [Tensor?] {
        let saved = Array(c.outputs.dropFirst(program.outputCount))
        let cotangents = program.differentiableOutputs.map { c.cotangents[$0] }
        let grads = Tensor.apply(HybridBackwardOp(program: program), c.inputs + saved + cotangents)
        var result = [Tensor?](repeating: nil, count: c.inputs.count)
        for (position, grad) in zip(program.gradientInputs, grads) { result[position] = grad }
        return result
    }
}

/// The backward graph of a `HybridFunction`: (inputs, saved intermediates, output cotangents)
/// → gradients of the inputs that need them.
struct HybridBackwardOp: Operation {
    let program: HybridProgram

    var name: String { "hybridBackward" }
    var outputCount: Int { program.gradientInputs.count }
    var isDifferentiable: Bool { false }
    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { program.backward.graph.outputSpecs }
    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] { program.backward.reportingRun(inputs) }
}
