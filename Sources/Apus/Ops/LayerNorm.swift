import CApusKernels

/// Layer normalisation over the last `count` elements of each row as one op: x [..., count]
/// (any shape whose trailing dimensions hold `count` elements), then weight [count] and bias
/// [count] when present → y (x's shape), each row's mean [rows] and inverse standard deviation
/// [rows] (1/√(biased variance + ε)). One pass for each statistic and one for y per row; the
/// backward is one op too (`LayerNormBackwardOp`).
public struct LayerNormOp: Operation {
    /// Elements per row, ε, and whether weight and bias inputs follow x.
    public let count: Int, epsilon: Double, hasWeight: Bool, hasBias: Bool

    /// The op over rows of `count` elements.
    public init(count: Int, epsilon: Double, hasWeight: Bool, hasBias: Bool) {
        (self.count, self.epsilon, self.hasWeight, self.hasBias) = (count, epsilon, hasWeight, hasBias)
    }
    public var name: String { "layerNorm" }
    public var outputCount: Int { 3 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let x = inputs[0], affine = TensorSpec([count], x.dtype)
        try require(inputs.count == 1 + (hasWeight ? 1 : 0) + (hasBias ? 1 : 0) && x.dtype.isFloatingPoint && count > 0
                    && x.count % count == 0 && inputs.dropFirst().allSatisfy { $0 == affine }, name, inputs,
                    "a float x whose trailing dimensions hold \(count) elements, and weight/bias [\(count)] of its dtype")
        let rows = TensorSpec([x.count / count], x.dtype)
        return [x, rows, rows]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let d = inputs.map(\.dense), x = d[0], rows = x.count / count, n = count
        let w = hasWeight ? d[1] : nil, b = hasBias ? d.last : nil
        let y = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let mean = Tensor(uninitialized: [rows], dtype: x.dtype), invstd = Tensor(uninitialized: [rows], dtype: x.dtype)
        let eps = epsilon
        withExtendedLifetime((d, y, mean, invstd)) {
            CPUThreads.forChunks(rows, costPerItem: 3 * n) { r in
                let (r0, r1) = (Int64(r.lowerBound), Int64(r.upperBound))
                if x.dtype == .float32 {
                    apus_layernorm_forward_f32(Int64(n), r0, r1, x.pointer(Float.self), w?.pointer(Float.self), b?.pointer(Float.self), eps,
                                               y.pointer(Float.self), mean.pointer(Float.self), invstd.pointer(Float.self))
                } else {
                    apus_layernorm_forward_f64(Int64(n), r0, r1, x.pointer(Double.self), w?.pointer(Double.self), b?.pointer(Double.self), eps,
                                               y.pointer(Double.self), mean.pointer(Double.self), invstd.pointer(Double.self))
                }
            }
        }
        return [y, mean, invstd]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        if isGradEnabled {   // the gradient will be differentiated again: written with differentiable ops
            let x = c.inputs[0].reshaped([-1, count])
            let grads = normalizationGradients(x: x, weight: hasWeight ? c.inputs[1] : nil, bias: hasBias ? c.inputs.last : nil,
                                               epsilon: epsilon, relu: false, statisticsAxes: [1], statisticsShape: [-1, 1],
                                               affineShape: [1, count], affineAxes: [0],
                                               g: c.cotangents[0].reshaped([-1, count]), gMean: c.cotangents[1], gInvstd: c.cotangents[2])
            let inputGradients = [grads[0]?.reshaped(c.inputs[0].shape)] + (hasWeight ? [grads[1]] : []) + (hasBias ? [grads[2]] : [])
            return inputGradients.enumerated().map { c.needsGradient($0.offset) ? $0.element : nil }
        }
        let weight = hasWeight ? [c.inputs[1]] : []
        let op = LayerNormBackwardOp(count: count, hasWeight: hasWeight, hasBias: hasBias)
        let grads = Tensor.apply(op, [c.cotangents[0], c.inputs[0]] + weight + [c.outputs[1], c.outputs[2], c.cotangents[1], c.cotangents[2]])
        return grads.enumerated().map { c.needsGradient($0.offset) ? $0.element : nil }
    }
}

