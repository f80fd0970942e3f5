import Apus
import ApusData
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
        let target = try data.train.example(0)[data.target]!.spec
        var batchSpecs = Dictionary(uniqueKeysWithValues: zip(names, specs))
        batchSpecs[data.target] = TensorSpec([batch] + target.shape, target.dtype)
        return try trainer.trainingStepGraph(for: batchSpecs)
    }
}
