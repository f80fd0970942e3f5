import Apus
import ApusDistributed
import Foundation

/// Rank 1 dies abruptly (SIGKILL, no clean-up) while every other rank keeps all-reducing: the
/// others must end — mpirun stops them (each prints one line) or a collective throws — instead
/// of waiting forever. A rank still running after 60 s says so and exits with status 3.
func killOneRank(_ world: Communicator) throws {
    try expect(world.size >= 2, "kill-rank needs at least 2 ranks (run it under mpirun -np 2)")
    try world.barrier()
    if world.rank == 1 {
        FileHandle.standardError.write(Data("rank 1: killing itself (SIGKILL)\n".utf8))
        kill(getpid(), SIGKILL)
    }
    var t = Tensor.ones([1 << 16])
    let start = Date()
    while Date().timeIntervalSince(start) < 60 { try world.allReduce(&t) }
    FileHandle.standardError.write(Data("rank \(world.rank): still running 60 s after rank 1 died\n".utf8))
    exit(3)
}

/// Rank 1 gives up with exit status 4 (as a program does after printing an error) while every
/// other rank keeps all-reducing: its exit aborts the job (`MPI_Abort`) instead of leaving the
/// others waiting. A rank still running after 60 s says so and exits with status 3.
func exitOneRankWithAnError(_ world: Communicator) throws {
    try expect(world.size >= 2, "exit-rank needs at least 2 ranks (run it under mpirun -np 2)")
    try world.barrier()
    if world.rank == 1 {
        FileHandle.standardError.write(Data("rank 1: exiting with status 4\n".utf8))
        exit(4)
    }
    var t = Tensor.ones([1 << 16])
    let start = Date()
    while Date().timeIntervalSince(start) < 60 { try world.allReduce(&t) }
    FileHandle.standardError.write(Data("rank \(world.rank): still running 60 s after rank 1 exited\n".utf8))
    exit(3)
}
