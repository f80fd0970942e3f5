import Testing
@testable import Apus
import ApusTestSupport

@Suite struct PoolingLossTests {
    @Test func poolingMatchesPyTorch() {
        for (name, kernel, stride, padding, isMax) in [("maxpool_k2", (2, 2), (2, 2), (0, 0), true),
                                                        ("maxpool_k3s2p1", (3, 3), (2, 2), (1, 1), true),
                                                        ("avgpool_k3s2p1", (3, 3), (2, 2), (1, 1), false)] {
            let c = Fixtures.core[name]!
            let x = c.input("x"), r = c.input("r")
            func f(_ t: Tensor) -> Tensor {
                isMax ? maxPool2d(t, kernel: kernel, stride: stride, padding: padding) : avgPool2d(t, kernel: kernel, stride: stride, padding: padding)
            }
            expectClose(f(x), c.output("y").data, tolerance: 1e-12)
            expectClose(f(x.cast(to: .float32)), c.output("y").data, tolerance: 1e-6)
            expectClose(grad(at: x) { (f($0) * r).sum() }, c.output("grad_x").data, tolerance: 1e-12)
            expectGradients([x]) { f($0[0]) }
        }
        expectClose(maxPool2d(Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), kernel: (2, 2)), [4])
        expectGradients([randn([1, 1, 4, 4], seed: 5)]) { Tensor.apply(AvgPool2dGradOp(geometry: PoolGeometry(kernel: (2, 2)), inputShape: [1, 1, 4, 4]), [$0[0][.all, .all, 0..<2, 0..<2]])[0] }
    }

    /// 2×2 pooling with indices (graph mode's pooling) keeps each window's first maximum in
    /// row-major order, in its 16-window vector loop and in the scalar tail (40 columns: 20 windows a row).
    @Test func maxPoolIndicesKeepTheFirstMaximum() {
        let (h, w) = (4, 40)
        let values = Tensor.normal([2 * h * w], generator: RandomGenerator(seed: 3)).scalars(as: Float.self).map { ($0 * 0.8).rounded() }   // many ties
        let x = Tensor(shape: [1, 2, h, w], scalars: values)
        let out = Tensor.apply(MaxPool2dWithIndicesOp(geometry: PoolGeometry(kernel: (2, 2))), [x])
        var expected: [Double] = [], indices: [Double] = []
        for p in 0..<2 { for oy in 0..<h / 2 { for ox in 0..<w / 2 {
            let window = [(2 * oy) * w + 2 * ox, (2 * oy) * w + 2 * ox + 1, (2 * oy + 1) * w + 2 * ox, (2 * oy + 1) * w + 2 * ox + 1]
            let first = window.max { values[p * h * w + $0] < values[p * h * w + $1] || (values[p * h * w + $0] == values[p * h * w + $1] && $0 > $1) }!
            expected.append(Double(values[p * h * w + first])); indices.append(Double(first))
        } } }
        expectClose(out[0], expected, tolerance: 0)
        expectClose(out[1], indices, tolerance: 0)
    }

    @Test func crossEntropyMatchesPyTorch() {
        let c = Fixtures.core["cross_entropy"]!
        let logits = c.input("logits"), labels = c.input("labels"), weights = c.input("weights")
        func loss(_ l: Tensor, _ reduction: LossReduction) -> Tensor {
            crossEntropy(logits: l, labels: labels, classWeights: weights, labelSmoothing: 0.1, ignoreIndex: -100, reduction: reduction)
        }
        expectClose(loss(logits, .mean), c.output("y_mean").data, tolerance: 1e-12)
        expectClose(loss(logits, .sum), c.output("y_sum").data, tolerance: 1e-12)
        expectClose(loss(logits, .none), c.output("y_none").data, tolerance: 1e-12)
        expectClose(grad(at: logits) { loss($0, .mean) }, c.output("grad_logits_mean").data, tolerance: 1e-12)
        let valid = c.input("labels_valid")
        expectClose(crossEntropy(logits: logits, labels: valid), c.output("y_plain").data, tolerance: 1e-12)
        expectClose(grad(at: logits) { crossEntropy(logits: $0, labels: valid) }, c.output("grad_logits_plain").data, tolerance: 1e-12)
        expectClose(crossEntropy(logits: logits.cast(to: .float32), labels: valid), c.output("y_plain").data, tolerance: 1e-5)
        expectGradients([logits, labels]) { crossEntropy(logits: $0[0], labels: $0[1], labelSmoothing: 0.2, ignoreIndex: -100) }
        // The fused op of the plain case: both outputs (the loss per row and the log-sum-exp)
        // against finite differences, and the per-row losses against PyTorch's.
        expectGradients([logits, valid]) { crossEntropy(logits: $0[0], labels: $0[1], reduction: .sum) }
        expectGradients([logits, valid]) { Tensor.concat(Tensor.apply(SoftmaxCrossEntropyOp(), [$0[0], $0[1]]), axis: 0) }
        expectClose(crossEntropy(logits: logits, labels: valid, reduction: .none).mean(), c.output("y_plain").data, tolerance: 1e-12)
    }

    @Test func crossEntropyIsStableForHugeLogits() {
        let l = Tensor([[1000.0, 0.0], [0.0, -1000.0]])
        let loss = crossEntropy(logits: l, labels: Tensor([0, 1]))
        expectClose(loss, [500], tolerance: 1e-5)
    }

    @Test func mseAndDropout() {
        let p = Tensor([1.0, 2.0, 3.0], dtype: .float64), t = Tensor([1.0, 0.0, 5.0], dtype: .float64)
        expectClose(mse(p, t), [8.0 / 3])
        expectClose(mse(p, t, reduction: .sum), [8])
        expectClose(mse(p, t, reduction: .none), [0, 4, 4])
        expectGradients([p, t]) { mse($0[0], $0[1]) }
        let x = Tensor.ones([1000])
        let d = dropout(x, p: 0.3, generator: RandomGenerator(seed: 1))
        let kept = d.scalars(as: Float.self).filter { $0 != 0 }
        #expect(kept.allSatisfy { Swift.abs($0 - 1 / 0.7) < 1e-6 })
        #expect(Swift.abs(Double(kept.count) / 1000 - 0.7) < 0.05)
        #expect(dropout(x, p: 0.3, training: false).sharesStorage(with: x))
    }
}
