import Apus
import Foundation

/// Graph mode's backward pass of a pooled ReLU convolution, on the VQA model's layers 2 and 3
/// (batch 32): from window codes, over the pixels that get a gradient
/// (conv_pooled_backward.c), against the dense strips it replaced (indices and the ReLU mask).
/// Both give the same numbers; this is where the time differs.
enum PooledBackwardBenchmark {
    /// Milliseconds (median of `runs`) of one `Conv2dBackwardOp` for input [32, c, size, size]
    /// and o output channels: (from window codes, dense from indices).
    static func milliseconds(c: Int, o: Int, size: Int, runs: Int) -> (codes: Double, dense: Double) {
        let g = RandomGenerator(seed: 4)
        let x = Tensor.normal([32, c, size, size], generator: g), w = Tensor.normal([o, c, 3, 3], generator: g) * 0.1
        let bias = Tensor.normal([o], generator: g) * 0.1
        let convolution = Conv2dGeometry(padding: (1, 1)), pool = PoolGeometry(kernel: (2, 2))
        func time(windowCodes: Bool) -> Double {
            let forward = Conv2dMaxPoolOp(convolution: convolution, relu: true, pool: pool, windowCodes: windowCodes)
            let inputs = [x, w, bias]
            let pooled = forward.cpu(inputs, try! forward.outputSpecs(inputs.map(\.spec)))
            let cotangent = Tensor.normal(pooled[0].shape, generator: g)
            let backward = Conv2dBackwardOp(convolution: convolution, weightShape: w.shape, inputGradient: true, withBias: true, pool: pool,
                                            masked: !windowCodes, windowCodes: windowCodes)
            let arguments = [x, w, cotangent, pooled[1]] + (windowCodes ? [] : [pooled[0]])
            let specs = try! backward.outputSpecs(arguments.map(\.spec))
            return CoreBenchmark.median(runs: runs, warmup: 2) { _ = backward.cpu(arguments, specs) } * 1000
        }
        return (time(windowCodes: true), time(windowCodes: false))
    }

    /// A Markdown table of both passes' times per layer at each `APUS_VQA_SIZES` image size
    /// (default 64 and 224; `peers` is unused: the comparison is with Apus's own dense pass).
    static func run(peers: [String: Any]) -> String {
        let sizes = (ProcessInfo.processInfo.environment["APUS_VQA_SIZES"] ?? "64,224").split(separator: ",").compactMap { Int($0) }
        var lines = ["# Graph mode: backward pass of a pooled ReLU convolution (batch 32)", "",
                     "Machine: \(CoreBenchmark.cpuModel()), Apus threads \(CPUThreads.count).", "",
                     "| layer | image | from window codes, ms | dense from indices, ms | dense ÷ codes |", "|---|---|---|---|---|"]
        for size in sizes {
            for (c, o, scale, name) in [(32, 64, 2, "2 (32→64)"), (64, 128, 4, "3 (64→128)")] {
                let t = milliseconds(c: c, o: o, size: size / scale, runs: size >= 128 ? 9 : 31)
                lines.append(String(format: "| %@ | %d×%d | %.2f | %.2f | %.2f× |", name, size / scale, size / scale, t.codes, t.dense, t.dense / t.codes))
            }
        }
        return lines.joined(separator: "\n")
    }
}
