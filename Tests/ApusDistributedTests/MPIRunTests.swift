import ApusTestSupport
import Foundation
import Testing

/// The `apus-distributed-check` binary built next to the tests (beside the test runner, else in `.build/debug`).
let checkBinary: URL = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("apus-distributed-check")
    if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/apus-distributed-check")
}()

/// What a run printed (stdout and stderr together), how it ended and how long it took.
struct Launch {
    let status: Int32
    let output: String
    let seconds: Double
    let timedOut: Bool
}

/// Runs `executable arguments…` (with `environment` added to this process's), stopping it
/// (SIGTERM) after `limit` seconds.
func launch(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], limit: Double = 180) throws -> Launch {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("apus-mpi-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = handle
    process.standardError = handle
    let start = Date()
    try process.run()
    while process.isRunning && Date().timeIntervalSince(start) < limit { usleep(20_000) }
    let timedOut = process.isRunning
    if timedOut { process.terminate() }
    process.waitUntilExit()
    let seconds = Date().timeIntervalSince(start)
    try handle.close()
    return Launch(status: process.terminationStatus, output: try String(contentsOf: log, encoding: .utf8), seconds: seconds, timedOut: timedOut)
}

/// `mpirun --allow-run-as-root --oversubscribe -np <ranks> apus-distributed-check <scenario>`
/// (with `mpirunOptions` and `mpirunEnvironment`).
func mpirunCheck(_ scenario: String, ranks: Int = 2, limit: Double = 180) throws -> Launch {
    try launch(mpirun!, mpirunOptions + ["-np", "\(ranks)", checkBinary.path, scenario], environment: mpirunEnvironment, limit: limit)
}

/// The checks of `apus-distributed-check` on two ranks over loopback (see its main.swift).
@Suite(.serialized, .enabled(if: mpirun != nil, "mpirun is missing (scripts/install-system-deps.sh installs openmpi-bin): the 2-rank MPI checks did NOT run"))
struct MPIRunTests {
    /// Expects every rank to report `scenario` ok and the job to succeed.
    func expectPasses(_ scenario: String, ranks: Int = 2) throws {
        let run = try mpirunCheck(scenario, ranks: ranks)
        #expect(run.status == 0 && !run.timedOut, "\(scenario) on \(ranks) ranks failed:\n\(run.output)")
        for rank in 0..<ranks { #expect(run.output.contains("rank \(rank)/\(ranks): \(scenario) ok"), "\(run.output)") }
    }

    @Test func collectivesGiveKnownValuesOnTwoRanks() throws { try expectPasses("collectives") }

    @Test func twoRanksWithBatchBTrainLikeOneProcessWithBatch2B() throws { try expectPasses("training") }

    /// `Trainer.fit` with a `DataParallel` group, eager and in graph mode (hybridize).
    @Test func trainerFitOnTwoRanksEqualsOneProcessEagerAndCompiled() throws { try expectPasses("trainer") }

    @Test func samplerSharesCoverEveryExampleOncePerEpoch() throws { try expectPasses("sampler") }

    @Test func threeRanksToo() throws {
        for scenario in ["collectives", "training", "trainer", "sampler"] { try expectPasses(scenario, ranks: 3) }
    }

    @Test func killingOneRankEndsTheJobWithAClearErrorWithin30Seconds() throws {
        let run = try mpirunCheck("kill-rank", limit: 90)
        print("kill-rank: the job ended \(String(format: "%.1f", run.seconds)) s after launch, status \(run.status)")
        #expect(!run.timedOut && run.seconds < 30, "the job ran \(run.seconds) s after rank 1 died:\n\(run.output)")
        #expect(run.status != 0)
        #expect(run.output.contains("apus: rank 0 of 2 (pid "), "rank 0 gave no one-line reason:\n\(run.output)")
        #expect(run.output.contains("stopped by mpirun (SIGTERM): another rank of the job failed"), "\(run.output)")
        #expect(run.output.contains("process rank 1") && run.output.contains("signal 9"), "mpirun did not name the dead rank:\n\(run.output)")
        #expect(!run.output.contains("still running"))
    }

    @Test func aRankExitingWithAnErrorAbortsTheJobWithin30Seconds() throws {
        let run = try mpirunCheck("exit-rank", limit: 90)
        print("exit-rank: the job ended \(String(format: "%.1f", run.seconds)) s after launch, status \(run.status)")
        #expect(!run.timedOut && run.seconds < 30, "the job ran \(run.seconds) s after rank 1 exited:\n\(run.output)")
        #expect(run.status != 0)
        #expect(run.output.contains("apus: rank 1 of 2 (pid "), "rank 1 gave no one-line reason:\n\(run.output)")
        #expect(run.output.contains("exited with status 4: stopping every rank of the job (MPI_Abort)"), "\(run.output)")
        // Rank 0's SIGTERM line usually follows, but after MPI_Abort mpirun may stop forwarding output first.
        #expect(!run.output.contains("still running"))
    }
}

/// The same checks without mpirun: a world of one process.
@Suite struct OneProcessCheckTests {
    @Test func checksPassWithoutMPIRun() throws {
        for scenario in ["collectives", "training", "trainer", "sampler"] {
            let run = try launch(checkBinary, [scenario])
            #expect(run.status == 0 && run.output.contains("rank 0/1: \(scenario) ok"), "\(scenario):\n\(run.output)")
        }
        let run = try launch(checkBinary, ["kill-rank"])
        #expect(run.status == 1 && run.output.contains("kill-rank needs at least 2 ranks"), "\(run.output)")
    }
}
