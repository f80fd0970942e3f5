import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

/// One training iteration (forward, backward, Adam update) of the reference VQA model on
/// synthetic batches of fixed shapes: median seconds over 20 iterations after 5 warm-ups, and
/// the process's peak resident memory.
enum VQABenchmark {
    static func peakResidentMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static func stepSeconds(imageSize: Int, iterations: Int = 20) -> Double {
        let g = RandomGenerator(seed: 0)
        let model = ReferenceModels.visualQuestionAnswering(vocabularySize: 1000, answers: 13, imageSize: imageSize, generator: g)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 1e-3), loss: .crossEntropy, target: "answer")
        trainer.hybridize = hybridize
        let batch: Example = ["image": Tensor.uniform([32, 3, imageSize, imageSize], generator: g),
                              "question": Tensor(shape: [32, 12], scalars: (0..<384).map { Int64($0 % 1000) }),
                              "answer": Tensor(shape: [32], scalars: (0..<32).map { Int64($0 % 13) })]
        return CoreBenchmark.median(runs: iterations, warmup: 5) { _ = try! trainer.trainStep(batch) }
    }

    /// `APUS_HYBRIDIZE=1`: every step runs as a compiled graph.
    static let hybridize = ProcessInfo.processInfo.environment["APUS_HYBRIDIZE"] == "1"

    static func run(peers: [String: Any]) -> String {
        let sizes = (ProcessInfo.processInfo.environment["APUS_VQA_SIZES"] ?? "64").split(separator: ",").compactMap { Int($0) }
        var lines = ["# Apus VQA training iteration (batch 32, \(hybridize ? "hybridized" : "eager"))", "", "| image size | s/iter | peak RSS MiB |", "|---|---|---|"]
        for size in sizes {
            let seconds = stepSeconds(imageSize: size)
            lines.append(String(format: "| %d×%d | %.4f | %.0f |", size, size, seconds, peakResidentMiB()))
        }
        if ProcessInfo.processInfo.environment["APUS_PROFILE"] == "1", let size = sizes.first {
            OpProfiler.start()
            _ = stepSeconds(imageSize: size, iterations: 10)
            lines += ["", OpProfiler.table(OpProfiler.stop())]
        }
        return lines.joined(separator: "\n")
    }
}
