import Apus
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

/// Four classic training workloads beyond the VQA model, one full iteration each (forward,
/// loss, backward, optimizer step; clipping where stated), as a new user writes them with the
/// public API — in eager mode, or as one compiled graph (`CompiledTrainingStep`):
///
/// - `resnet18`: CIFAR ResNet-18, batch 64 of 3×32×32, SGD momentum 0.9, weight decay 5e-4;
/// - `transformer`: 4-layer pre-LN Transformer LM (width 256, 4 heads, FFN 1024 GELU, causal),
///   vocabulary 8000, batch 16 × 128 tokens, AdamW 3e-4;
/// - `mlp`: 784-1024-1024-10 ReLU, batch 256, Adam;
/// - `lstm`: word LM, Embedding(10000, 512), 2-layer LSTM 512, Linear 10000, 35 steps × batch
///   20, SGD lr 1, gradient norm clipped to 0.25.
///
/// `apus-bench breadth --workload W --mode eager|graph [--json out.json]`: median seconds of 20
/// iterations after 5 warm-ups, peak RSS, parameter count (`Benchmarks/breadth/run.sh` runs
/// every workload and mode, and PyTorch's, one process each). `APUS_PROFILE=1` adds the time
/// per op.
enum BreadthBenchmark {
    /// A workload: its module, optimizer, clipping, one synthetic batch and the loss of a batch.
    struct Workload {
        let module: Module
        let optimizer: Optimizer
        let clipping: GradientClipping?
        let batch: [Tensor]
        let loss: ([Tensor]) -> Tensor
    }

    static func workload(_ name: String) -> Workload? {
        let g = RandomGenerator(seed: 0)
        func ids(_ shape: [Int], below bound: Int) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int64(g.nextInt(below: bound)) })
        }
        switch name {
        case "resnet18":
            let net = ResNet18(classes: 10, generator: g)
            return Workload(module: net, optimizer: SGD(parameters: net.parameters(), learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4),
                            clipping: nil, batch: [Tensor.uniform([64, 3, 32, 32], generator: g), ids([64], below: 10)]) {
                crossEntropy(logits: net($0[0]), labels: $0[1])
            }
        case "transformer":
            let net = TransformerLanguageModel(vocabulary: 8000, maxLength: 128, generator: g)
            return Workload(module: net, optimizer: AdamW(parameters: net.parameters(), learningRate: 3e-4),
                            clipping: nil, batch: [ids([16, 128], below: 8000), ids([16, 128], below: 8000)]) {
                crossEntropy(logits: net($0[0]).reshaped([-1, 8000]), labels: $0[1].reshaped([-1]))
            }
        case "mlp":
            let net = Sequential(Linear(784, 1024, generator: g), ReLU(), Linear(1024, 1024, generator: g), ReLU(), Linear(1024, 10, generator: g))
            return Workload(module: net, optimizer: Adam(parameters: net.parameters(), learningRate: 1e-3),
                            clipping: nil, batch: [Tensor.uniform([256, 784], generator: g), ids([256], below: 10)]) {
                crossEntropy(logits: net($0[0]), labels: $0[1])
            }
        case "lstm":
            let net = LSTMLanguageModel(vocabulary: 10000, width: 512, layers: 2, generator: g)
            return Workload(module: net, optimizer: SGD(parameters: net.parameters(), learningRate: 1),
                            clipping: .norm(0.25), batch: [ids([35, 20], below: 10000), ids([35, 20], below: 10000)]) {
                crossEntropy(logits: net($0[0]).reshaped([-1, 10000]), labels: $0[1].reshaped([-1]))
            }
        default:
            return nil
        }
    }

    /// One training iteration of `w`: eager, or a compiled step built on first use.
    static func stepper(_ w: Workload, graph: Bool) -> () -> Void {
        if graph {
            let step = CompiledTrainingStep(module: w.module, optimizer: w.optimizer, clipping: w.clipping) { [w.loss($0)] }
            return { _ = try! step(w.batch) }
        }
        return {
            w.optimizer.zeroGrad()
            let loss = w.loss(w.batch)
            loss.backward()
            if let clipping = w.clipping { clipping.clip(w.optimizer.parameters) }
            w.optimizer.step()
        }
    }

    static func run(peers: [String: Any]) -> String {
        let name = option("--workload") ?? "mlp", mode = option("--mode") ?? "eager"
        guard let w = workload(name), ["eager", "graph"].contains(mode) else {
            return "usage: apus-bench breadth --workload resnet18|transformer|mlp|lstm --mode eager|graph [--json out.json]"
        }
        let iterations = option("--iterations").flatMap { Int($0) } ?? 20
        let step = stepper(w, graph: mode == "graph")
        for _ in 0..<5 { step() }
        var times: [Double] = []
        for _ in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            step()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let seconds = times.sorted()[iterations / 2]
        let result: [String: Any] = ["framework": "apus", "mode": mode, "workload": name, "seconds": seconds, "times": times,
                                     "peak_rss_mib": VQABenchmark.peakResidentMiB(), "parameters": w.module.parameterCount,
                                     "threads": CPUThreads.count]
        if let path = option("--json") {
            guard let data = try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]),
                  FileManager.default.createFile(atPath: path, contents: data) else {
                FileHandle.standardError.write("apus-bench: cannot write \(path)\n".data(using: .utf8)!)
                exit(1)
            }
        }
        var lines = [String(format: "apus %@ %@: %.4f s/iter, peak RSS %.0f MiB, %d parameters", mode, name, seconds,
                            VQABenchmark.peakResidentMiB(), w.module.parameterCount)]
        if ProcessInfo.processInfo.environment["APUS_PROFILE"] == "1" {
            OpProfiler.start()
            for _ in 0..<5 { step() }
            lines += ["", OpProfiler.table(OpProfiler.stop())]
        }
        return lines.joined(separator: "\n")
    }
}
