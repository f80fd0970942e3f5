import Apus
import CApusMPI
import CMPI

/// An all-reduce that is under way (`MPI_Iallreduce`): the caller computes meanwhile and calls
/// `wait()` before reading the tensor. MPI moves data only inside MPI calls, so calling
/// `isComplete()` now and then (between layers of a backward pass) keeps the transfer going.
///
/// ```swift
/// let pending = try world.startAllReduce(bucket, op: .mean)
/// … more backward work, pending.isComplete() …
/// try pending.wait()    // `bucket` (its storage) now holds the mean over ranks
/// ```
public final class PendingAllReduce {
    /// The tensor being reduced, in its own storage (kept alive while MPI writes to it).
    public let tensor: Tensor
    private let op: ReduceOp
    private let size: Int
    private var request: MPI_Request?
    private var finished = false

    init(tensor: Tensor, op: ReduceOp, size: Int, request: MPI_Request?) {
        (self.tensor, self.op, self.size, self.request) = (tensor, op, size, request)
    }

    deinit {
        // Never free memory MPI still writes to: finish the transfer first.
        if !finished, request != nil, !MPIRuntime.isFinished { MPI_Wait(&request, apus_mpi_status_ignore()) }
    }

    /// Whether the reduction is done (then `wait()` returns at once); lets MPI make progress.
    public func isComplete() throws -> Bool {
        if finished || request == nil { return true }
        var flag: Int32 = 0
        try DistributedError.check(MPI_Test(&request, &flag, apus_mpi_status_ignore()), "allReduce (test)")
        if flag != 0 { complete() }
        return finished
    }

    /// Waits for the reduction; afterwards `tensor`'s storage holds the result on every rank.
    public func wait() throws {
        if finished { return }
        if request != nil {
            try DistributedError.check(MPI_Wait(&request, apus_mpi_status_ignore()), "allReduce (wait)")
        }
        complete()
    }

    private func complete() {
        finished = true
        request = nil
        if op == .mean && size > 1 {
            Communicator.divide(tensor.floatElements, count: tensor.count, dtype: tensor.dtype, by: size)
        }
    }
}

extension Communicator {
    /// Starts combining `tensor` over every rank *in its own storage* (no copy-on-write: every
    /// tensor sharing that storage sees the result) and returns at once; `wait()` on the result
    /// before reading it. `tensor` must be contiguous, Float32 or Float64, with the same shape on
    /// every rank; give it storage of its own (a fresh buffer) unless sharing is what you want.
    /// Outside `mpirun` the reduction is complete at once (the tensor is unchanged).
    public func startAllReduce(_ tensor: Tensor, op: ReduceOp = .sum) throws -> PendingAllReduce {
        try requireFloat(tensor, "startAllReduce")
        guard tensor.isContiguous else { throw DistributedError("startAllReduce: the tensor must be contiguous (call .contiguous() first)") }
        guard let count = Int32(exactly: tensor.count) else {
            throw DistributedError("startAllReduce: \(tensor.count) elements are more than MPI can send at once (\(Int32.max))")
        }
        guard let handle else { return PendingAllReduce(tensor: tensor, op: op, size: 1, request: nil) }
        var request: MPI_Request? = apus_mpi_request_null()
        try DistributedError.check(MPI_Iallreduce(apus_mpi_in_place(), tensor.floatElements, count, tensor.mpiType, apus_mpi_sum(), handle, &request),
                                   "startAllReduce")
        return PendingAllReduce(tensor: tensor, op: op, size: size, request: request)
    }
}
