// apus-distributed-check: checks of ApusDistributed meant to run under
// `mpirun --allow-run-as-root --oversubscribe -np 2 apus-distributed-check <scenario>` (Tests/ApusDistributedTests
// runs them; without mpirun they run as a world of one process).
//   collectives  all-reduce, broadcast, all-gather, split, non-blocking all-reduce, metric averaging
//   training     10 SGD steps of a small MLP, batch B per rank, against one process with batch N·B
//   trainer      Trainer.fit with a DataParallel group, eager and hybridized, against one process with batch N·B
//   sampler      the DistributedSampler's shares cover every example once per epoch
//   kill-rank    rank 1 kills itself (SIGKILL) while rank 0 all-reduces: the job must end, not hang
//   exit-rank    rank 1 exits with status 4 while rank 0 all-reduces: the job must end, not hang
//   bench        not a check: make bench-distributed's measurements (DistributedBenchmark.swift)
// Each rank prints "rank R/N: <scenario> ok"; a failed check prints one line and aborts the job.
import ApusDistributed
import Foundation

let scenarios: [String: (Communicator) throws -> Void] = [
    "collectives": checkCollectives, "training": checkTraining, "trainer": checkTrainer, "sampler": checkSampler, "kill-rank": killOneRank,
    "exit-rank": exitOneRankWithAnError, "bench": benchmarkDistributed,
]
let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 1, let scenario = arguments.first, let check = scenarios[scenario] else {
    FileHandle.standardError.write(Data("usage: apus-distributed-check \(scenarios.keys.sorted().joined(separator: "|"))\n".utf8))
    exit(2)
}
let world: Communicator
do {
    world = try Communicator.world()
} catch {
    FileHandle.standardError.write(Data("apus-distributed-check: \(error)\n".utf8))
    exit(1)
}
do {
    try check(world)
    print("rank \(world.rank)/\(world.size): \(scenario) ok")
} catch {
    FileHandle.standardError.write(Data("apus-distributed-check: rank \(world.rank)/\(world.size): \(scenario): \(error)\n".utf8))
    world.abort(exitCode: 1)
}
