import Apus
import ApusNN
import ApusTrain

/// Data-parallel training (PyTorch's `DistributedDataParallel`, without wrapping the forward
/// pass): every rank runs the same model on its own share of each batch (a `DistributedSampler`'s
/// loader); this object starts all ranks from rank 0's weights and averages the gradients over
/// ranks before each optimizer step. Every rank then takes the same step: the one a single
/// process would take on all ranks' examples at once, when the loss is a mean over the batch.
///
/// Gradients travel in buckets of at most `bucketCapacity` bytes (one all-reduce each), filled
/// with the trainable parameters in reverse order, roughly the order in which backward finishes
/// them. `backward(_:)` starts each bucket's all-reduce as soon as the backward pass has finished
/// all of its gradients (through `watchingGradients`), so sending overlaps the rest of the pass;
/// `averageGradients()` does the same after a plain `loss.backward()`, without the overlap.
///
/// After an error thrown here the ranks may disagree about which transfers ran: stop the job
/// with `communicator.abort()` rather than going on.
///
/// ```swift
/// let world = try Communicator.world()
/// let model = MLP()
/// let parallel = try DataParallel(model, communicator: world)   // rank 0's weights everywhere
/// let optimizer = SGD(parameters: model.parameters(), learningRate: 0.1)
/// let loader = try DataLoader(data, batchSize: 32, sampler: DistributedSampler(count: data.count, communicator: world))
/// for batch in loader {
///     optimizer.zeroGrad()
///     let loss = crossEntropy(model(batch["x"]!), batch["y"]!)
///     try parallel.backward(loss)                              // averaged gradients in .grad
///     optimizer.step()
/// }
/// ```
public final class DataParallel: TrainingGroup {
    /// The model trained on every rank.
    public let module: Module
    /// The ranks that train together.
    public let communicator: Communicator
    /// Most bytes of gradients per all-reduce (a larger parameter travels alone).
    public let bucketCapacity: Int
    /// Whether `synchronizeBuffers()` averages the module's floating-point buffers (BatchNorm's
    /// running statistics) over the ranks; false leaves each rank's own.
    public let synchronizesBuffers: Bool
    /// The module's parameters and their paths, as at `init`.
    private let parameters: [(String, Parameter)]
    /// Buckets of the last step, for the trainable parameters' shapes and dtypes (nil: frozen)
    /// they were made for.
    private var plan: (layout: [TensorSpec?], buckets: [GradientBucket])?

    /// Makes every rank's `module` rank 0's (`broadcastParameters`, which checks that the models
    /// have the same parameters everywhere).
    ///
    /// - Parameters:
    ///   - bucketCapacity: bytes of gradients per all-reduce; 4 MiB by default (1 Mi Float32s).
    ///   - synchronizesBuffers: average BatchNorm's running statistics over the ranks at the end
    ///     of each epoch of `Trainer.fit` (`synchronizeBuffers()`).
    /// - Throws: `DistributedError` when the models differ between ranks, the capacity is not
    ///   positive, or MPI fails.
    public init(_ module: Module, communicator: Communicator, bucketCapacity: Int = 4 << 20, synchronizesBuffers: Bool = true) throws {
        guard bucketCapacity > 0 else { throw DistributedError("DataParallel: bucketCapacity must be positive, got \(bucketCapacity)") }
        (self.module, self.communicator, self.bucketCapacity) = (module, communicator, bucketCapacity)
        self.synchronizesBuffers = synchronizesBuffers
        parameters = module.namedParameters()
        try communicator.broadcastParameters(of: module, from: 0)
    }

    /// The parameter paths of each bucket, in the order the buckets are sent (the trainable
    /// parameters, last first).
    public var bucketNames: [[String]] { currentBuckets().map { $0.members.map { parameters[$0].0 } } }

    /// Runs `loss.backward(gradient)` and averages every trainable parameter's gradient over the
    /// ranks, starting each bucket's all-reduce while the backward pass goes on. Afterwards each
    /// trainable parameter's `grad` holds the mean over ranks (zeros where no rank had one).
    public func backward(_ loss: Tensor, gradient: Tensor? = nil) throws {
        let exchange = GradientExchange(communicator: communicator, parameters: parameters.map(\.1), buckets: currentBuckets())
        watchingGradients(of: exchange.watchedValues, { exchange.ready($0) }) { loss.backward(gradient) }
        try exchange.finish()
    }

    /// `backward(loss, gradient: nil)`: what `Trainer` calls in an eager step.
    public func backward(_ loss: Tensor) throws { try backward(loss, gradient: nil) }

    /// This process's rank in `communicator`.
    public var rank: Int { communicator.rank }
    /// Ranks in `communicator`.
    public var size: Int { communicator.size }

    /// The loss and the gradients averaged over the ranks, as ops for a compiled training step
    /// (`CompiledTrainingStep(averaging:)`): gradients in buckets of `bucketCapacity` bytes, last
    /// first, each one all-reduce (`AllReduceMeanOp`); the loss travels with the first bucket of
    /// its dtype. Gradients are Float32 or Float64; the loss [] is either.
    public func averaged(loss: Tensor, gradients: [Tensor]) -> (loss: Tensor, gradients: [Tensor]) {
        guard communicator.usesMPI else { return (loss, gradients) }
        var averaged = gradients, averagedLoss: Tensor?
        for bucket in GradientBucket.plan(gradients.map { $0.spec }, capacity: bucketCapacity) {
            let withLoss = averagedLoss == nil && loss.dtype == bucket.dtype
            let inputs = bucket.members.map { gradients[$0] } + (withLoss ? [loss] : [])
            let outputs = Tensor.apply(AllReduceMeanOp(communicator: communicator, count: inputs.count), inputs)
            for (position, member) in bucket.members.enumerated() { averaged[member] = outputs[position] }
            if withLoss { averagedLoss = outputs.last }
        }
        return (averagedLoss ?? Tensor.apply(AllReduceMeanOp(communicator: communicator, count: 1), [loss])[0], averaged)
    }

    /// Each number summed over the ranks.
    public func sum(_ values: [Double]) throws -> [Double] { try communicator.allReduce(values, op: .sum) }

    /// Averages the module's floating-point buffers (BatchNorm's running mean and variance) over
    /// the ranks, in place, when `synchronizesBuffers`; each rank's own otherwise.
    public func synchronizeBuffers() throws {
        guard synchronizesBuffers, communicator.usesMPI else { return }
        for (_, buffer) in module.namedBuffers() where buffer.value.dtype == .float32 || buffer.value.dtype == .float64 {
            var value = buffer.value
            try communicator.allReduce(&value, op: .mean)
            buffer.value = value
        }
    }

    /// Averages every trainable parameter's gradient over the ranks, bucket by bucket, after a
    /// backward pass that was run without `backward(_:)`.
    public func averageGradients() throws {
        try GradientExchange(communicator: communicator, parameters: parameters.map(\.1), buckets: currentBuckets()).finish()
    }

    /// The buckets for the parameters trainable now (planned again when they change).
    private func currentBuckets() -> [GradientBucket] {
        let layout = parameters.map { $0.1.isTrainable ? $0.1.value.spec : nil }
        if let plan, plan.layout == layout { return plan.buckets }
        let buckets = GradientBucket.plan(parameters.map(\.1), capacity: bucketCapacity)
        plan = (layout, buckets)
        return buckets
    }
}
