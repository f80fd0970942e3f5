import Apus

/// The processes that train one model together, each on its own share of every batch (data
/// parallelism): what `Trainer` needs of them. `ApusDistributed.DataParallel` is one, over MPI.
///
/// With `trainer.group` set, every process runs the same `fit` (or `evaluate`) on its own
/// loader (its share of the data, as a `DistributedSampler` gives it) and:
/// - each step's loss is the mean over the processes, and every process takes the same update
///   (gradients averaged; a non-finite loss anywhere skips the update everywhere);
/// - an epoch's logs and the validation logs are over all processes' examples (the metrics'
///   `accumulated` sums are added up);
/// - only rank 0 prints progress and warnings.
///
/// Every process must call the same methods in the same order (collectives); a process whose
/// loader has fewer batches than the others would leave them waiting.
public protocol TrainingGroup: AnyObject {
    /// This process's place in the group, 0..<size; rank 0 prints and writes files.
    var rank: Int { get }
    /// Processes in the group.
    var size: Int { get }
    /// `loss.backward()`, then every trainable parameter's `grad` becomes its mean over the
    /// processes (each process's loss is the mean over its own batch).
    func backward(_ loss: Tensor) throws
    /// The loss [] and the gradients (of the trainable parameters, in the optimizer's order)
    /// averaged over the processes, as ops: traced into a compiled training step.
    func averaged(loss: Tensor, gradients: [Tensor]) -> (loss: Tensor, gradients: [Tensor])
    /// Each number summed over the processes (the same result on every process).
    func sum(_ values: [Double]) throws -> [Double]
    /// Makes the module's buffers (BatchNorm's running statistics) the same on every process:
    /// called at the end of each epoch, before validation and checkpoints.
    func synchronizeBuffers() throws
}

extension TrainingGroup {
    /// Each list of numbers summed element-wise over the processes, in one exchange: the same
    /// lists, of the same lengths, on every process (metrics' `accumulated` sums).
    public func sum(each lists: [[Double]]) throws -> [[Double]] {
        var sums = try sum(lists.flatMap { $0 })[...]
        return lists.map { list in
            defer { sums = sums.dropFirst(list.count) }
            return Array(sums.prefix(list.count))
        }
    }
}
