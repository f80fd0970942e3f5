import CApusKernels
import Foundation

/// 3×3, stride-1 Float32 convolutions by Winograd's F(2×2, 3×3) algorithm (`conv_winograd.c`):
/// 16 GEMMs of [O, C]·[C, tiles] on transformed 4×4 input tiles instead of one GEMM on 9×
/// im2col columns — 2.25× fewer multiplications, for slightly different rounding (the
/// transforms add and halve; errors stay within a few Float32 ulps of the products' magnitude).
///
/// It serves the forward product of `ConvKernel.run` (so also a stride-1 input gradient, which
/// is a forward convolution of the rotated weights) and the weight gradient (the forward pass's
/// adjoint) when `suits` says so. Images are shared out
/// over the worker pool; each thread transforms a chunk of its images at a time, sized so one
/// position's [C, tiles] slice stays in L2 cache.
enum WinogradConv {
    /// Whether convolutions that suit it use it: true unless the environment sets
    /// `APUS_WINOGRAD=0` or a benchmark comparing it with im2col + GEMM turns it off.
    nonisolated(unsafe) static var isEnabled = ProcessInfo.processInfo.environment["APUS_WINOGRAD"] != "0"

    /// Input and output channels below which im2col + GEMM stays (the 16 GEMMs get too thin).
    static let minimumChannels = 16

    /// Whether `x` [N, C, H, W] ∗ `w` [O, C, 3, 3] with `geometry` runs here: Float32, 3×3,
    /// stride 1, no dilation, one group, padding at most 2 each way (equal), at least
    /// `minimumChannels` channels in and out.
    static func suits(x: Tensor, w: Tensor, geometry g: Conv2dGeometry) -> Bool {
        isEnabled && x.dtype == .float32 && w.dtype == .float32 && w.rank == 4 && w.shape[2] == 3 && w.shape[3] == 3
            && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1 && g.groups == 1
            && g.padH == g.padW && (0...2).contains(g.padH)
            && w.shape[1] >= minimumChannels && w.shape[0] >= minimumChannels
            && x.shape[2] + 2 * g.padH >= 3 && x.shape[3] + 2 * g.padW >= 3
    }

    /// How a convolution of x [N, C, H, W] into [N, O, OH, OW] is cut up: 2×2 output tiles, the
    /// images shared out over `parts` threads, each thread working on `chunk` images at a time
    /// with V [16, C, ld] and M [16, O, ld] buffers (`ld` ≥ the chunk's tiles).
    struct Plan {
        let n, c, h, width, o, oh, ow, pad: Int
        let tilesH, tilesW, tilesPerImage, parts, perPart, chunk, ld: Int

        init(x: [Int], outputs o: Int, outputSize: (Int, Int), pad: Int) {
            (n, c, h, width, self.o, (oh, ow), self.pad) = (x[0], x[1], x[2], x[3], o, outputSize, pad)
            (tilesH, tilesW) = ((oh + 1) / 2, (ow + 1) / 2)
            tilesPerImage = tilesH * tilesW
            parts = Swift.max(1, Swift.min(WorkerPool.shared.threads, n))
            perPart = (n + parts - 1) / parts
            // One position's V slice [C, tiles] about 256 KB: a chunk of that many tiles' images.
            let targetTiles = Swift.max(64, (1 << 16) / c)
            chunk = Swift.max(1, Swift.min(perPart, targetTiles / tilesPerImage))
            // Rows a cache line longer than the chunk's tiles: the 16 positions' slices are then
            // not a power of two apart, so the transforms' 16 streams do not share cache sets.
            ld = chunk * tilesPerImage + 16
        }

        /// Per thread: V, M and the input transform's zero-bordered planes (one channel of a chunk).
        func buffers() -> [(v: Tensor, m: Tensor, scratch: Tensor)] {
            (0..<parts).map { _ in
                (Tensor(uninitialized: [16, c, ld], dtype: .float32), Tensor(uninitialized: [16, o, ld], dtype: .float32),
                 Tensor(uninitialized: [chunk * (2 * tilesH + 2) * (2 * tilesW + 2)], dtype: .float32))
            }
        }

        /// Runs `body(part, first image, images)` for every chunk, the parts on the worker pool.
        func forChunks(_ body: (Int, Int, Int) -> Void) {
            CPUThreads.forParts(parts) { part in
                let images = Swift.min(n, part * perPart)..<Swift.min(n, (part + 1) * perPart)
                for first in stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                    body(part, first, Swift.min(images.upperBound, first + chunk) - first)
                }
            }
        }

