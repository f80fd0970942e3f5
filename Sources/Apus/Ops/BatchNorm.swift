import CApusKernels

/// Batch normalisation with the batch's statistics (training mode), optionally followed by
/// ReLU, as one op: x [N, C, ...], weight [C], bias [C] → y (x's shape), mean [C] and inverse
/// standard deviation [C] (1/√(biased variance + ε)). One pass for each statistic and one for y,
/// per channel on one thread; the backward is one fused op (`BatchNormBackwardOp`) too.
public struct BatchNormOp: Operation {
    /// Added to the variance before its inverse square root.
    public let epsilon: Double
    /// Whether max(·, 0) follows (its gradient mask is y > 0).
    public let relu: Bool

    /// The op for `epsilon`, with ReLU fused when `relu`.
    public init(epsilon: Double, relu: Bool = false) { (self.epsilon, self.relu) = (epsilon, relu) }
    public var name: String { relu ? "batchNormReLU" : "batchNorm" }
    public var outputCount: Int { 3 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 3 && inputs[0].shape.count >= 2 && inputs[0].dtype.isFloatingPoint, name, inputs,
                    "x [N, C, ...] of a float dtype, weight [C] and bias [C]")
        let channels = TensorSpec([inputs[0].shape[1]], inputs[0].dtype)
        try require(inputs[1] == channels && inputs[2] == channels, name, inputs, "weight and bias of shape [\(channels.shape[0])] \(channels.dtype)")
        try require(inputs[0].count > inputs[0].shape[1] || inputs[0].count == 0, name, inputs, "more than one value per channel")
        return [inputs[0], channels, channels]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let (x, w, b) = (inputs[0].dense, inputs[1].dense, inputs[2].dense)
        let (n, c) = (x.shape[0], x.shape[1]), p = c == 0 ? 0 : x.count / Swift.max(n * c, 1)
        let y = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let mean = Tensor(uninitialized: [c], dtype: x.dtype), invstd = Tensor(uninitialized: [c], dtype: x.dtype)
        let (eps, flag) = (epsilon, Int32(relu ? 1 : 0))
        withExtendedLifetime((x, w, b, y, mean, invstd)) {
            CPUThreads.forChunks(c, costPerItem: 3 * n * p) { r in
                let (c0, c1) = (Int64(r.lowerBound), Int64(r.upperBound))
                if x.dtype == .float32 {
                    apus_batchnorm_forward_f32(Int64(n), Int64(c), Int64(p), c0, c1, x.pointer(Float.self), w.pointer(Float.self), b.pointer(Float.self),
                                               eps, flag, y.pointer(Float.self), mean.pointer(Float.self), invstd.pointer(Float.self))
                } else {
                    apus_batchnorm_forward_f64(Int64(n), Int64(c), Int64(p), c0, c1, x.pointer(Double.self), w.pointer(Double.self), b.pointer(Double.self),
                                               eps, flag, y.pointer(Double.self), mean.pointer(Double.self), invstd.pointer(Double.self))
                }
            }
        }
        return [y, mean, invstd]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        if isGradEnabled {   // the gradient will be differentiated again: written with differentiable ops
            let x = c.inputs[0], axes = [0] + Array(2..<x.rank), shape = [1, -1] + Array(repeating: 1, count: x.rank - 2)
            let grads = normalizationGradients(x: x, weight: c.inputs[1], bias: c.inputs[2], epsilon: epsilon, relu: relu,
                                               statisticsAxes: axes, statisticsShape: shape, affineShape: shape, affineAxes: axes,
                                               g: c.cotangents[0], gMean: c.cotangents[1], gInvstd: c.cotangents[2])
            return grads.enumerated().map { c.needsGradient($0.offset) ? $0.element : nil }
        }
        let inputs = [c.cotangents[0], c.inputs[0], c.inputs[1], c.outputs[1], c.outputs[2], c.cotangents[1], c.cotangents[2]]
        let grads = Tensor.apply(BatchNormBackwardOp(relu: relu), inputs + (relu ? [c.outputs[0]] : []))
        return [c.needsGradient(0) ? grads[0] : nil, c.needsGradient(1) ? grads[1] : nil, c.needsGradient(2) ? grads[2] : nil]
    }
}

/// The gradient of `BatchNormOp`: (cotangent of y, x, weight, mean, invstd, cotangents of mean
/// and invstd[, y when ReLU was fused]) → (dx, dweight, dbias), in two passes per channel.
public struct BatchNormBackwardOp: Operation {
    /// Whether the forward op fused ReLU (the cotangent is masked by y > 0).
    public let relu: Bool
    /// The gradient op of `BatchNormOp(relu:)`.
    public init(relu: Bool) { self.relu = relu }
    public var name: String { relu ? "batchNormReLUGrad" : "batchNormGrad" }
    public var outputCount: Int { 3 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == (relu ? 8 : 7) && inputs[0] == inputs[1] && inputs[0].shape.count >= 2, name, inputs,
                    "cotangent and x of one shape [N, C, ...], weight, mean, invstd and their cotangents [C]\(relu ? ", y" : "")")
        let channels = TensorSpec([inputs[0].shape[1]], inputs[0].dtype)
        try require(inputs[2...6].allSatisfy { $0 == channels } && (!relu || inputs[7] == inputs[0]), name, inputs, "[C] statistics of x's dtype")
        return [inputs[0], channels, channels]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let d = inputs.map(\.dense)
        let (n, c) = (d[1].shape[0], d[1].shape[1]), p = c == 0 ? 0 : d[1].count / Swift.max(n * c, 1)
        let dx = Tensor(uninitialized: d[1].shape, dtype: d[1].dtype)
        let dw = Tensor(uninitialized: [c], dtype: d[1].dtype), db = Tensor(uninitialized: [c], dtype: d[1].dtype)
        withExtendedLifetime((d, dx, dw, db)) {
            CPUThreads.forChunks(c, costPerItem: 4 * n * p) { r in
                let (c0, c1) = (Int64(r.lowerBound), Int64(r.upperBound))
                if dx.dtype == .float32 {
                    let q = d.map { $0.pointer(Float.self) }
                    apus_batchnorm_backward_f32(Int64(n), Int64(c), Int64(p), c0, c1, q[0], q[1], relu ? q[7] : nil, q[2], q[3], q[4], q[5], q[6],
                                                dx.pointer(Float.self), dw.pointer(Float.self), db.pointer(Float.self))
                } else {
                    let q = d.map { $0.pointer(Double.self) }
                    apus_batchnorm_backward_f64(Int64(n), Int64(c), Int64(p), c0, c1, q[0], q[1], relu ? q[7] : nil, q[2], q[3], q[4], q[5], q[6],
                                                dx.pointer(Double.self), dw.pointer(Double.self), db.pointer(Double.self))
                }
            }
        }
        return [dx, dw, db]
    }
}

/// Batch normalisation of `x` [N, C, ...] with its own statistics over every axis but 1, scaled
/// by `weight` [C] and shifted by `bias` [C], then ReLU when `relu`: returns y, the batch mean
/// [C] and the inverse standard deviation [C] (biased variance), as `BatchNormOp`.
public func batchNormTraining(_ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Double, relu: Bool = false)
    -> (output: Tensor, mean: Tensor, invstd: Tensor) {
    let outputs = Tensor.apply(BatchNormOp(epsilon: epsilon, relu: relu), [x, weight, bias])
    return (outputs[0], outputs[1], outputs[2])
}
