import CApusKernels

/// Max pooling that also returns where each maximum came from: [N, C, H, W] →
/// (y [N, C, OH, OW], indices [N, C, OH, OW] int32, each the position iy·W + ix of its window's
/// first maximum within its plane). Its gradient (`MaxPool2dScatterOp`) needs only the indices,
/// so the pooled input can be freed right after pooling; graph mode rewrites `maxPool2d` to it.
public struct MaxPool2dWithIndicesOp: Operation {
    public let geometry: PoolGeometry

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
        [Tensor.apply(MaxPool2dScatterOp(inputShape: c.inputs[0].shape), [c.cotangents[0], c.outputs[1]])[0]]
    }
}

/// Gradient of `MaxPool2dWithIndicesOp`: (cotangent [N, C, OH, OW], indices int32) → gradient
/// [N, C, H, W] holding each cotangent at its maximum's position and zeros elsewhere.
public struct MaxPool2dScatterOp: Operation {
    /// The pooled input's shape [N, C, H, W].
    public let inputShape: [Int]

    public init(inputShape: [Int]) {
        self.inputShape = inputShape
    }
    public var name: String { "maxPool2dScatter" }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputShape.count == 4 && inputs[0].shape.count == 4 && inputs[0].shape == inputs[1].shape
                    && Array(inputs[0].shape.prefix(2)) == Array(inputShape.prefix(2)) && inputs[1].dtype == .int32
                    && inputs[0].dtype.isFloatingPoint,
                    name, inputs, "a float cotangent [N, C, OH, OW] and int32 indices of the same shape, for input \(inputShape)")
        return [TensorSpec(inputShape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let g = inputs[0].dense, indices = inputs[1].dense, dx = Tensor(uninitialized: inputShape, dtype: g.dtype)
        let inPlane = inputShape[2] * inputShape[3], outPlane = g.shape[2] * g.shape[3]
        let gp = SendablePointer(raw: g.rawPointer), ip = SendablePointer(raw: indices.rawPointer), dp = SendablePointer(raw: dx.rawPointer)
        CPUThreads.forChunks(g.shape[0] * g.shape[1], costPerItem: inPlane) { r in
            let n = Int64(r.count), first = r.lowerBound
            let idx = ip.raw.assumingMemoryBound(to: Int32.self) + first * outPlane
            if g.dtype == .float32 {
                apus_maxpool_scatter_f32(gp.raw.assumingMemoryBound(to: Float.self) + first * outPlane, idx, n, Int64(inPlane), Int64(outPlane),
                                         dp.raw.assumingMemoryBound(to: Float.self) + first * inPlane)
            } else {
                apus_maxpool_scatter_f64(gp.raw.assumingMemoryBound(to: Double.self) + first * outPlane, idx, n, Int64(inPlane), Int64(outPlane),
                                         dp.raw.assumingMemoryBound(to: Double.self) + first * inPlane)
            }
        }
        return [dx]
    }
}
