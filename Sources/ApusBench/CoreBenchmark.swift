import Apus
import CApusKernels
import Foundation

/// The core micro-benchmarks of the core issue: GEMM, the VQA model's first convolution, and
/// elementwise bandwidth, each next to its reference (numpy, PyTorch, memcpy).
enum CoreBenchmark {
    /// Median seconds of `body` over `runs` calls after `warmup` calls.
    static func median(runs: Int, warmup: Int = 3, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times.sorted()[runs / 2]
    }

    static func gemmGFLOPS(_ m: Int, _ k: Int, _ n: Int, runs: Int) -> Double {
        let a = Tensor.normal([m, k], generator: RandomGenerator(seed: 1))
        let b = Tensor.normal([k, n], generator: RandomGenerator(seed: 2))
        let seconds = median(runs: runs) { _ = a.matmul(b) }
        return 2 * Double(m * n * k) / seconds / 1e9
    }

    /// Forward and forward+backward milliseconds of conv2d (batch 32, 3→32 channels, 64×64, 3×3, padding 1, bias).
    static func convMilliseconds() -> (forward: Double, forwardBackward: Double) {
        let x = Tensor.normal([32, 3, 64, 64], generator: RandomGenerator(seed: 3)).requiringGrad()
        let w = (Tensor.normal([32, 3, 3, 3], generator: RandomGenerator(seed: 4)) * 0.1).requiringGrad()
        let b = Tensor.zeros([32]).requiringGrad()
        let forward = median(runs: 20) { withoutGrad { _ = conv2d(x, weight: w, bias: b, padding: (1, 1)) } }
        let both = median(runs: 20) {
            x.grad = nil; w.grad = nil; b.grad = nil
            conv2d(x, weight: w, bias: b, padding: (1, 1)).sum().backward()
        }
        return (forward * 1000, both * 1000)
    }

    /// GB/s of y = a + b over 16 Mi floats (3 × 64 MiB moved), and of memcpy over 64 MiB (2 × 64 MiB moved).
    static func bandwidth() -> (add: Double, memcpy: Double) {
        let n = 16 << 20
        let a = Tensor.ones([n]), b = Tensor.ones([n])
        let add = median(runs: 20) { _ = a + b }
        let source = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        memset(source, 1, n * 4)
        memset(destination, 0, n * 4)
        let copy = median(runs: 20) { memcpy(destination, source, n * 4) }
        source.deallocate()
        destination.deallocate()
        return (3 * Double(n * 4) / add / 1e9, 2 * Double(n * 4) / copy / 1e9)
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) else { return "unknown CPU" }
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }

    static func run(peers: [String: Any]) -> String {
        let gemm1024 = gemmGFLOPS(1024, 1024, 1024, runs: 50)
        let gemmSkinny = gemmGFLOPS(32, 4096, 256, runs: 200)
        let conv = convMilliseconds()
        let bw = bandwidth()
        func peer(_ key: String) -> Double? { peers[key] as? Double }
        func ratio(_ ours: Double, _ theirs: Double?, higherIsBetter: Bool) -> String {
            guard let theirs else { return "—" }
            return String(format: "%.2f×", higherIsBetter ? ours / theirs : theirs / ours)
        }
        func cell(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "not measured" }
        let levels = ["baseline", "AVX2+FMA", "AVX-512"]
        var lines = [
            "# Apus core benchmarks",
            "",
            "Machine: \(cpuModel()), \(ProcessInfo.processInfo.activeProcessorCount) cores; Apus threads \(CPUThreads.count), C kernels \(levels[Int(apus_cpu_level())]), OpenBLAS kernels \(CPUBackendInfo.blasKernels).",
            "Peers: numpy \(peers["numpy_version"] as? String ?? "not run"), PyTorch \(peers["torch_version"] as? String ?? "not run"), \(peers["threads"] as? Int ?? 0) threads.",
            "",
            "| measure | Apus | reference | Apus ÷ reference (higher is better) |",
            "|---|---|---|---|",
            "| sgemm 1024³ GFLOP/s | \(cell(gemm1024, "%.1f")) | numpy \(cell(peer("sgemm_1024_gflops"), "%.1f")) | \(ratio(gemm1024, peer("sgemm_1024_gflops"), higherIsBetter: true)) |",
            "| sgemm 32×4096·4096×256 GFLOP/s | \(cell(gemmSkinny, "%.1f")) | numpy \(cell(peer("sgemm_32x4096x256_gflops"), "%.1f")) | \(ratio(gemmSkinny, peer("sgemm_32x4096x256_gflops"), higherIsBetter: true)) |",
            "| conv2d forward ms (32×3×64×64 → 32 ch) | \(cell(conv.forward, "%.2f")) | PyTorch \(cell(peer("conv2d_fwd_ms"), "%.2f")) | \(ratio(conv.forward, peer("conv2d_fwd_ms"), higherIsBetter: false)) |",
            "| conv2d forward+backward ms | \(cell(conv.forwardBackward, "%.2f")) | PyTorch \(cell(peer("conv2d_fwdbwd_ms"), "%.2f")) | \(ratio(conv.forwardBackward, peer("conv2d_fwdbwd_ms"), higherIsBetter: false)) |",
            "| elementwise add GB/s (16 Mi floats) | \(cell(bw.add, "%.1f")) | memcpy \(cell(bw.memcpy, "%.1f")) | \(ratio(bw.add, bw.memcpy, higherIsBetter: true)) |",
        ]
        lines.append("")
        lines.append("Targets: GEMM ≥ 0.9× numpy; elementwise ≥ 0.7× memcpy.")
        return lines.joined(separator: "\n")
    }
}