        /// V of `count` images of x from image `first`.
        func transformInput(_ x: Tensor, first: Int, count: Int, into v: Tensor, scratch: Tensor) {
            apus_winograd_input_f32(x.pointer(Float.self) + first * c * h * width, Int64(count), Int64(c), Int64(h), Int64(width), Int64(pad),
                                    Int64(tilesH), Int64(tilesW), v.pointer(Float.self), Int64(ld), scratch.pointer(Float.self))
        }
    }

    /// y [N, O, OH, OW] = x ∗ w; `epilogue(image)` runs after each image's outputs are written.
    static func forward(x: Tensor, w: Tensor, y: Tensor, geometry: Conv2dGeometry, epilogue: ((Int) -> Void)?) {
        let plan = Plan(x: x.shape, outputs: w.shape[0], outputSize: (y.shape[2], y.shape[3]), pad: geometry.padH)
        guard plan.n > 0, plan.oh > 0, plan.ow > 0 else { return }
        let (o, c, ld) = (plan.o, plan.c, plan.ld)
        let u = Tensor(uninitialized: [16, o, c], dtype: .float32)
        CPUThreads.forChunks(o, costPerItem: 64 * c) { outputs in
            apus_winograd_weights_f32(w.pointer(Float.self), Int64(o), Int64(c), Int64(outputs.lowerBound), Int64(outputs.count), u.pointer(Float.self))
        }
        let buffers = plan.buffers()
        plan.forChunks { part, first, count in
            let (v, m, scratch) = buffers[part]
            plan.transformInput(x, first: first, count: count, into: v, scratch: scratch)
            for position in 0..<16 {
                RawGEMM.singleThreaded(.float32, false, false, o, count * plan.tilesPerImage, c, u.rawPointer + position * o * c * 4, c,
                                       v.rawPointer + position * c * ld * 4, ld, 0, m.rawPointer + position * o * ld * 4, ld)
            }
            apus_winograd_output_f32(m.pointer(Float.self), Int64(count), Int64(o), Int64(plan.oh), Int64(plan.ow), Int64(plan.tilesH),
                                     Int64(plan.tilesW), Int64(ld), y.pointer(Float.self) + first * o * plan.oh * plan.ow)
            (first..<(first + count)).forEach { epilogue?($0) }
        }
    }

    /// dw [O, C, 3, 3] += the weight gradient for input x [N, C, H, W] and output gradient g
    /// [N, O, OH, OW]: the adjoint of `forward` (dM = A·g·Aᵀ per tile, dU[ξ] = Σ dM[ξ]·V[ξ]ᵀ over
    /// every tile, one accumulator per thread, then dw += Gᵀ·dU·G).
    static func weightGradient(x: Tensor, g: Tensor, dw: Tensor, geometry: Conv2dGeometry) {
        let plan = Plan(x: x.shape, outputs: dw.shape[0], outputSize: (g.shape[2], g.shape[3]), pad: geometry.padH)
        guard plan.n > 0, plan.oh > 0, plan.ow > 0 else { return }
        let (o, c, ld) = (plan.o, plan.c, plan.ld)
        let buffers = plan.buffers()
        let accumulators = (0..<plan.parts).map { _ in Tensor.zeros([16, o, c], dtype: .float32) }
        plan.forChunks { part, first, count in
            let (v, m, scratch) = buffers[part]
            plan.transformInput(x, first: first, count: count, into: v, scratch: scratch)
            apus_winograd_output_gradient_f32(g.pointer(Float.self) + first * o * plan.oh * plan.ow, Int64(count), Int64(o), Int64(plan.oh),
                                              Int64(plan.ow), Int64(plan.tilesH), Int64(plan.tilesW), m.pointer(Float.self), Int64(ld))
            for position in 0..<16 {
                RawGEMM.singleThreaded(.float32, false, true, o, c, count * plan.tilesPerImage, m.rawPointer + position * o * ld * 4, ld,
                                       v.rawPointer + position * c * ld * 4, ld, 1, accumulators[part].rawPointer + position * o * c * 4, c)
            }
        }
        let total = accumulators.dropFirst().reduce(accumulators[0]) { $0 + $1 }
        apus_winograd_weight_gradient_f32(total.contiguous().pointer(Float.self), Int64(o), Int64(c), dw.pointer(Float.self))
    }
}

extension Conv2dOp {
    /// Whether 3×3 stride-1 Float32 convolutions of at least 16 channels use Winograd's
    /// F(2×2, 3×3) algorithm (the default) rather than im2col + GEMM: a switch for benchmarks
    /// that compare the two. Do not change it while convolutions run.
    public static var usesWinograd: Bool {
        get { WinogradConv.isEnabled }
        set { WinogradConv.isEnabled = newValue }
    }
}
