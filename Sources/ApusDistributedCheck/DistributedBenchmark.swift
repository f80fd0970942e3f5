import Apus
import ApusDistributed
import ApusNN
import ApusOptimizers
import ApusTrain
import CApusMPI
import CMPI
import Foundation

/// Not a check: `make bench-distributed` (Benchmarks/distributed/run.sh) runs it alone and
/// under `mpirun -np 2`. Rank 0 prints Markdown table rows:
/// - all-reduce (sum, Float32) of 1–100 MB: Apus' `allReduce` on a tensor next to a raw
///   `MPI_Allreduce` loop on a Swift array, alternating (and alternating which goes first), the
///   median of 21 (up to 4 MB) or 7 after 2 warm-ups, with the
///   bus bandwidth 2(N−1)/N · bytes / time and Apus' ratio to the raw loop;
/// - one easy-VQA training step (64×64, batch 32 per rank, Adam), median of 10 after 3
///   warm-ups: compute alone (no exchange), the exchange after the backward pass
///   (`averageGradients`), and overlapped with it (`DataParallel.backward`); the time the overlap
///   hides is (after − overlapped) of the exchange's cost (after − compute).
func benchmarkDistributed(_ world: Communicator) throws {
    if world.usesMPI { try benchmarkAllReduce(world) }
    try benchmarkVQAStep(world)
}

/// Median of `times`.
private func median(_ times: [Double]) -> Double { times.sorted()[times.count / 2] }

/// Seconds `body` takes, after a barrier (every rank starts together).
private func timed(_ world: Communicator, _ body: () throws -> Void) throws -> Double {
    try world.barrier()
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

private func benchmarkAllReduce(_ world: Communicator) throws {
    if world.rank == 0 {
        print("| message | Apus allReduce | raw MPI_Allreduce | Apus bus bandwidth | raw bus bandwidth | Apus / raw (speed) |")
        print("|---|---|---|---|---|---|")
    }
    for megabytes in [1, 4, 16, 64, 100] {
        let count = megabytes * 1_000_000 / 4
        var tensor = Tensor.ones([count])
        var raw = [Float](repeating: 1, count: count)
        var apusTimes: [Double] = [], rawTimes: [Double] = []
        let runs = megabytes <= 4 ? 23 : 9   // small messages are quick: more samples
        for run in 0..<runs {
            func apus() throws -> Double { try timed(world) { try world.allReduce(&tensor, op: .sum) } }
            func plain() throws -> Double {
                try timed(world) {
                    let code = raw.withUnsafeMutableBufferPointer {
                        MPI_Allreduce(apus_mpi_in_place(), $0.baseAddress, Int32(count), apus_mpi_float(), apus_mpi_sum(), apus_mpi_comm_world())
                    }
                    guard code == MPI_SUCCESS else { throw CheckFailure(description: "raw MPI_Allreduce failed: \(code)") }
                }
            }
            // Alternating which goes first, so neither always follows the other's traffic.
            var (a, r) = (0.0, 0.0)
            if run % 2 == 0 { a = try apus(); r = try plain() } else { r = try plain(); a = try apus() }
            if run >= 2 { apusTimes.append(a); rawTimes.append(r) }
        }
        let (a, r) = (median(apusTimes), median(rawTimes))
        let factor = 2 * Double(world.size - 1) / Double(world.size) * Double(count * 4) / 1e9
        if world.rank == 0 {
            print(String(format: "| %d MB | %.2f ms | %.2f ms | %.2f GB/s | %.2f GB/s | %.2f× |", megabytes, a * 1e3, r * 1e3, factor / a, factor / r, r / a))
        }
    }
}

private func benchmarkVQAStep(_ world: Communicator) throws {
    let batch = 32
    let generator = RandomGenerator(seed: 7)
    let model = try ReferenceModels.visualQuestionAnswering(vocabularySize: 1000, answers: 13, imageSize: 64, generator: generator)
    let parallel = try DataParallel(model, communicator: world)
    let optimizer = Adam(parameters: model.parameters(), learningRate: 1e-4)
    let image = Tensor.normal([batch, 3, 64, 64], generator: generator)
    let question = Tensor(shape: [batch, 12], scalars: (0..<(batch * 12)).map { Int64(($0 * 7 + world.rank) % 1000) })
    let answer = Tensor(shape: [batch], scalars: (0..<batch).map { Int64(($0 + world.rank) % 13) })
    func loss() -> Tensor {
        optimizer.zeroGrad()
        return crossEntropy(logits: model(["image": image, "question": question])[0], labels: answer)
    }
    let modes: [(String, () throws -> Void)] = [
        ("compute only (no exchange)", { loss().backward(); optimizer.step() }),
        ("exchange after the backward pass", { loss().backward(); try parallel.averageGradients(); optimizer.step() }),
        ("exchange overlapped with the backward pass", { try parallel.backward(loss()); optimizer.step() }),
    ]
    var medians: [Double] = []
    for (_, step) in modes {
        var times: [Double] = []
        for run in 0..<13 {
            let t = try timed(world, step)
            if run >= 3 { times.append(t) }
        }
        medians.append(try maxOverRanks(world, median(times)))   // the slowest rank sets the pace
    }
    guard world.rank == 0 else { return }
    let threads = ProcessInfo.processInfo.environment["APUS_NUM_THREADS"] ?? "all cores"
    print("VQA step (64×64, batch \(batch) per rank, Adam), \(world.size) rank\(world.size == 1 ? "" : "s"), APUS_NUM_THREADS=\(threads), \(parallel.bucketNames.count) buckets:")
    for ((name, _), time) in zip(modes, medians) {
        print(String(format: "- %@: %.1f ms (%.0f examples/s over all ranks)", name, time * 1e3, Double(batch * world.size) / time))
    }
    if world.usesMPI {
        let cost = medians[1] - medians[0], hidden = medians[1] - medians[2]
        print(String(format: "- exchange cost %.1f ms; the overlap hides %.1f ms of it (%.0f %%)", cost * 1e3, hidden * 1e3, cost > 0 ? 100 * hidden / cost : 0))
    }
}

/// The largest of every rank's `value`.
private func maxOverRanks(_ world: Communicator, _ value: Double) throws -> Double {
    try world.allGather(Tensor(shape: [1], scalars: [value], dtype: .float64)).scalars(as: Double.self).max()!
}
