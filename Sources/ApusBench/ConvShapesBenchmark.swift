import Apus
import Foundation

/// The convolutions of ResNet-18 on 32×32 images and of the VQA model at 64×64 (batch 64) one by one — forward, input
/// gradient and weight gradient — in GFLOP/s, as an unbiased `conv2d` runs them (im2col + GEMM;
/// the direct kernels serve biased convolutions of few channels). `apus-bench conv-shapes`.
enum ConvShapesBenchmark {
    /// (input channels, output channels, image size, kernel, stride, padding) of each distinct layer.
    static let shapes: [(c: Int, o: Int, size: Int, k: Int, stride: Int, pad: Int)] = [
        (3, 64, 32, 3, 1, 1), (64, 64, 32, 3, 1, 1),
        (64, 128, 32, 3, 2, 1), (128, 128, 16, 3, 1, 1), (64, 128, 32, 1, 2, 0),
        (128, 256, 16, 3, 2, 1), (256, 256, 8, 3, 1, 1), (128, 256, 16, 1, 2, 0),
        (256, 512, 8, 3, 2, 1), (512, 512, 4, 3, 1, 1), (256, 512, 8, 1, 2, 0),
        (3, 32, 64, 3, 1, 1), (32, 64, 32, 3, 1, 1), (64, 128, 16, 3, 1, 1),   // the VQA model's at 64×64
    ]

    static func run(peers: [String: Any]) -> String {
        let batch = 64, g = RandomGenerator(seed: 0)
        var lines = ["| C→O | image | kernel | stride | forward GFLOP/s | input grad GFLOP/s | weight grad GFLOP/s | forward, input grad with im2col + GEMM |",
                     "|---|---|---|---|---|---|---|---|"]
        for s in shapes {
            let geometry = Conv2dGeometry(stride: (s.stride, s.stride), padding: (s.pad, s.pad))
            let x = Tensor.uniform([batch, s.c, s.size, s.size], generator: g), w = Tensor.uniform([s.o, s.c, s.k, s.k], generator: g)
            let y = Tensor.apply(Conv2dOp(geometry: geometry), [x, w])[0]
            let flops = 2.0 * Double(y.count * s.c * s.k * s.k)
            func rates() -> (forward: Double, input: Double) {
                let forward = CoreBenchmark.median(runs: 5, warmup: 1) { _ = Tensor.apply(Conv2dOp(geometry: geometry), [x, w]) }
                let input = CoreBenchmark.median(runs: 5, warmup: 1) {
                    _ = Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape, direct: false), [y, w])
                }
                return (flops / forward / 1e9, flops / input / 1e9)
            }
            let chosen = rates()
            let weight = CoreBenchmark.median(runs: 5, warmup: 1) { _ = Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape, direct: false), [x, y]) }
            // Where Winograd applies (3×3 stride 1), the same products without it, in the same run.
            var plain = ""
            if s.k == 3 && s.stride == 1 && s.c >= 16 && s.o >= 16 {
                Conv2dOp.usesWinograd = false
                let gemm = rates()
                Conv2dOp.usesWinograd = true
                plain = String(format: "%.1f, %.1f", gemm.forward, gemm.input)
            }
            lines.append(String(format: "| %d→%d | %d×%d | %d×%d | %d | %.1f | %.1f | %.1f | %@ |", s.c, s.o, s.size, s.size, s.k, s.k, s.stride,
                                chosen.forward, chosen.input, flops / weight / 1e9, plain))
        }
        return lines.joined(separator: "\n") + "\n\nGFLOP/s count a direct convolution's 2·C·KH·KW multiply-adds per output; Winograd F(2×2, 3×3) does 2.25× fewer."
    }
}
