import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

/// One training iteration (forward, backward, Adam update) of the reference VQA model on
/// synthetic batches of fixed shapes: median seconds over 20 iterations after 5 warm-ups, the
/// process's peak resident memory, and the step's activation memory: the most bytes that
/// tensors held during one step beyond what was held before it (parameters, optimizer state,
/// the batch), plus the arena when the step runs as a compiled graph.
enum VQABenchmark {
    static func peakResidentMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    struct Measurement {
        var seconds: Double
        var activationBytes: Int
        var arenaBytes: Int
    }

    static func measure(imageSize: Int, iterations: Int = 20) -> Measurement {
        let g = RandomGenerator(seed: 0)
        let model = ReferenceModels.visualQuestionAnswering(vocabularySize: 1000, answers: 13, imageSize: imageSize, generator: g)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 1e-3), loss: .crossEntropy, target: "answer")
        trainer.hybridize = hybridize
        let batch: Example = ["image": Tensor.uniform([32, 3, imageSize, imageSize], generator: g),
                              "question": Tensor(shape: [32, 12], scalars: (0..<384).map { Int64($0 % 1000) }),
                              "answer": Tensor(shape: [32], scalars: (0..<32).map { Int64($0 % 13) })]
        let seconds = CoreBenchmark.median(runs: iterations, warmup: 5) { _ = try! trainer.trainStep(batch) }
        let before = CachingAllocator.shared.statistics.bytesInUse
        CachingAllocator.shared.resetPeakInUse()
        _ = try! trainer.trainStep(batch)
        let transient = CachingAllocator.shared.statistics.peakBytesInUse - before
        let arena = try! trainer.compiledStep?.arenaBytes(for: batch.keys.sorted().map { batch[$0]!.spec }) ?? 0
        if ProcessInfo.processInfo.environment["APUS_DUMP_GRAPH"] == "1", let step = trainer.compiledStep {
            FileHandle.standardError.write(Data("\(try! step.graph(for: batch.keys.sorted().map { batch[$0]!.spec }))\n".utf8))
        }
        return Measurement(seconds: seconds, activationBytes: transient + arena, arenaBytes: arena)
    }

    /// `APUS_HYBRIDIZE=1`: every step runs as a compiled graph.
    static let hybridize = ProcessInfo.processInfo.environment["APUS_HYBRIDIZE"] == "1"

    static func run(peers: [String: Any]) -> String {
        let sizes = (ProcessInfo.processInfo.environment["APUS_VQA_SIZES"] ?? "64").split(separator: ",").compactMap { Int($0) }
        var lines = ["# Apus VQA training iteration (batch 32, \(hybridize ? "hybridized" : "eager"))", "",
                     "| image size | s/iter | peak RSS MiB | activation MiB | arena MiB |", "|---|---|---|---|---|"]
        for size in sizes {
            let m = measure(imageSize: size)
            lines.append(String(format: "| %d×%d | %.4f | %.0f | %.1f | %.1f |", size, size, m.seconds, peakResidentMiB(),
                                Double(m.activationBytes) / 1048576, Double(m.arenaBytes) / 1048576))
        }
        if ProcessInfo.processInfo.environment["APUS_PROFILE"] == "1", let size = sizes.first {
            OpProfiler.start()
            _ = measure(imageSize: size, iterations: 10)
            lines += ["", OpProfiler.table(OpProfiler.stop())]
        }
        return lines.joined(separator: "\n")
    }
}
