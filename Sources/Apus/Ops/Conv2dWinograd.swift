import CApusKernels
import Foundation

/// 3×3, stride-1 Float32 convolutions by Winograd's F(2×2, 3×3) algorithm (`conv_winograd.c`):
/// 16 GEMMs of [O, C]·[C, tiles] on transformed 4×4 input tiles instead of one GEMM on 9×
/// im2col columns — 2.25× fewer multiplications, for slightly different rounding (the
/// transforms add and halve; errors stay within a few Float32 ulps of the products' magnitude).
///
/// It serves the forward product of `ConvKernel.run` (so also a stride-1 input gradient, which
/// is a forward convolution of the rotated weights) when `suits` says so. Images are shared out
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

    /// y [N, O, OH, OW] = x ∗ w; `epilogue(image)` runs after each image's outputs are written.
    static func forward(x: Tensor, w: Tensor, y: Tensor, geometry: Conv2dGeometry, epilogue: ((Int) -> Void)?) {
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, oh, ow, pad) = (w.shape[0], y.shape[2], y.shape[3], geometry.padH)
        guard n > 0, oh > 0, ow > 0 else { return }
        let (tilesH, tilesW) = ((oh + 1) / 2, (ow + 1) / 2), tilesPerImage = (oh + 1) / 2 * ((ow + 1) / 2)
        let u = Tensor(uninitialized: [16, o, c], dtype: .float32)
        apus_winograd_weights_f32(w.pointer(Float.self), Int64(o), Int64(c), u.pointer(Float.self))

        let parts = Swift.min(WorkerPool.shared.threads, n), perPart = (n + parts - 1) / parts
        // One position's V slice [C, tiles] about 256 KB: a chunk of that many tiles' images.
        let targetTiles = Swift.max(64, (1 << 16) / c)
        let chunk = Swift.max(1, Swift.min(perPart, targetTiles / tilesPerImage))
        // Rows of V and M a cache line longer than the chunk's tiles: the 16 positions' slices are
        // then not a power of two apart, so the transforms' 16 streams do not share cache sets.
        let ld = chunk * tilesPerImage + 16
        let buffers = (0..<parts).map { _ in
            (v: Tensor(uninitialized: [16, c, ld], dtype: .float32), m: Tensor(uninitialized: [16, o, ld], dtype: .float32),
             scratch: Tensor(uninitialized: [4 * (2 * tilesW + 2)], dtype: .float32))
        }
        let (xImage, yImage) = (c * h * width, o * oh * ow)
        CPUThreads.forParts(parts) { part in
            let (v, m, scratch) = buffers[part]
            let images = Swift.min(n, part * perPart)..<Swift.min(n, (part + 1) * perPart)
            for first in stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                let count = Swift.min(images.upperBound, first + chunk) - first, columns = count * tilesPerImage
                apus_winograd_input_f32(x.pointer(Float.self) + first * xImage, Int64(count), Int64(c), Int64(h), Int64(width), Int64(pad),
                                        Int64(tilesH), Int64(tilesW), v.pointer(Float.self), Int64(ld), scratch.pointer(Float.self))
                for position in 0..<16 {
                    RawGEMM.singleThreaded(.float32, false, false, o, columns, c, u.rawPointer + position * o * c * 4, c,
                                           v.rawPointer + position * c * ld * 4, ld, 0, m.rawPointer + position * o * ld * 4, ld)
                }
                apus_winograd_output_f32(m.pointer(Float.self), Int64(count), Int64(o), Int64(oh), Int64(ow), Int64(tilesH), Int64(tilesW),
                                         Int64(ld), y.pointer(Float.self) + first * yImage, scratch.pointer(Float.self))
                (first..<(first + count)).forEach { epilogue?($0) }
            }
        }
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
