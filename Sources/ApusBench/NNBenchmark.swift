import Apus
import ApusNN
import Foundation

/// The nn issue's benchmarks: LSTM forward+backward and the VQA model's convolution stack,
/// next to PyTorch eager measured in the same run.
enum NNBenchmark {
    static func lstmMilliseconds() -> Double {
        let lstm = LSTM(inputSize: 128, hiddenSize: 256, batchFirst: true, generator: RandomGenerator(seed: 1))
        let x = Tensor.normal([32, 12, 128], generator: RandomGenerator(seed: 2))
        return CoreBenchmark.median(runs: 20, warmup: 5) {
            lstm.zeroGrad()
            lstm(x).output.sum().backward()
        } * 1000
    }

    static func convStackMilliseconds() -> Double {
        let g = RandomGenerator(seed: 3)
        let convs = Sequential(Conv2d(3, 32, kernelSize: 3, padding: 1, generator: g), ReLU(), MaxPool2d(2),
                               Conv2d(32, 64, kernelSize: 3, padding: 1, generator: g), ReLU(), MaxPool2d(2),
                               Conv2d(64, 128, kernelSize: 3, padding: 1, generator: g), ReLU(), MaxPool2d(2))
        let images = Tensor.uniform([32, 3, 64, 64], generator: g)
        return CoreBenchmark.median(runs: 20, warmup: 5) {
            convs.zeroGrad()
            convs(images).sum().backward()
        } * 1000
    }

    static func run(peers: [String: Any]) -> String {
        let only = ProcessInfo.processInfo.environment["APUS_BENCH_ONLY"]   // "lstm" or "conv", for profiling
        let lstm = only == "conv" ? .nan : lstmMilliseconds(), convs = only == "lstm" ? .nan : convStackMilliseconds()
        if ProcessInfo.processInfo.environment["APUS_PROFILE"] == "1" {
            OpProfiler.start()
            if only != "conv" { _ = lstmMilliseconds() }
            if only != "lstm" { _ = convStackMilliseconds() }
            print(OpProfiler.table(OpProfiler.stop()))
        }
        func row(_ name: String, _ ours: Double, _ key: String) -> String {
            guard let theirs = peers[key] as? Double else { return "| \(name) | \(String(format: "%.2f", ours)) | not measured | — |" }
            return "| \(name) | \(String(format: "%.2f", ours)) | \(String(format: "%.2f", theirs)) | \(String(format: "%.2f×", theirs / ours)) |"
        }
        return [
            "# Apus nn benchmarks",
            "",
            "Machine: \(CoreBenchmark.cpuModel()), Apus threads \(CPUThreads.count), OpenBLAS kernels \(CPUBackendInfo.blasKernels); PyTorch \(peers["torch_version"] as? String ?? "not run").",
            "",
            "| forward + backward, ms (median of 20) | Apus | PyTorch eager | speed-up (PyTorch ÷ Apus) |",
            "|---|---|---|---|",
            row("LSTM, batch 32, length 12, input 128, hidden 256", lstm, "lstm_fwdbwd_ms"),
            row("Conv stack 3→32→64→128 (+ReLU+MaxPool), batch 32, 64×64", convs, "convstack_fwdbwd_ms"),
            "",
            "Target: no slower than PyTorch eager (speed-up ≥ 1).",
        ].joined(separator: "\n")
    }
}
