import Apus

/// MXNet's `hybridize()` for modules: the module's forward runs as a compiled, memory-planned
/// graph (`HybridFunction`) whose parameters are graph inputs, and `backward()` runs the
/// matching compiled backward graph.
///
/// `Sequential` and the functional `Model` hybridize as a whole; a custom module opts in by
/// routing its forward through `hybridCall`. What tracing means is spelled out at
/// `CompiledFunction`: Swift control flow is fixed per input shape. In training mode a module
/// holding `Dropout` (p > 0) or `BatchNorm` keeps running eagerly, since tracing would freeze
/// its random masks and running statistics; in evaluation mode it hybridizes too.
///
/// ```swift
/// let net = Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
/// net.hybridize()
/// let loss = crossEntropy(logits: net(x), labels: y)   // compiled forward
/// loss.backward()                                      // compiled backward
/// ```
extension Module {
    /// Runs this module's forward as a compiled graph from now on (`false`: eagerly again).
    public func hybridize(_ on: Bool = true) {
        hybridState = on ? HybridState() : nil
    }

    /// Whether `hybridize()` is on.
    public var isHybridized: Bool { hybridState != nil }

    /// `body(inputs)`, compiled when this module is hybridized. `body` must compute the same
    /// function on every call (it is traced once per input signature and training mode).
    public func hybridCall(_ inputs: [Tensor], _ body: @escaping ([Tensor]) -> [Tensor]) -> [Tensor] {
        guard let state = hybridState, !Graph.isTracing else { return body(inputs) }
        if isTraining && tracingWouldFreeze != nil { return body(inputs) }
        let parameters = state.parameters ?? self.parameters()
        state.parameters = parameters
        let function = state.functions[isTraining] ?? HybridFunction { tensors in
            Parameter.substituting(parameters, with: Array(tensors.suffix(parameters.count))) {
                body(Array(tensors.prefix(tensors.count - parameters.count)))
            }
        }
        state.functions[isTraining] = function
        return function(inputs + parameters.map(\.value))
    }

    /// The first submodule (path, module) whose training-mode behaviour tracing would freeze:
    /// `Dropout` with p > 0 (its masks) or `BatchNorm` (its running statistics); nil if none.
    public var tracingWouldFreeze: (path: String, module: Module)? {
        namedModules().first { ($0.1 as? Dropout).map { $0.p > 0 } ?? ($0.1 is BatchNorm) }.map { (path: $0.0, module: $0.1) }
    }

    /// How many times this module's hybridized forward was traced (0 when not hybridized).
    public var hybridTraceCount: Int { hybridState?.functions.values.reduce(0) { $0 + $1.traceCount } ?? 0 }
}

/// A hybridized module's compiled functions (one per training mode) and parameter order.
final class HybridState {
    var functions: [Bool: HybridFunction] = [:]
    var parameters: [Parameter]?
}

/// Graph mode refused: the module's training-mode behaviour cannot be traced.
public struct HybridizeError: Error, CustomStringConvertible {
    /// Which layer, and why.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
    /// The refusal for `module` (named `name` in messages), one `tracingWouldFreeze` found.
    public init(layer name: String, _ module: Module) {
        description = "'\(name)' (\(module.typeDescription)) draws random masks or updates running statistics, which tracing would freeze"
    }
}
