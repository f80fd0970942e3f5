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
    /// Throws `HybridizeError` when this module's forward does not go through `hybridCall`.
    public func hybridize(_ on: Bool = true) throws {
        if on && !(self is HybridizableModule) {
            throw HybridizeError("\(typeDescription) cannot hybridize: its forward does not go through hybridCall. Conform it to "
                                 + "HybridizableModule and wrap its forward in hybridCall { }, or compile the whole training step "
                                 + "(CompiledTrainingStep, Trainer.hybridize)")
        }
        hybridState = on ? HybridState() : nil
    }

    /// Whether `hybridize()` is on.
    public var isHybridized: Bool { hybridState != nil }

    /// `body(inputs)`, compiled when this module is hybridized. `body` must compute the same
    /// function on every call (it is traced once per input signature and training mode).
    public func hybridCall(_ inputs: [Tensor], _ body: @escaping ([Tensor]) -> [Tensor]) -> [Tensor] {
        guard let state = hybridState, !Graph.isTracing else { return body(inputs) }
        let parameters = state.parameters ?? self.parameters(), buffers = state.buffers ?? namedBuffers().map(\.1)
        (state.parameters, state.buffers) = (parameters, buffers)
        let function = state.functions[isTraining] ?? HybridFunction { tensors in
            let stateCount = parameters.count + buffers.count, values = Array(tensors.suffix(stateCount))
            return Parameter.substituting(parameters, with: Array(values.prefix(parameters.count))) {
                Buffer.substituting(buffers, with: Array(values.suffix(buffers.count))) { body(Array(tensors.dropLast(stateCount))) }
            }
        }
        state.functions[isTraining] = function
        for buffer in buffers { buffer.value.makeUnique() }   // written in place by the graph
        return function(inputs + parameters.map(\.value) + buffers.map(\.value))
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
    var parameters: [Parameter]?
    var buffers: [Buffer]?
}

/// `hybridize()` refused: the module's forward does not go through `hybridCall`.
public struct HybridizeError: Error, CustomStringConvertible {
    /// Which module, and why.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
