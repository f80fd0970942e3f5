import CApusMPI
import CMPI
import Foundation

/// The process's MPI library: started once (`MPI_Init_thread`) the first time the world
/// communicator is asked for in a process that `mpirun` launched. At exit, status 0 finishes it
/// (`MPI_Finalize`, which waits for the other ranks to finish too); any other status stops the
/// whole job (`MPI_Abort`), so a rank that gives up on an error never leaves the others waiting
/// in a collective. A process started without `mpirun` never starts MPI.
enum MPIRuntime {
    /// Whether `mpirun` (Open MPI's launcher, or a PMIx launcher such as `srun --mpi=pmix`)
    /// started this process: its environment then names the job's size and this rank.
    static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Starting MPI's outcome, computed once per process.
    static let started: Result<Void, any Error> = Result { try start() }

    private static func start() throws {
        var initialized: Int32 = 0
        try DistributedError.check(MPI_Initialized(&initialized), "MPI_Initialized")
        if initialized == 0 {
            // Serialized: one thread calls MPI at a time (the training loop); data-loading
            // threads never do.
            var provided: Int32 = 0
            try DistributedError.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided), "MPI_Init_thread")
            on_exit({ status, _ in MPIRuntime.finish(status: status) }, nil)
        }
        // Errors come back as codes (thrown as `DistributedError`) instead of aborting the job;
        // communicators split from the world inherit this handler.
        try DistributedError.check(MPI_Comm_set_errhandler(apus_mpi_comm_world(), apus_mpi_errors_return()),
                                   "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try DistributedError.check(MPI_Comm_rank(apus_mpi_comm_world(), &rank), "MPI_Comm_rank")
        try DistributedError.check(MPI_Comm_size(apus_mpi_comm_world(), &size), "MPI_Comm_size")
        // When another rank dies, mpirun stops this one with SIGTERM: say so in one line.
        identity = "rank \(rank) of \(size) (pid \(getpid()) on \(ProcessInfo.processInfo.hostName))"
        let note = "apus: \(identity) stopped by mpirun (SIGTERM): another rank of the job failed (see mpirun's message) or the job was cancelled\n"
        _ = apus_install_termination_note(note)
    }

    /// "rank 0 of 2 (pid 1234 on node1)", for messages at exit.
    nonisolated(unsafe) private static var identity = ""

    /// Whether MPI is finished (after `MPI_Finalize`): communicators are then left alone.
    static var isFinished: Bool {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        return finalized != 0
    }

    /// At exit: `MPI_Finalize` after a normal exit, `MPI_Abort` of the whole job after an error
    /// (said in one line: mpirun's own message about it is sometimes lost).
    private static func finish(status: Int32) {
        guard !isFinished else { return }
        if status == 0 {
            MPI_Finalize()
        } else {
            fputs("apus: \(identity) exited with status \(status): stopping every rank of the job (MPI_Abort)\n", stderr)
            MPI_Abort(apus_mpi_comm_world(), status)
        }
    }
}
