import Apus
import ApusNN

/// An optimizer update as an op: (loss, one gradient per trainable parameter) → nothing. It
/// updates the parameters (and the optimizer's state) in place, and does nothing when the loss
/// is not finite. Being side-effecting, graph passes keep it, so a compiled training step ends
/// with the update and its gradients are freed right after it.
struct OptimizerStepOp: Operation {
    let optimizer: Optimizer
    /// The parameters (indices into `optimizer.parameters`) that the gradients belong to, in
    /// order: the trainable ones when the op was made (a compiled step keeps them).
    let updated: [Int]

    init(optimizer: Optimizer) {
        self.optimizer = optimizer
        updated = optimizer.parameters.indices.filter { optimizer.parameters[$0].isTrainable }
    }

    var name: String { "optimizerStep" }
    var outputCount: Int { 0 }
    var hasSideEffects: Bool { true }
    var isDifferentiable: Bool { false }

    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let shapes = updated.map { optimizer.parameters[$0].value.shape }
        guard inputs.count == shapes.count + 1, inputs[0].count == 1, zip(inputs.dropFirst(), shapes).allSatisfy({ $0.shape == $1 }) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "a one-element loss and one gradient per trainable parameter, of shapes \(shapes)")
        }
        return []
    }

    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        guard inputs[0].item().isFinite else { return [] }
        var gradients = [Tensor?](repeating: nil, count: optimizer.parameters.count)
        for (index, gradient) in zip(updated, inputs.dropFirst()) { gradients[index] = gradient }
        optimizer.update(with: gradients)
        return []
    }
}
