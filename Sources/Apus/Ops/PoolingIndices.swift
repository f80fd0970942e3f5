import CApusKernels

/// Max pooling that also returns where each maximum came from: [N, C, H, W] →
/// (y [N, C, OH, OW], indices [N, C, OH, OW] int32, each the position iy·W + ix of its window's
/// first maximum within its plane). Its gradient (`MaxPool2dScatterOp`) needs only the indices,
/// so the pooled input can be freed right after pooling; graph mode rewrites `maxPool2d` to it.
public struct MaxPool2dWithIndicesOp: Operation {
    /// Kernel, stride, padding and rounding of the pooling window.
    public let geometry: PoolGeometry

    /// An op max-pooling its input [N, C, H, W] with `geometry` and returning the maxima's positions too.
    public init(geometry: PoolGeometry) {
        self.geometry = geometry
    }
    public var name: String { "maxPool2dWithIndices" }
    public var outputCount: Int { 2 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try geometry.specs(name, inputs)[0]
        try require(y.count < Int(Int32.max) && inputs[0].shape[2] * inputs[0].shape[3] < Int(Int32.max), name, inputs, "planes small enough for int32 indices")
        return [y, TensorSpec(y.shape, .int32)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense
        let y = Tensor(uninitialized: outputs[0].shape, dtype: x.dtype), indices = Tensor(uninitialized: outputs[1].shape, dtype: .int32)
        let (planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow) = geometry.args(x.shape, y.shape)
        let xp = SendablePointer(raw: x.rawPointer), yp = SendablePointer(raw: y.rawPointer), ip = SendablePointer(raw: indices.rawPointer)
        let inPlane = Int(h * w), outPlane = Int(oh * ow)
        CPUThreads.forChunks(Int(planes), costPerItem: inPlane) { r in
            let n = Int64(r.count), first = r.lowerBound
            let idx = ip.raw.assumingMemoryBound(to: Int32.self) + first * outPlane
            if x.dtype == .float32 {
                apus_maxpool_indices_f32(xp.raw.assumingMemoryBound(to: Float.self) + first * inPlane, n, h, w, kh, kw, sh, sw, ph, pw, oh, ow,
                                         yp.raw.assumingMemoryBound(to: Float.self) + first * outPlane, idx)
            } else {
                apus_maxpool_indices_f64(xp.raw.assumingMemoryBound(to: Double.self) + first * inPlane, n, h, w, kh, kw, sh, sw, ph, pw, oh, ow,
                                         yp.raw.assumingMemoryBound(to: Double.self) + first * outPlane, idx)
            }
        }
        return [y, indices]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(MaxPool2dScatterOp(geometry: geometry, inputShape: c.inputs[0].shape), [c.cotangents[0], c.outputs[1]])[0]]
    }
}

/// Gradient of `MaxPool2dWithIndicesOp`: (cotangent [N, C, OH, OW], indices int32) → gradient
/// [N, C, H, W] holding each cotangent at its maximum's position and zeros elsewhere. With
/// `masked`, a third input (the pooled output) drops the cotangents where it is not positive:
/// a ReLU's gradient folded into the scatter.
public struct MaxPool2dScatterOp: Operation {
    /// The pooling whose gradient this is.
    public let geometry: PoolGeometry
    /// The pooled input's shape [N, C, H, W].
    public let inputShape: [Int]
    /// Whether a third input (the pooled output) masks the cotangent (ReLU's gradient).
    public let masked: Bool

    /// The scatter of `geometry`'s pooling of an input of `inputShape` (masked when `masked`).
    public init(geometry: PoolGeometry, inputShape: [Int], masked: Bool = false) {
        self.geometry = geometry
        self.inputShape = inputShape
        self.masked = masked
    }
    public var name: String { masked ? "maxPool2dScatterReLU" : "maxPool2dScatter" }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let pooled = try geometry.specs(name, [TensorSpec(inputShape, inputs[0].dtype)])[0]
        try require(inputs.count == (masked ? 3 : 2) && inputs[0] == pooled && inputs[1] == TensorSpec(pooled.shape, .int32)
                    && (!masked || inputs[2] == pooled), name, inputs,
                    "a cotangent \(pooled), int32 indices of its shape\(masked ? " and the pooled output" : "")")
        return [TensorSpec(inputShape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let dx = Tensor(uninitialized: inputShape, dtype: inputs[0].dtype)
        let g = inputs[0].dense, indices = inputs[1].dense, mask = masked ? inputs[2].dense : nil
        let (h, w, oh, ow) = (inputShape[2], inputShape[3], g.shape[2], g.shape[3])
        let tiled: Int32 = geometry.tilesTwoByTwo(height: h, width: w) ? 1 : 0
        let gp = SendablePointer(raw: g.rawPointer), ip = SendablePointer(raw: indices.rawPointer), dp = SendablePointer(raw: dx.rawPointer)
        let mp = mask.map { SendablePointer(raw: $0.rawPointer) }
        let inPlane = h * w, outPlane = oh * ow, size = g.dtype.byteSize
        CPUThreads.forChunks(g.shape[0] * g.shape[1], costPerItem: inPlane) { r in
            let n = Int64(r.count), first = r.lowerBound
            let idx = ip.raw.assumingMemoryBound(to: Int32.self) + first * outPlane
            let gAt = gp.raw + first * outPlane * size, dAt = dp.raw + first * inPlane * size, mAt = mp.map { $0.raw + first * outPlane * size }
            if g.dtype == .float32 {
                apus_maxpool_scatter_f32(gAt.assumingMemoryBound(to: Float.self), idx, mAt?.assumingMemoryBound(to: Float.self), n,
                                         Int64(h), Int64(w), Int64(oh), Int64(ow), tiled, dAt.assumingMemoryBound(to: Float.self))
            } else {
                apus_maxpool_scatter_f64(gAt.assumingMemoryBound(to: Double.self), idx, mAt?.assumingMemoryBound(to: Double.self), n,
                                         Int64(h), Int64(w), Int64(oh), Int64(ow), tiled, dAt.assumingMemoryBound(to: Double.self))
            }
        }
        return [dx]
    }
}
