import Apus

/// Reduces per-element losses by `reduction`.
func reduce(_ losses: Tensor, _ reduction: LossReduction) -> Tensor {
    switch reduction {
    case .none: return losses
    case .sum: return losses.sum()
    case .mean: return losses.mean()
    }
}

/// Negative log-likelihood of `logProbabilities` [N, C] at integer `labels` [N] (optionally
/// class-weighted, ignoring `ignoreIndex`), as PyTorch's `nll_loss`.
public func nllLoss(logProbabilities: Tensor, labels: Tensor, classWeights: Tensor? = nil, ignoreIndex: Int? = nil,
                    reduction: LossReduction = .mean) -> Tensor {
    guard logProbabilities.rank == 2 && labels.shape == [logProbabilities.shape[0]] else {
        return .failure(ShapeError(op: "nllLoss", shapes: [logProbabilities.shape, labels.shape], expected: "log-probabilities [N, C] and labels [N]"))
    }
    let targets = labels.cast(to: .int64)
    var weights: Tensor? = nil
    var safe = targets
    if let ignoreIndex {
        let kept = targets.notEqual(Tensor(ignoreIndex))
        weights = kept.cast(to: logProbabilities.dtype)
        safe = Tensor.where(kept, targets, targets.zerosLike())
    }
    if let classWeights {
        let w = classWeights.indexSelect(axis: 0, index: safe)
        weights = weights.map { $0 * w } ?? w
    }
    var losses = -logProbabilities.gathered(axis: 1, index: safe.unsqueezed(axis: 1)).squeezed(axis: 1)
    if let weights { losses = losses * weights }
    if reduction == .mean, let weights { return losses.sum() / weights.sum() }
    return reduce(losses, reduction)
}

/// Binary cross-entropy on logits, computed stably: (1 − y)·x + (1 + (pw − 1)·y)·softplus(−x),
/// with optional `positiveWeight` (per class, broadcast over the last axis) and element `weight`.
public func binaryCrossEntropyWithLogits(_ logits: Tensor, _ targets: Tensor, weight: Tensor? = nil,
                                         positiveWeight: Tensor? = nil, reduction: LossReduction = .mean) -> Tensor {
    guard logits.shape == targets.shape else {
        return .failure(ShapeError(op: "binaryCrossEntropyWithLogits", shapes: [logits.shape, targets.shape], expected: "logits and targets of one shape"))
    }
    let logWeight = positiveWeight.map { ($0 - 1) * targets + 1 }
    let softplusNeg = (-logits).softplus()
    var losses = (1 - targets) * logits + (logWeight.map { $0 * softplusNeg } ?? softplusNeg)
    if let weight { losses = losses * weight }
    return reduce(losses, reduction)
}

/// |prediction − target|.
public func l1Loss(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    reduce((prediction - target).abs(), reduction)
}

/// 0.5·d²/β where |d| < β, else |d| − 0.5·β (Huber-like), d = prediction − target.
public func smoothL1Loss(_ prediction: Tensor, _ target: Tensor, beta: Double = 1, reduction: LossReduction = .mean) -> Tensor {
    let d = (prediction - target).abs()
    let losses = beta == 0 ? d : Tensor.where(d .< beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return reduce(losses, reduction)
}

/// How `klDivergence` reduces.
public enum KLReduction: Sendable {
    /// The sum divided by the batch size (the first dimension): the true KL divergence per example, PyTorch's `batchmean`.
    case batchMean
    /// The mean over all elements.
    case mean
    /// The sum over all elements.
    case sum
    /// No reduction: one term per element.
    case none
}

/// KL(target ‖ exp(logInput)) = Σ target·(log target − logInput) (terms with target 0 are 0),
/// as PyTorch's `kl_div` with `log_target=False`. `batchMean` divides the sum by the batch size.
public func klDivergence(logInput: Tensor, target: Tensor, reduction: KLReduction = .batchMean) -> Tensor {
    guard logInput.shape == target.shape else {
        return .failure(ShapeError(op: "klDivergence", shapes: [logInput.shape, target.shape], expected: "input and target of one shape"))
    }
    let positive = target .> 0
    let safeLog = Tensor.where(positive, target, target.onesLike()).log()
    let losses = Tensor.where(positive, target * (safeLog - logInput), target.zerosLike())
    switch reduction {
    case .none: return losses
    case .sum: return losses.sum()
    case .mean: return losses.mean()
    case .batchMean: return losses.sum() / Double(Swift.max(logInput.shape.first ?? 1, 1))
    }
}

/// Softmax cross-entropy as a module (see `crossEntropy`).
public final class CrossEntropyLoss: Module {
    /// Per-class weights [C], label smoothing ε, the label to ignore, and the reduction: `crossEntropy`'s arguments.
    public let classWeights: Tensor?, labelSmoothing: Double, ignoreIndex: Int?, reduction: LossReduction
    /// A cross-entropy loss (as `nn.CrossEntropyLoss(weight, ignore_index, reduction, label_smoothing)`).
    public init(classWeights: Tensor? = nil, labelSmoothing: Double = 0, ignoreIndex: Int? = nil, reduction: LossReduction = .mean) {
        (self.classWeights, self.labelSmoothing, self.ignoreIndex, self.reduction) = (classWeights, labelSmoothing, ignoreIndex, reduction)
    }
    /// The loss of `logits` [N, C] at integer `labels` [N]: a scalar, or [N] with reduction `.none`.
    public func callAsFunction(_ logits: Tensor, _ labels: Tensor) -> Tensor {
        crossEntropy(logits: logits, labels: labels, classWeights: classWeights, labelSmoothing: labelSmoothing,
                     ignoreIndex: ignoreIndex, reduction: reduction)
    }
}

/// Mean squared error as a module.
public final class MSELoss: Module {
    /// How the per-element losses are reduced.
    public let reduction: LossReduction
    /// A mean squared error loss (as `nn.MSELoss(reduction)`).
    public init(reduction: LossReduction = .mean) { self.reduction = reduction }
    /// (prediction − target)² reduced; both of one shape.
    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) -> Tensor { mse(prediction, target, reduction: reduction) }
}

