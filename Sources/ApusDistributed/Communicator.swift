import CApusMPI
import CMPI
import Foundation

/// A group of processes (ranks) that run collectives together: MPI's communicator.
///
/// `Communicator.world()` holds every process of the job that `mpirun` launched; `split` makes
/// subgroups. In a process started without `mpirun` the world is rank 0 of size 1 and every
/// collective leaves its tensor as it is (a sum or mean over one rank), so the same program runs
/// on one process unchanged. Call a communicator from one thread at a time; every rank must call
/// the same collectives in the same order, with tensors of the same shape and dtype.
///
/// ```swift
/// // mpirun -np 2 .build/release/my-training
/// let world = try Communicator.world()
/// var t = Tensor([Float(world.rank + 1)])   // [1] on rank 0, [2] on rank 1
/// try world.allReduce(&t, op: .sum)         // [3] on both
/// ```
public final class Communicator: @unchecked Sendable {
    /// The MPI communicator; nil for the one-process world outside `mpirun`.
    let handle: MPI_Comm?
    /// Whether `deinit` frees `handle` (split communicators; not the world).
    private let ownsHandle: Bool
    /// This process's position in the group, 0..<size.
    public let rank: Int
    /// Number of processes in the group.
    public let size: Int

    private init(handle: MPI_Comm?, ownsHandle: Bool) throws {
        self.handle = handle
        self.ownsHandle = ownsHandle
        guard let handle else {
            (rank, size) = (0, 1)
            return
        }
        var rank: Int32 = 0, size: Int32 = 0
        try DistributedError.check(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try DistributedError.check(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        (self.rank, self.size) = (Int(rank), Int(size))
    }

    deinit {
        if ownsHandle, handle != nil, !MPIRuntime.isFinished {
            var freed = handle
            MPI_Comm_free(&freed)
        }
    }

    /// Whether this process was started by `mpirun` (then `world()` starts MPI).
    public static var isLaunchedByMPI: Bool { MPIRuntime.isLaunchedByMPI }

    private static let worldResult: Result<Communicator, any Error> = Result {
        guard MPIRuntime.isLaunchedByMPI else { return try Communicator(handle: nil, ownsHandle: false) }
        try MPIRuntime.started.get()
        return try Communicator(handle: apus_mpi_comm_world(), ownsHandle: false)
    }

    /// Every process of the job. The first call starts MPI (`MPI_Init_thread`; `MPI_Finalize`
    /// runs at exit) when `mpirun` launched this process; otherwise the world is this process
    /// alone: rank 0 of size 1. Always the same object within a process.
    public static func world() throws -> Communicator { try worldResult.get() }

    /// Whether collectives here talk to other processes (false for the one-process world).
    public var usesMPI: Bool { handle != nil }

    /// Waits until every rank of the group has called `barrier()`.
    public func barrier() throws {
        guard let handle else { return }
        try DistributedError.check(MPI_Barrier(handle), "barrier")
    }

    /// Splits the group: ranks passing the same `color` form one new communicator, ordered by
    /// `key` (ties by their rank here). Every rank of this group must call it.
    ///
    /// ```swift
    /// let pairs = try world.split(color: world.rank / 2, key: world.rank)   // ranks {0,1}, {2,3}, …
    /// ```
    /// - Parameters:
    ///   - color: a non-negative group number.
    ///   - key: the order of ranks inside the new group.
    public func split(color: Int, key: Int) throws -> Communicator {
        guard color >= 0, color <= Int(Int32.max), let key32 = Int32(exactly: key) else {
            throw DistributedError("split: color must be in 0...\(Int32.max) and key a 32-bit integer (got color \(color), key \(key))")
        }
        guard let handle else { return try Communicator(handle: nil, ownsHandle: false) }
        var newHandle: MPI_Comm? = apus_mpi_comm_null()
        try DistributedError.check(MPI_Comm_split(handle, Int32(color), key32, &newHandle), "split")
        return try Communicator(handle: newHandle, ownsHandle: true)
    }

    /// Stops every process of the job at once (`MPI_Abort`) with `exitCode`: what a rank should
    /// do after a fatal error, so the others do not wait for it in their next collective. Without
    /// `mpirun` it exits this process with `exitCode`.
    public func abort(exitCode: Int32 = 1) -> Never {
        if let handle { MPI_Abort(handle, exitCode) }
        exit(exitCode)
    }
}
