import Apus
import ApusNN

/// An optimizer update as an op: (loss, one gradient per trainable parameter) → nothing. It
/// updates the parameters (and the optimizer's state) in place, and does nothing when the loss
/// is not finite. Being side-effecting, graph passes keep it, so a compiled training step ends
/// with the update and its gradients are freed right after it.
struct OptimizerStepOp: Operation {
    let optimizer: Optimizer

    var name: String { "optimizerStep" }
    var outputCount: Int { 0 }
    var hasSideEffects: Bool { true }
    var isDifferentiable: Bool { false }

    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let trainable = optimizer.parameters.filter(\.isTrainable).map(\.value.shape)
        guard inputs.count == trainable.count + 1, inputs[0].count == 1, zip(inputs.dropFirst(), trainable).allSatisfy({ $0.shape == $1 }) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "a one-element loss and one gradient per trainable parameter, of shapes \(trainable)")
        }
        return []
    }

    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        guard inputs[0].item().isFinite else { return [] }
        var gradients = inputs.dropFirst().makeIterator()
        optimizer.update(with: optimizer.parameters.map { $0.isTrainable ? gradients.next() : nil })
        return []
    }
}
