/// Scaled dot-product attention: softmax(q·kᵀ/√d, masked) · v over the last two dimensions.
///
/// query [..., L, D], key [..., S, D], value [..., S, Dv] → context [..., L, Dv], and the
/// attention probabilities [..., L, S] when `returnsWeights`. `blocked` (Bool, broadcastable to
/// [..., L, S]; true = excluded) and `causal` (key j > query i excluded) mask scores before
/// the softmax; `dropout` > 0 drops probabilities (scaled by 1/(1−p)) with `generator`.
///
/// ```swift
/// let (context, _) = scaledDotProductAttention(query: q, key: k, value: v, causal: true)
/// ```
public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, blocked: Tensor? = nil, causal: Bool = false,
                                      dropout p: Double = 0, generator: RandomGenerator = .global,
                                      returnsWeights: Bool = false) -> (context: Tensor, weights: Tensor?) {
    let (l, s, d) = (query.shape[query.rank - 2], key.shape[key.rank - 2], query.shape[query.rank - 1])
    var scores = query.matmul(key.transposed()) * (1 / Double(d).squareRoot())
    var mask = blocked
    if causal {
        let later = Tensor.arange(0, Double(s)).reshaped([1, s]).greater(Tensor.arange(0, Double(l)).reshaped([l, 1]))
        mask = mask.map { Tensor.where($0, $0, later) } ?? later
    }
    if let mask { scores = Tensor.where(mask, scores.scalar(-Double.infinity), scores) }
    let attention = scores.softmax(axis: -1)
    let dropped = p > 0 ? dropout(attention, p: p, generator: generator) : attention
    return (dropped.matmul(value), returnsWeights ? attention : nil)
}
