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

    /// A trainer for the reference model at `imageSize` and one synthetic batch of 32.
    static func setUp(imageSize: Int, hybridize: Bool) -> (Trainer, Example) {
        let g = RandomGenerator(seed: 0)
        let model = try! ReferenceModels.visualQuestionAnswering(vocabularySize: 1000, answers: 13, imageSize: imageSize, generator: g)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 1e-3), loss: .crossEntropy, target: "answer")
        trainer.hybridize = hybridize
        let batch: Example = ["image": Tensor.uniform([32, 3, imageSize, imageSize], generator: g),
                              "question": Tensor(shape: [32, 12], scalars: (0..<384).map { Int64($0 % 1000) }),
                              "answer": Tensor(shape: [32], scalars: (0..<32).map { Int64($0 % 13) })]
        return (trainer, batch)
    }

    /// Activation bytes of one more step of `trainer` (see the type's description) and its arena.
    static func stepMemory(_ trainer: Trainer, _ batch: Example) -> (activation: Int, arena: Int) {
        let before = CachingAllocator.shared.statistics.bytesInUse
        CachingAllocator.shared.resetPeakInUse()
        _ = try! trainer.trainStep(batch)
        let transient = CachingAllocator.shared.statistics.peakBytesInUse - before
        let arena = try! trainer.compiledStep?.arenaBytes(for: batch.keys.sorted().map { batch[$0]!.spec }) ?? 0
        return (transient + arena, arena)
    }

    static func measure(imageSize: Int, iterations: Int = 20) -> Measurement {
        let (trainer, batch) = setUp(imageSize: imageSize, hybridize: hybridize)
        let seconds = CoreBenchmark.median(runs: iterations, warmup: 5) { _ = try! trainer.trainStep(batch) }
        let (activation, arena) = stepMemory(trainer, batch)
        return Measurement(seconds: seconds, activationBytes: activation, arenaBytes: arena)
    }

    /// Graph mode against eager mode in one process, steps interleaved (so both see the same
    /// machine load): median seconds of each, activation memory of each, the arena.
    static func compare(imageSize: Int, iterations: Int = 20) -> String {
        let (eager, batch) = setUp(imageSize: imageSize, hybridize: false), (graph, _) = setUp(imageSize: imageSize, hybridize: true)
        for _ in 0..<5 { _ = try! eager.trainStep(batch); _ = try! graph.trainStep(batch) }
        var eagerTimes: [Double] = [], graphTimes: [Double] = []
        func time(_ trainer: Trainer) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try! trainer.trainStep(batch)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        for _ in 0..<iterations {
            eagerTimes.append(time(eager))
            graphTimes.append(time(graph))
        }
        let e = eagerTimes.sorted()[iterations / 2], g = graphTimes.sorted()[iterations / 2]
        let eagerMemory = stepMemory(eager, batch), graphMemory = stepMemory(graph, batch)
        let mib = { (bytes: Int) in Double(bytes) / 1048576 }
        return String(format: "| %d×%d | %.4f | %.4f | %.2f× | %.1f | %.1f | %.2f× | %.1f |", imageSize, imageSize, e, g, g / e,
                      mib(eagerMemory.activation), mib(graphMemory.activation), Double(graphMemory.activation) / Double(eagerMemory.activation),
                      mib(graphMemory.arena))
    }

    /// `APUS_HYBRIDIZE=1`: every step runs as a compiled graph.
    static let hybridize = ProcessInfo.processInfo.environment["APUS_HYBRIDIZE"] == "1"

    static func run(peers: [String: Any]) -> String {
        let sizes = (ProcessInfo.processInfo.environment["APUS_VQA_SIZES"] ?? "64").split(separator: ",").compactMap { Int($0) }
        if ProcessInfo.processInfo.environment["APUS_VQA_COMPARE"] == "1" {
            return (["# Apus VQA training iteration: graph mode (hybridized) against eager, steps interleaved in one process (batch 32)", "",
                     "| image size | eager s/iter | graph s/iter | graph ÷ eager | eager activation MiB | graph activation MiB | graph ÷ eager | graph arena MiB |",
                     "|---|---|---|---|---|---|---|---|"] + sizes.map { compare(imageSize: $0) }).joined(separator: "\n")
        }
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
