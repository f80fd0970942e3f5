import Apus
import ApusNN

/// A whole training step — forward, loss, gradients and the optimizer update — traced into one
/// optimised, memory-planned graph per input signature (`compile` for training). The module's
/// parameters are graph inputs (read afresh on every run, so checkpoint loads are seen) and
/// the update writes them and the optimizer's state in place; gradients never reach `.grad`.
///
/// ```swift
/// let step = CompiledTrainingStep(module: net, optimizer: adam) { xs in
///     let loss = crossEntropy(logits: net(xs[0]), labels: xs[1])
///     return [loss]                       // the first output is the loss that is minimised
/// }
/// let loss = try step([images, labels])[0]
/// ```
public final class CompiledTrainingStep {
    let module: Module
    let optimizer: Optimizer
    let body: ([Tensor]) -> [Tensor]
    /// One compiled function per set of trainable parameters (freezing one retraces).
    private var functions: [[Bool]: CompiledFunction] = [:]

    /// `body` maps the step's inputs to [loss, other outputs…]; the update is skipped when the
    /// loss is not finite (as an eager step that checks it would).
    public init(module: Module, optimizer: Optimizer, _ body: @escaping ([Tensor]) -> [Tensor]) {
        (self.module, self.optimizer, self.body) = (module, optimizer, body)
    }

    /// The compiled function for the parameters trainable now.
    private var function: CompiledFunction {
        let key = optimizer.parameters.map(\.isTrainable)
        if let function = functions[key] { return function }
        let parameters = module.parameters(), trainable = optimizer.parameters.filter(\.isTrainable)
        let (body, optimizer) = (self.body, self.optimizer)
        let function = compile { tensors in
            Parameter.substituting(parameters, with: Array(tensors.suffix(parameters.count))) {
                let outputs = body(Array(tensors.dropLast(parameters.count)))
                optimizer.step(loss: outputs[0], gradients: gradients(of: outputs[0], wrt: trainable.map(\.value)))
                return outputs
            }
        }
        functions[key] = function
        return function
    }

    /// Runs one step on `inputs`; returns the body's outputs (the loss first). Throws a shape
    /// error found while tracing, or `HybridizeError` when the module is in training mode and
    /// holds dropout or batch normalisation (tracing would freeze their masks and statistics).
    @discardableResult
    public func callAsFunction(_ inputs: [Tensor]) throws -> [Tensor] {
        if module.isTraining, let (path, layer) = module.tracingWouldFreeze {
            throw HybridizeError(layer: path, layer)
        }
        return try function.run(inputs + module.parameters().map(\.value))
    }

    /// How many times the step was traced (once per new input signature or set of trainable parameters).
    public var traceCount: Int { functions.values.reduce(0) { $0 + $1.traceCount } }

    /// The optimised graph of the step for `inputs`' signature.
    public func graph(for inputs: [TensorSpec]) throws -> Graph {
        try function.graph(for: inputs + module.parameters().map(\.value.spec))
    }

    /// Bytes of the arena holding the step's intermediates for `inputs`' signature.
    public func arenaBytes(for inputs: [TensorSpec]) throws -> Int {
        try function.arenaBytes(for: inputs + module.parameters().map(\.value.spec))
    }
}
