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
    /// How gradients are clipped before the update (nil: not at all).
    public let clipping: GradientClipping?
    /// What is done to the loss and the raw gradients before clipping and the update, traced
    /// into the step (nil: nothing): data-parallel training averages both over the processes
    /// here (`ApusDistributed.DataParallel`), so every process takes the same update.
    public let averaging: ((_ loss: Tensor, _ gradients: [Tensor]) -> (loss: Tensor, gradients: [Tensor]))?
    /// One compiled function per set of trainable parameters and mode (a change retraces).
    private var functions: [[Bool]: CompiledFunction] = [:]

    /// `body` maps the step's inputs to [loss, other outputs…]; the update is skipped when the
    /// loss is not finite (as an eager step that checks it would). `clipping` clips the
    /// gradients inside the graph, before the update. `averaging` maps the loss and the
    /// gradients (of the trainable parameters, in the optimizer's order) to the ones the update
    /// uses; the step then returns that loss first.
    public init(module: Module, optimizer: Optimizer, clipping: GradientClipping? = nil,
                averaging: ((_ loss: Tensor, _ gradients: [Tensor]) -> (loss: Tensor, gradients: [Tensor]))? = nil,
                _ body: @escaping ([Tensor]) -> [Tensor]) {
        (self.module, self.optimizer, self.clipping, self.averaging, self.body) = (module, optimizer, clipping, averaging, body)
    }

    /// The compiled function for the parameters trainable now, in the module's mode. Its
    /// inputs are the step's, then the parameters, then the buffers (updated in place).
    private var function: CompiledFunction {
        let key = optimizer.parameters.map(\.isTrainable) + [module.isTraining]
        if let function = functions[key] { return function }
        let state = ModuleState(module), trainable = optimizer.parameters.filter(\.isTrainable)
        let (body, optimizer, clipping, averaging) = (self.body, self.optimizer, self.clipping, self.averaging)
        let function = compile { tensors in
            state.substituting(in: tensors) { inputs in
                var outputs = body(inputs)
                var raw = gradients(of: outputs[0], wrt: trainable.map(\.value))
                if let averaging { (outputs[0], raw) = averaging(outputs[0], raw) }
                optimizer.step(loss: outputs[0], gradients: clipping.map { $0.clipped(raw) } ?? raw)
                return outputs
            }
        }
        functions[key] = function
        return function
    }


    /// Runs one step on `inputs`; returns the body's outputs (the loss first). Throws a shape
    /// error found while tracing. Dropout draws new masks from its generator on every run and
    /// BatchNorm updates its running statistics, as in eager mode.
    @discardableResult
    public func callAsFunction(_ inputs: [Tensor]) throws -> [Tensor] {
        try function.run(inputs + ModuleState(module).values())
    }

    /// How many times the step was traced (once per new input signature or set of trainable parameters).
    public var traceCount: Int { functions.values.reduce(0) { $0 + $1.traceCount } }

    /// The optimised graph of the step for `inputs`' signature.
    public func graph(for inputs: [TensorSpec]) throws -> Graph {
        try function.graph(for: inputs + ModuleState(module).specs)
    }

    /// Bytes of the arena holding the step's intermediates for `inputs`' signature.
    public func arenaBytes(for inputs: [TensorSpec]) throws -> Int {
        try function.arenaBytes(for: inputs + ModuleState(module).specs)
    }
}
