import Apus

/// Batch normalisation over the channel dimension (axis 1) of [N, C] / [N, C, L] (`BatchNorm1d`)
/// or [N, C, H, W] (`BatchNorm2d`): training uses batch statistics and updates running ones
/// (momentum, unbiased variance, as PyTorch); evaluation uses the running statistics.
public class BatchNorm: Module, UnaryLayer {
    /// The per-channel scale γ [C], nil without `affine`.
    @OptionalParameter public var weight: Tensor?
    /// The per-channel shift β [C], nil without `affine`.
    @OptionalParameter public var bias: Tensor?
    /// The running mean [C] used in evaluation (saved, not trained).
    @Buffer public var runningMean: Tensor
    /// The running (unbiased) variance [C] used in evaluation (saved, not trained).
    @Buffer public var runningVar: Tensor
    /// Added to the variance for stability; the weight of each new batch statistic in the running ones.
    public let epsilon: Double, momentum: Double
    let expectedRanks: Set<Int>

    init(_ features: Int, epsilon: Double, momentum: Double, affine: Bool, ranks: Set<Int>) {
        weight = affine ? Tensor.ones([features]) : nil
        bias = affine ? Tensor.zeros([features]) : nil
        runningMean = Tensor.zeros([features])
        runningVar = Tensor.ones([features])
        (self.epsilon, self.momentum, expectedRanks) = (epsilon, momentum, ranks)
        super.init()
    }

    override public var typeDescription: String { "\(String(describing: type(of: self)))(\(runningMean.shape[0]))" }

    /// The normalised x, same shape: `forward(x, relu: false)`.
    public func forward(_ x: Tensor) -> Tensor { forward(x, relu: false) }

    /// BatchNorm of x, then max(·, 0) when `relu` — in training mode one fused op
    /// (`BatchNormOp`) for both, forward and backward. Training mode updates the running
    /// statistics in place (also inside a compiled step, which updates them on every run).
    public func forward(_ x: Tensor, relu: Bool) -> Tensor {
        guard expectedRanks.contains(x.rank) && x.shape[1] == runningMean.shape[0] else {
            return .failure(ShapeError(op: typeDescription, shapes: [x.shape],
                                       expected: "rank \(expectedRanks.sorted()) with \(runningMean.shape[0]) channels at axis 1"))
        }
        let channels = [x.shape[1]]
        guard isTraining else {
            let broadcast = [1, -1] + Array(repeating: 1, count: x.rank - 2)
            let scale = (runningVar.cast(to: x.dtype) + epsilon).rsqrt() * (weight ?? Tensor.ones(channels, dtype: x.dtype))
            let shift = (bias ?? Tensor.zeros(channels, dtype: x.dtype)) - runningMean.cast(to: x.dtype) * scale
            let y = x * scale.reshaped(broadcast) + shift.reshaped(broadcast)
            return relu ? y.relu() : y
        }
        let (y, mean, invstd) = batchNormTraining(x, weight: weight ?? Tensor.ones(channels, dtype: x.dtype),
                                                  bias: bias ?? Tensor.zeros(channels, dtype: x.dtype), epsilon: epsilon, relu: relu)
        let n = Double(x.count / x.shape[1])
        if !Graph.isTracing {
            $runningMean.value.makeUnique()
            $runningVar.value.makeUnique()
        }
        withoutGrad {
            let variance = (invstd.cast(to: .float64).pow(-2) - epsilon).clamp(min: 0)   // the biased batch variance
            let unbiased = variance * (n / Swift.max(n - 1, 1))
            runningMean.assign(runningMean * (1 - momentum) + mean.cast(to: runningMean.dtype) * momentum)
            runningVar.assign(runningVar * (1 - momentum) + unbiased.cast(to: runningVar.dtype) * momentum)
        }
        return y
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    /// BatchNorm then ReLU as one op in training mode (`bn(x, relu: true)`).
    public func callAsFunction(_ x: Tensor, relu: Bool) -> Tensor { forward(x, relu: relu) }
}

/// BatchNorm over [N, C] or [N, C, L].
public final class BatchNorm1d: BatchNorm {
    /// Batch normalisation of `features` channels (as `nn.BatchNorm1d(features, eps, momentum, affine)`).
    public init(_ features: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(features, epsilon: epsilon, momentum: momentum, affine: affine, ranks: [2, 3])
    }
}

/// BatchNorm over [N, C, H, W].
public final class BatchNorm2d: BatchNorm {
    /// Batch normalisation of `features` channels (as `nn.BatchNorm2d(features, eps, momentum, affine)`).
    public init(_ features: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(features, epsilon: epsilon, momentum: momentum, affine: affine, ranks: [4])
    }
}

/// Normalises over the last dimensions (`normalizedShape`) of each example, then scales and shifts:
/// one fused op (`LayerNormOp`) forward and backward.
public final class LayerNorm: Module, UnaryLayer {
    /// The elementwise scale [normalizedShape], nil without `elementwiseAffine`.
    @OptionalParameter public var weight: Tensor?
    /// The elementwise shift [normalizedShape], nil without `elementwiseAffine`.
    @OptionalParameter public var bias: Tensor?
    /// The trailing dimensions normalised over, and the value added to the variance.
    public let normalizedShape: [Int], epsilon: Double

    /// Layer normalisation over the trailing `normalizedShape` (as `nn.LayerNorm(normalized_shape, eps, elementwise_affine)`).
    public init(_ normalizedShape: [Int], epsilon: Double = 1e-5, elementwiseAffine: Bool = true) {
        weight = elementwiseAffine ? Tensor.ones(normalizedShape) : nil
        bias = elementwiseAffine ? Tensor.zeros(normalizedShape) : nil
        (self.normalizedShape, self.epsilon) = (normalizedShape, epsilon)
        super.init()
    }

    /// x normalised over its trailing `normalizedShape` dimensions, scaled and shifted; same shape.
    public func forward(_ x: Tensor) -> Tensor {
        guard Array(x.shape.suffix(normalizedShape.count)) == normalizedShape else {
            return .failure(ShapeError(op: "LayerNorm", shapes: [x.shape], expected: "an input ending with \(normalizedShape)"))
        }
        let count = normalizedShape.reduce(1, *)
        return layerNorm(x, count: count, weight: weight?.reshaped([count]), bias: bias?.reshaped([count]), epsilon: epsilon).output
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
