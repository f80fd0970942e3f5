import Apus
import ApusNN

/// An optimizer update as an op: (loss, one gradient per updated parameter, the parameters[,
/// a one-element gradient scale]) → nothing. It updates the parameters (and the optimizer's
/// state) in place, and does nothing when the loss is not finite. Being side-effecting, graph
/// passes keep it, so a compiled training step ends with the update and its gradients are freed
/// right after it; a pass may move an elementwise parameter update into the op making its
/// gradient (`splitting`), or fold a scale that every gradient is multiplied by (clipping by
/// norm) into the update (`scaled`), which then scales each block of a gradient in cache.
struct OptimizerStepOp: ParameterUpdateOp {
    let optimizer: Optimizer
    /// The parameters (indices into `optimizer.parameters`) that the gradients belong to, in
    /// order: the trainable ones when the op was made (a compiled step keeps them).
    let updated: [Int]
    /// Whether the last input is a scale that every gradient is multiplied by.
    let withScale: Bool

    init(optimizer: Optimizer, updated: [Int]? = nil, withScale: Bool = false) {
        self.optimizer = optimizer
        self.updated = updated ?? optimizer.parameters.indices.filter { optimizer.parameters[$0].isTrainable }
        self.withScale = withScale
    }

    var name: String { withScale ? "optimizerStep(scaled)" : "optimizerStep" }
    var outputCount: Int { 0 }
    var hasSideEffects: Bool { true }
    var isDifferentiable: Bool { false }
    var parameterCount: Int { updated.count }

    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let shapes = updated.map { optimizer.parameters[$0].value.shape }
        guard inputs.count == 2 * shapes.count + 1 + (withScale ? 1 : 0), inputs[0].count == 1, !withScale || inputs.last!.count == 1,
              zip(inputs.dropFirst(), shapes + shapes).allSatisfy({ $0.shape == $1 }) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape),
                             expected: "a one-element loss, then a gradient and then the value of each trainable parameter, of shapes \(shapes)"
                                 + (withScale ? ", then a one-element scale" : ""))
        }
        return []
    }

    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        guard inputs[0].item().isFinite else { return [] }
        var gradients = [Tensor?](repeating: nil, count: optimizer.parameters.count)
        for (index, gradient) in zip(updated, inputs.dropFirst().prefix(updated.count)) { gradients[index] = gradient }
        optimizer.update(with: gradients, scale: withScale ? inputs.last!.item() : 1)
        return []
    }

    func splitting(parameter i: Int) -> (rest: any ParameterUpdateOp, update: any BlockwiseUpdate)? {
        guard optimizer.updatesElementwise, !withScale else { return nil }
        var rest = updated
        let index = rest.remove(at: i)
        return (OptimizerStepOp(optimizer: optimizer, updated: rest), SplitUpdate(optimizer: optimizer, index: index))
    }

    func scaled() -> (any ParameterUpdateOp)? { withScale ? nil : OptimizerStepOp(optimizer: optimizer, updated: updated, withScale: true) }
}

/// One parameter's update taken out of an `OptimizerStepOp`. It runs before that op, which
/// counts the step, so it takes the step number that op is about to count.
struct SplitUpdate: BlockwiseUpdate {
    let optimizer: Optimizer
    let index: Int

    func kernel(loss: Tensor) -> SpanUpdate? {
        guard loss.item().isFinite else { return nil }
        return optimizer.spanUpdate(index: index, value: optimizer.parameters[index].value, step: optimizer.stepCount + 1)
    }
}