/// L1 loss as a module.
public final class L1Loss: Module {
    /// How the per-element losses are reduced.
    public let reduction: LossReduction
    /// An L1 loss (as `nn.L1Loss(reduction)`).
    public init(reduction: LossReduction = .mean) { self.reduction = reduction }
    /// |prediction − target| reduced; both of one shape.
    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) -> Tensor { l1Loss(prediction, target, reduction: reduction) }
}

/// Smooth L1 loss as a module.
public final class SmoothL1Loss: Module {
    /// The threshold between the quadratic and linear parts, and the reduction.
    public let beta: Double, reduction: LossReduction
    /// A smooth L1 loss (as `nn.SmoothL1Loss(reduction, beta)`).
    public init(beta: Double = 1, reduction: LossReduction = .mean) { (self.beta, self.reduction) = (beta, reduction) }
    /// `smoothL1Loss` of `prediction` and `target` (one shape), reduced.
    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) -> Tensor { smoothL1Loss(prediction, target, beta: beta, reduction: reduction) }
}

/// Binary cross-entropy with logits as a module.
public final class BCEWithLogitsLoss: Module {
    /// The weight of positive examples per class (broadcast over the last axis), and the reduction.
    public let positiveWeight: Tensor?, reduction: LossReduction
    /// A binary cross-entropy loss on logits (as `nn.BCEWithLogitsLoss(reduction, pos_weight)`).
    public init(positiveWeight: Tensor? = nil, reduction: LossReduction = .mean) { (self.positiveWeight, self.reduction) = (positiveWeight, reduction) }
    /// The loss of `logits` against `targets` in [0, 1] of the same shape, reduced.
    public func callAsFunction(_ logits: Tensor, _ targets: Tensor) -> Tensor {
        binaryCrossEntropyWithLogits(logits, targets, positiveWeight: positiveWeight, reduction: reduction)
    }
}

/// Negative log-likelihood as a module.
public final class NLLLoss: Module {
    /// Per-class weights [C], the label to ignore, and the reduction: `nllLoss`'s arguments.
    public let classWeights: Tensor?, ignoreIndex: Int?, reduction: LossReduction
    /// A negative log-likelihood loss (as `nn.NLLLoss(weight, ignore_index, reduction)`).
    public init(classWeights: Tensor? = nil, ignoreIndex: Int? = nil, reduction: LossReduction = .mean) {
        (self.classWeights, self.ignoreIndex, self.reduction) = (classWeights, ignoreIndex, reduction)
    }
    /// The loss of `logProbabilities` [N, C] at integer `labels` [N]: a scalar, or [N] with reduction `.none`.
    public func callAsFunction(_ logProbabilities: Tensor, _ labels: Tensor) -> Tensor {
        nllLoss(logProbabilities: logProbabilities, labels: labels, classWeights: classWeights, ignoreIndex: ignoreIndex, reduction: reduction)
    }
}

/// KL divergence as a module.
public final class KLDivLoss: Module {
    /// How the per-element terms are reduced.
    public let reduction: KLReduction
    /// A KL divergence loss, `batchMean` by default (as `nn.KLDivLoss(reduction="batchmean")`).
    public init(reduction: KLReduction = .batchMean) { self.reduction = reduction }
    /// KL(target ‖ exp(logInput)) of two tensors of one shape, reduced.
    public func callAsFunction(_ logInput: Tensor, _ target: Tensor) -> Tensor { klDivergence(logInput: logInput, target: target, reduction: reduction) }
}
