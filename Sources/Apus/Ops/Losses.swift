/// How a per-example loss is reduced.
public enum LossReduction: String, Sendable {
    /// The mean of the losses, a scalar; with class weights or an ignored label, their sum divided by the summed weights of the examples counted (as PyTorch).
    case mean
    /// The sum of the losses, a scalar.
    case sum
    /// No reduction: the losses themselves, one per example (or per element).
    case none
}

/// Softmax cross-entropy from `logits` [N, C] (or [C]) and integer `labels` [N] (or []).
///
/// - `labelSmoothing` ε mixes the one-hot target with the uniform distribution: loss =
///   (1−ε)·nll + ε·mean over classes of −log p (as PyTorch).
/// - Examples whose label equals `ignoreIndex` contribute nothing and do not count in the mean.
/// - `classWeights` [C] weight each class's term (the smoothing term too); the mean divides by
///   the summed weights of the examples' labels (as PyTorch).
public func crossEntropy(logits: Tensor, labels: Tensor, classWeights: Tensor? = nil, labelSmoothing: Double = 0,
                         ignoreIndex: Int? = nil, reduction: LossReduction = .mean) -> Tensor {
    if logits.isPoisoned || labels.isPoisoned { return Tensor.poisoned }
    let batched = logits.rank == 1 ? logits.unsqueezed(axis: 0) : logits
    let targets = (labels.rank == 0 ? labels.reshaped([1]) : labels).cast(to: .int64)
    guard labels.dtype == .int64 || labels.dtype == .int32, batched.rank == 2, targets.rank == 1, targets.shape[0] == batched.shape[0] else {
        Tensor.report(ShapeError(op: "crossEntropy", shapes: [logits.shape, labels.shape],
                                           expected: "logits [N, C] (or [C]) and integer labels [N] (or []), got labels of \(labels.dtype)"))
        return Tensor.poisoned
    }
    let classes = batched.shape[1]
    if classWeights == nil && labelSmoothing == 0 && ignoreIndex == nil && batched.dtype.isFloatingPoint {
        // The common case as one op that never writes the probabilities.
        let perExample = Tensor.apply(SoftmaxCrossEntropyOp(), [batched, targets])[0]
        switch reduction {
        case .none: return labels.rank == 0 ? perExample.reshaped([]) : perExample
        case .sum: return perExample.sum()
        case .mean: return perExample.mean()
        }
    }
    var keep: Tensor? = nil
    var safeTargets = targets
    if let ignoreIndex {
        let kept = targets.notEqual(Tensor.full([], Double(ignoreIndex), dtype: .int64))
        keep = kept.cast(to: logits.dtype)
        safeTargets = Tensor.where(kept, targets, targets.zerosLike())
    }
    let logProbabilities = batched.logSoftmax(axis: 1)
    var targetWeights = keep        // per example: w[label], 0 where ignored
    var perExample = -logProbabilities.gathered(axis: 1, index: safeTargets.unsqueezed(axis: 1)).squeezed(axis: 1)
    if let classWeights {
        guard classWeights.shape == [classes] else {
            return .failure(ShapeError(op: "crossEntropy", shapes: [logits.shape, classWeights.shape], expected: "class weights of shape [\(classes)]"))
        }
        let w = classWeights.indexSelect(axis: 0, index: safeTargets)
        targetWeights = targetWeights.map { $0 * w } ?? w
        perExample = perExample * w
    }
    if labelSmoothing > 0 {
        let weighted = classWeights.map { logProbabilities * $0 } ?? logProbabilities
        perExample = perExample * (1 - labelSmoothing) - weighted.mean(axis: 1) * labelSmoothing
    }
    if let keep { perExample = perExample * keep }
    switch reduction {
    case .none: return labels.rank == 0 ? perExample.reshaped([]) : perExample
    case .sum: return perExample.sum()
    case .mean:
        if let targetWeights { return perExample.sum() / targetWeights.sum() }
        return perExample.mean()
    }
}

/// Mean squared error between `prediction` and `target` (same shape).
public func mse(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    guard prediction.shape == target.shape, prediction.dtype == target.dtype else {
        Tensor.report(ShapeError(op: "mse", shapes: [prediction.shape, target.shape], expected: "prediction and target of one shape and dtype"))
        return Tensor.poisoned
    }
    let d = prediction - target
    let squared = d * d
    switch reduction {
    case .none: return squared
    case .sum: return squared.sum()
    case .mean: return squared.mean()
    }
}
