import Apus
import ApusData
import ApusNN
import ApusTrain

extension Experiment {
    /// The model's optimised graph for a batch of `batch` examples: the forward pass, or with
    /// `trainingStep` the whole compiled training step (forward, loss, backward, optimizer
    /// update) that `hybridize: true` runs. Traced with the same tracer that checks shapes.
    public func graph(batch: Int = 2, trainingStep: Bool = false) throws -> Graph {
        let names = model.inputs.map(\.name)
        let specs = model.inputs.map { TensorSpec([batch] + $0.shape, $0.dtype) }
        guard trainingStep else {
            return try Graph.trace(specs) { xs in self.model(Dictionary(uniqueKeysWithValues: zip(names, xs))) }.optimized()
        }
        return try trainer.trainingStepGraph(for: try stepBatchSpecs(batch: batch))
    }

    /// Names for the inputs and captured tensors of `graph(trainingStep:)`, for `Graph.dot`.
    /// Inputs: the model's inputs (`image`, `question`); for a training step the batch keys
    /// (the target too), then the parameter and buffer paths, which are the step's trailing
    /// inputs. Captured: every parameter and buffer by path (`layers.0.weight`), as a forward
    /// graph reads them.
    ///
    /// ```swift
    /// let names = try experiment.graphNames()
    /// let dot = try experiment.graph().dot(inputNames: names.inputs, capturedNames: names.captured)
    /// ```
    public func graphNames(trainingStep: Bool = false) throws -> (inputs: [String], captured: [(name: String, tensor: Tensor)]) {
        let captured = model.namedParameters().map { (name: $0.0, tensor: $0.1.value) }
            + model.namedBuffers().map { (name: $0.0, tensor: $0.1.value) }
        guard trainingStep else { return (model.inputs.map(\.name), captured) }
        return (trainer.trainingStepInputNames(for: try stepBatchSpecs(batch: 1)), captured)
    }

    /// The specs of a training batch of `batch` examples, by key: the model's inputs and the target.
    private func stepBatchSpecs(batch: Int) throws -> [String: TensorSpec] {
        let target = try data.train.example(0)[data.target]!.spec
        var specs = Dictionary(uniqueKeysWithValues: model.inputs.map { ($0.name, TensorSpec([batch] + $0.shape, $0.dtype)) })
        specs[data.target] = TensorSpec([batch] + target.shape, target.dtype)
        return specs
    }
}
