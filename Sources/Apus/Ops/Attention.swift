/// Scaled dot-product attention: softmax(q·kᵀ/√d, masked) · v over the last two dimensions.
///
/// query [..., L, D], key [..., S, D], value [..., S, Dv] → context [..., L, Dv], and the
/// attention probabilities [..., L, S] when `returnsWeights`. `blocked` (Bool, broadcastable to
/// [..., L, S]; true = excluded) masks scores before the softmax, `causal` (key j > query i
/// excluded, as PyTorch's `is_causal`) inside it; `dropout` > 0 drops probabilities (scaled by
/// 1/(1−p)) with `generator`.
///
/// ```swift
/// let (context, _) = scaledDotProductAttention(query: q, key: k, value: v, causal: true)
/// ```
public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, blocked: Tensor? = nil, causal: Bool = false,
                                      dropout p: Double = 0, generator: RandomGenerator = .global,
                                      returnsWeights: Bool = false) -> (context: Tensor, weights: Tensor?) {
    let d = query.shape[query.rank - 1]
    var scores = query.matmul(key.transposed()) * (1 / Double(d).squareRoot())
    if let blocked { scores = Tensor.where(blocked, scores.scalar(-Double.infinity), scores) }
    // The causal mask inside the softmax: no mask tensor, no masked copy of the scores.
    let attention = causal ? scores.causalSoftmax() : scores.softmax(axis: -1)
    let dropped = p > 0 ? dropout(attention, p: p, generator: generator) : attention
    return (dropped.matmul(value), returnsWeights ? attention : nil)
}

