import Apus
import ApusTestSupport
import Testing

/// Causal attention without a mask tensor: the causal softmax against a softmax of explicitly
/// masked scores, and its gradient against finite differences.
@Suite struct AttentionTests {
    /// Keys j > i set to −∞ by an explicit mask (what `causal` replaces).
    private func maskedSoftmax(_ x: Tensor) -> Tensor {
        let (l, s) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let later = Tensor.arange(0, Double(s)).reshaped([1, s]).greater(Tensor.arange(0, Double(l)).reshaped([l, 1]))
        return Tensor.where(later, x.scalar(-Double.infinity), x).softmax(axis: -1)
    }

    @Test func causalSoftmaxEqualsTheMaskedSoftmax() {
        for shape in [[2, 3, 5, 5], [4, 6], [3, 6, 4]] {   // square, and more or fewer keys than queries
            let x = randn(shape, seed: 3)
            expectClose(x.causalSoftmax(), maskedSoftmax(x).scalars(as: Double.self), tolerance: 1e-14)
            expectClose(x.cast(to: .float32).causalSoftmax(), maskedSoftmax(x).scalars(as: Double.self), tolerance: 1e-6)
            expectGradients([x]) { $0[0].causalSoftmax() }
        }
    }

    @Test func causalAttentionEqualsAnExplicitMask() {
        let q = randn([2, 2, 5, 4], seed: 1), k = randn([2, 2, 5, 4], seed: 2), v = randn([2, 2, 5, 3], seed: 3)
        let blocked = Tensor.arange(0, 5).reshaped([1, 5]).greater(Tensor.arange(0, 5).reshaped([5, 1]))
        let (causal, weights) = scaledDotProductAttention(query: q, key: k, value: v, causal: true, returnsWeights: true)
        let (masked, maskedWeights) = scaledDotProductAttention(query: q, key: k, value: v, blocked: blocked, returnsWeights: true)
        expectClose(causal, masked.scalars(as: Double.self), tolerance: 1e-14)
        expectClose(weights!, maskedWeights!.scalars(as: Double.self), tolerance: 1e-14)
        expectGradients([q, k, v]) { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true).context }
    }
}
