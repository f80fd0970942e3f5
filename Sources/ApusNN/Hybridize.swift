import Apus

/// MXNet's `hybridize()` for modules: the module's forward runs as a compiled, memory-planned
/// graph (`HybridFunction`) whose parameters and buffers are graph inputs, and `backward()`
/// runs the matching compiled backward graph.
///
/// `Sequential` and the functional `Model` hybridize as a whole; a custom module opts in by
/// conforming to `HybridizableModule` and routing its forward through `hybridCall`. What
/// tracing means is spelled out at `CompiledFunction`: Swift control flow is fixed per input
/// shape. Dropout draws a new mask on every run and BatchNorm updates its running statistics
/// in training mode, as eagerly. `hybridize()` never silently stays eager: on a module that
/// does not route its forward through `hybridCall` it throws.
///
/// ```swift
/// let net = Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
/// try net.hybridize()
/// let loss = crossEntropy(logits: net(x), labels: y)   // compiled forward
/// loss.backward()                                      // compiled backward
/// ```
extension Module {
    /// Runs this module's forward as a compiled graph from now on (`false`: eagerly again).
    /// Throws `HybridizeError` when this module's forward does not go through `hybridCall`, or
    /// when a lazy layer inside has no weights yet (call the module once first).
    public func hybridize(_ on: Bool = true) throws {
        if on && !(self is HybridizableModule) {
            throw HybridizeError("\(typeDescription) cannot hybridize: its forward does not go through hybridCall. Conform it to "
                                 + "HybridizableModule and wrap its forward in hybridCall { }, or compile the whole training step "
                                 + "(CompiledTrainingStep, Trainer.hybridize)")
        }
        if on, let (path, layer) = namedModules().first(where: { ($0.1 as? LazyLayer)?.isResolved == false }) {
            throw HybridizeError("\(layer.typeDescription) at '\(path)' has no weights yet: call the model once before hybridize()")
        }
        hybridState = on ? HybridState() : nil
    }

    /// Whether `hybridize()` is on.
    public var isHybridized: Bool { hybridState != nil }

    /// `body(inputs)`, compiled when this module is hybridized. `body` must compute the same
    /// function on every call (it is traced once per input signature and training mode).
    public func hybridCall(_ inputs: [Tensor], _ body: @escaping ([Tensor]) -> [Tensor]) -> [Tensor] {
        guard let state = hybridState, !Graph.isTracing else { return body(inputs) }
        let moduleState = state.moduleState ?? ModuleState(self)
        state.moduleState = moduleState
        // The cached function reaches `body` through `current`, which holds it only during this
        // call: `body` usually captures the module, and the module holds the function.
        let current = state.current, previous = current.body
        current.body = body
        defer { current.body = previous }
        let function = state.functions[isTraining] ?? HybridFunction { tensors in moduleState.substituting(in: tensors, current.body!) }
        state.functions[isTraining] = function
        return function(inputs + moduleState.values())
    }

    /// How many times this module's hybridized forward was traced (0 when not hybridized).
    public var hybridTraceCount: Int { hybridState?.functions.values.reduce(0) { $0 + $1.traceCount } ?? 0 }
}

/// A module whose forward goes through `hybridCall`, so `hybridize()` compiles it
/// (`Sequential`, the functional `Model`, and custom modules that opt in).
public protocol HybridizableModule: Module {}

/// A hybridized module's compiled functions (one per training mode) and parameter order.
final class HybridState {
    var functions: [Bool: HybridFunction] = [:]
    var moduleState: ModuleState?
    let current = CurrentBody()

    /// The body of the `hybridCall` running now (nil between calls).
    final class CurrentBody {
        var body: (([Tensor]) -> [Tensor])?
    }
}

/// A module's parameters and buffers as the trailing inputs of a graph (a hybridized forward,
/// a compiled training step): parameters first, then buffers, in the order found once.
public struct ModuleState {
    /// The module's parameters and buffers, each in the order `parameters()` and `namedBuffers()` give them.
    public let parameters: [Parameter], buffers: [Buffer]
    /// The paths of the parameters then the buffers (`layers.0.weight`, `norm.runningMean`), in
    /// the order of the graph inputs they stand for.
    public let names: [String]

    /// The state of `module` now.
    public init(_ module: Module) {
        let namedParameters = module.namedParameters(), namedBuffers = module.namedBuffers()
        (parameters, buffers) = (namedParameters.map(\.1), namedBuffers.map(\.1))
        names = namedParameters.map(\.0) + namedBuffers.map(\.0)
    }

    /// The current values, parameters first. Each buffer first gets storage of its own, since a
    /// graph writes it in place (running statistics).
    public func values() -> [Tensor] {
        for buffer in buffers { buffer.value.makeUnique() }
        return parameters.map(\.value) + buffers.map(\.value)
    }

    /// The values' specs, read without copying anything.
    public var specs: [TensorSpec] { parameters.map(\.value.spec) + buffers.map(\.value.spec) }

    /// `body` on the leading tensors of `tensors`, with the trailing ones (as many as the state
    /// holds) standing in for the parameters and buffers while it runs (as tracing needs).
    public func substituting<R>(in tensors: [Tensor], _ body: ([Tensor]) throws -> R) rethrows -> R {
        let count = parameters.count + buffers.count, values = Array(tensors.suffix(count))
        return try Parameter.substituting(parameters, with: Array(values.prefix(parameters.count))) {
            try Buffer.substituting(buffers, with: Array(values.suffix(buffers.count))) { try body(Array(tensors.dropLast(count))) }
        }
    }
}

/// `hybridize()` refused: the module's forward does not go through `hybridCall`.
public struct HybridizeError: Error, CustomStringConvertible {
    /// Which module, and why.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
