import Apus

/// Batch normalisation over the channel dimension (axis 1) of [N, C] / [N, C, L] (`BatchNorm1d`)
/// or [N, C, H, W] (`BatchNorm2d`): training uses batch statistics and updates running ones
/// (momentum, unbiased variance, as PyTorch); evaluation uses the running statistics.
public class BatchNorm: Module, UnaryLayer {
    @OptionalParameter public var weight: Tensor?
    @OptionalParameter public var bias: Tensor?
    @Buffer public var runningMean: Tensor
    @Buffer public var runningVar: Tensor
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

    public func forward(_ x: Tensor) -> Tensor {
        precondition(expectedRanks.contains(x.rank) && x.shape[1] == runningMean.shape[0],
                     "\(typeDescription): expected rank \(expectedRanks.sorted()) with \(runningMean.shape[0]) channels at axis 1, got \(x.shape)")
        let axes = [0] + Array(2..<x.rank)
        let broadcast = [1, -1] + Array(repeating: 1, count: x.rank - 2)
        let mean: Tensor, variance: Tensor
        if isTraining {
            mean = x.mean(axes: axes)
            variance = x.variance(axes: axes, correction: 0)
            let n = Double(x.count / x.shape[1])
            if !Graph.isTracing { withoutGrad {
                runningMean = runningMean * (1 - momentum) + mean.detached().cast(to: runningMean.dtype) * momentum
                runningVar = runningVar * (1 - momentum) + variance.detached().cast(to: runningVar.dtype) * (momentum * n / Swift.max(n - 1, 1))
            } }
        } else {
            mean = runningMean.cast(to: x.dtype)
            variance = runningVar.cast(to: x.dtype)
        }
        var y = (x - mean.reshaped(broadcast)) * (variance + epsilon).rsqrt().reshaped(broadcast)
        if let weight { y = y * weight.reshaped(broadcast) }
        if let bias { y = y + bias.reshaped(broadcast) }
        return y
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// BatchNorm over [N, C] or [N, C, L].
public final class BatchNorm1d: BatchNorm {
    public init(_ features: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(features, epsilon: epsilon, momentum: momentum, affine: affine, ranks: [2, 3])
    }
}

/// BatchNorm over [N, C, H, W].
public final class BatchNorm2d: BatchNorm {
    public init(_ features: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(features, epsilon: epsilon, momentum: momentum, affine: affine, ranks: [4])
    }
}

/// Normalises over the last dimensions (`normalizedShape`) of each example, then scales and shifts.
public final class LayerNorm: Module, UnaryLayer {
    @OptionalParameter public var weight: Tensor?
    @OptionalParameter public var bias: Tensor?
    public let normalizedShape: [Int], epsilon: Double

    public init(_ normalizedShape: [Int], epsilon: Double = 1e-5, elementwiseAffine: Bool = true) {
        weight = elementwiseAffine ? Tensor.ones(normalizedShape) : nil
        bias = elementwiseAffine ? Tensor.zeros(normalizedShape) : nil
        (self.normalizedShape, self.epsilon) = (normalizedShape, epsilon)
        super.init()
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(Array(x.shape.suffix(normalizedShape.count)) == normalizedShape,
                     "LayerNorm: input \(x.shape) must end with \(normalizedShape)")
        let axes = Array((x.rank - normalizedShape.count)..<x.rank)
        let mean = x.mean(axes: axes, keepDims: true)
        let variance = x.variance(axes: axes, keepDims: true, correction: 0)
        var y = (x - mean) * (variance + epsilon).rsqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