/// The gradient of `LayerNormOp`: (cotangent of y, x[, weight], mean, invstd, cotangents of mean
/// and invstd) → dx[, dweight][, dbias]. Threads take rows, each summing its own share of
/// dweight and dbias, added at the end.
public struct LayerNormBackwardOp: Operation {
    /// As the forward op's.
    public let count: Int, hasWeight: Bool, hasBias: Bool

    /// The gradient op of `LayerNormOp(count:epsilon:hasWeight:hasBias:)`.
    public init(count: Int, hasWeight: Bool, hasBias: Bool) { (self.count, self.hasWeight, self.hasBias) = (count, hasWeight, hasBias) }
    public var name: String { "layerNormGrad" }
    public var outputCount: Int { 1 + (hasWeight ? 1 : 0) + (hasBias ? 1 : 0) }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let x = inputs[1], affine = TensorSpec([count], x.dtype), rows = TensorSpec([x.count / Swift.max(count, 1)], x.dtype)
        try require(inputs.count == (hasWeight ? 7 : 6) && inputs[0] == x && (!hasWeight || inputs[2] == affine)
                    && inputs.suffix(4).allSatisfy { $0 == rows }, name, inputs,
                    "cotangent and x of one shape, weight [\(count)], and per-row statistics and their cotangents [\(rows.shape[0])]")
        return [x] + Array(repeating: affine, count: outputCount - 1)
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let d = inputs.map(\.dense), (g, x) = (d[0], d[1]), w = hasWeight ? d[2] : nil
        let (mean, invstd, gmean, ginvstd) = (d[d.count - 4], d[d.count - 3], d[d.count - 2], d[d.count - 1])
        let n = count, rows = x.count / n, parts = Swift.min(WorkerPool.shared.threads, Swift.max(rows, 1))
        let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let sums = (0..<parts).map { _ in (Tensor.zeros([n], dtype: x.dtype), Tensor.zeros([n], dtype: x.dtype)) }
        let perPart = (rows + parts - 1) / parts
        withExtendedLifetime((d, dx, sums)) {
            CPUThreads.forParts(parts) { part in
                let (r0, r1) = (Int64(Swift.min(rows, part * perPart)), Int64(Swift.min(rows, (part + 1) * perPart)))
                let (dw, db) = sums[part]
                if x.dtype == .float32 {
                    apus_layernorm_backward_f32(Int64(n), r0, r1, g.pointer(Float.self), x.pointer(Float.self), w?.pointer(Float.self),
                                                mean.pointer(Float.self), invstd.pointer(Float.self), gmean.pointer(Float.self),
                                                ginvstd.pointer(Float.self), dx.pointer(Float.self),
                                                hasWeight ? dw.pointer(Float.self) : nil, hasBias ? db.pointer(Float.self) : nil)
                } else {
                    apus_layernorm_backward_f64(Int64(n), r0, r1, g.pointer(Double.self), x.pointer(Double.self), w?.pointer(Double.self),
                                                mean.pointer(Double.self), invstd.pointer(Double.self), gmean.pointer(Double.self),
                                                ginvstd.pointer(Double.self), dx.pointer(Double.self),
                                                hasWeight ? dw.pointer(Double.self) : nil, hasBias ? db.pointer(Double.self) : nil)
                }
            }
        }
        let total = { (k: Int) in withoutGrad { sums.dropFirst().reduce(k == 0 ? sums[0].0 : sums[0].1) { $0 + (k == 0 ? $1.0 : $1.1) } } }
        return [dx] + (hasWeight ? [total(0)] : []) + (hasBias ? [total(1)] : [])
    }
}

/// Layer normalisation of `x` over its trailing dimensions holding `count` elements, scaled by
/// `weight` and shifted by `bias` ([count] each, optional): returns y (x's shape), the mean
/// [rows] and the inverse standard deviation [rows] of each row, as `LayerNormOp`.
public func layerNorm(_ x: Tensor, count: Int, weight: Tensor?, bias: Tensor?, epsilon: Double) -> (output: Tensor, mean: Tensor, invstd: Tensor) {
    let op = LayerNormOp(count: count, epsilon: epsilon, hasWeight: weight != nil, hasBias: bias != nil)
    let outputs = Tensor.apply(op, [x] + [weight, bias].compactMap { $0 })
    return (outputs[0], outputs[1], outputs[2])
}
