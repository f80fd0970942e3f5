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
        let optimizer = Adam(parameters: model.parameters(), learningRate: 1e-3)
        let batch: Example = ["image": Tensor.uniform([32, 3, imageSize, imageSize], generator: g),
                              "question": Tensor(shape: [32, 12], scalars: (0..<384).map { Int64($0 % 1000) }),
                              "answer": Tensor(shape: [32], scalars: (0..<32).map { Int64($0 % 13) })]
        if ProcessInfo.processInfo.environment["APUS_PHASES"] == "1" {
            for _ in 0..<3 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                optimizer.zeroGrad()
                let loss = crossEntropy(logits: model(batch)[0], labels: batch["answer"]!)
                _ = loss.item()
                let t1 = DispatchTime.now().uptimeNanoseconds
                loss.backward()
                let t2 = DispatchTime.now().uptimeNanoseconds
                optimizer.step()
                let t3 = DispatchTime.now().uptimeNanoseconds
                print("forward \(Double(t1 - t0) / 1e6) ms, backward \(Double(t2 - t1) / 1e6) ms, update \(Double(t3 - t2) / 1e6) ms")
            }
        }
        return CoreBenchmark.median(runs: iterations, warmup: 5) {
            optimizer.zeroGrad()
            crossEntropy(logits: model(batch)[0], labels: batch["answer"]!).backward()
            optimizer.step()
        }
    }

    static func run(peers: [String: Any]) -> String {
        let sizes = (ProcessInfo.processInfo.environment["APUS_VQA_SIZES"] ?? "64").split(separator: ",").compactMap { Int($0) }
        var lines = ["# Apus VQA training iteration (batch 32, eager)", "", "| image size | s/iter | peak RSS MiB |", "|---|---|---|"]
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
