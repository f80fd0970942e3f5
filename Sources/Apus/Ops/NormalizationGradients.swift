/// The gradients of a normalisation (BatchNorm, LayerNorm) written with differentiable ops, for
/// a gradient that is itself differentiated again (the fused backward ops are not): x is
/// normalised over `statisticsAxes` (mean and inverse standard deviation kept as
/// `statisticsShape`), scaled by `weight` and shifted by `bias` (shaped `affineShape` for
/// broadcasting, summed over `affineAxes` for their gradients), then ReLU when `relu`.
/// Cotangents: g of the output, gMean and gInvstd of the statistics. Returns [dx, dweight, dbias].
func normalizationGradients(x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Double, relu: Bool,
                            statisticsAxes: [Int], statisticsShape: [Int], affineShape: [Int], affineAxes: [Int],
                            g: Tensor, gMean: Tensor, gInvstd: Tensor) -> [Tensor?] {
    let count = Double(statisticsAxes.map { x.shape[$0] }.reduce(1, *))
    let mean = x.mean(axes: statisticsAxes, keepDims: true)
    let invstd = (x.variance(axes: statisticsAxes, keepDims: true, correction: 0) + epsilon).rsqrt()
    let centered = x - mean, normalized = centered * invstd
    let w = weight?.reshaped(affineShape), b = bias?.reshaped(affineShape)
    var gy = g
    if relu {
        let y = (w.map { normalized * $0 } ?? normalized) + (b ?? normalized.scalar(0))
        gy = g * withoutGrad { y.greater(y.scalar(0)).cast(to: g.dtype) }
    }
    let gh = w.map { gy * $0 } ?? gy
    let dx = invstd * (gh - gh.mean(axes: statisticsAxes, keepDims: true) - normalized * (gh * normalized).mean(axes: statisticsAxes, keepDims: true))
        + gMean.reshaped(statisticsShape) / count - gInvstd.reshaped(statisticsShape) * invstd * invstd * invstd * centered / count
    let dw = weight.map { (gy * normalized).sum(axes: affineAxes).reshaped($0.shape) }
    let db = bias.map { gy.sum(axes: affineAxes).reshaped($0.shape) }
    return [dx, dw, db]
}
