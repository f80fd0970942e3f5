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

    /// `ceilMode` and `countIncludePad: false` (scripts/fixtures/core_fixtures.py): partial last
    /// windows, a last window dropped for starting in the right padding, clipped divisors; values
    /// and gradients in Float64 and Float32, and finite differences.
    @Test func poolingOptionsMatchPyTorch() {
        let cases: [(name: String, kernel: Int, stride: Int, padding: Int, ceil: Bool, includePad: Bool?)] = [
            ("maxpool_k3s2p1_ceil", 3, 2, 1, true, nil), ("maxpool_k2_ceil_odd", 2, 2, 0, true, nil), ("maxpool_k3s3_ceil", 3, 3, 0, true, nil),
            ("avgpool_k3s2p1_ceil", 3, 2, 1, true, true), ("avgpool_k3s2p1_nopad", 3, 2, 1, false, false),
            ("avgpool_k3s2p1_ceil_nopad", 3, 2, 1, true, false), ("avgpool_k2_ceil_odd", 2, 2, 0, true, true),
            ("avgpool_k4s3p2_ceil_nopad", 4, 3, 2, true, false),
        ]
        for c in cases {
            let fixture = Fixtures.core[c.name]!
            let x = fixture.input("x"), r = fixture.input("r")
            let (kernel, stride, padding) = ((c.kernel, c.kernel), (c.stride, c.stride), (c.padding, c.padding))
            func f(_ t: Tensor) -> Tensor {
                guard let includePad = c.includePad else { return maxPool2d(t, kernel: kernel, stride: stride, padding: padding, ceilMode: c.ceil) }
                return avgPool2d(t, kernel: kernel, stride: stride, padding: padding, ceilMode: c.ceil, countIncludePad: includePad)
            }
            #expect(f(x).shape == fixture.output("y").shape, "\(c.name)")
            expectClose(f(x), fixture.output("y").data, tolerance: 1e-12)
            expectClose(f(x.cast(to: .float32)), fixture.output("y").data, tolerance: 1e-6)
            expectClose(grad(at: x) { (f($0) * r).sum() }, fixture.output("grad_x").data, tolerance: 1e-12)
            expectClose(grad(at: x.cast(to: .float32)) { (f($0) * r.cast(to: .float32)).sum() }, fixture.output("grad_x").data, tolerance: 1e-5)
            expectGradients([x]) { f($0[0]) }
        }
        // The gradient's own gradient is the pooling again, with the same divisors.
        let geometry = PoolGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
        expectGradients([randn([1, 2, 4, 4], seed: 6)]) {
            Tensor.apply(AvgPool2dGradOp(geometry: geometry, inputShape: [1, 2, 6, 7], countIncludePad: false), [$0[0]])[0]
        }
    }

    /// Output sizes as PyTorch computes them (checked against torch 2.13): with `ceilMode` the
    /// size rounds up unless the last window would start in the right padding, and a kernel
    /// larger than the input is allowed when the rounded-up size is positive.
    @Test func ceilModeOutputSizes() {
        for (size, kernel, stride, padding, ceil, floor) in [(5, 2, 2, 1, 3, 3), (6, 3, 2, 1, 4, 3), (7, 4, 3, 2, 3, 3), (6, 2, 2, 0, 3, 3),
                                                             (7, 2, 2, 0, 4, 3)] {
            let x = Tensor.zeros([1, 1, size, size])
            #expect(maxPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding), ceilMode: true).shape == [1, 1, ceil, ceil])
            #expect(avgPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding)).shape == [1, 1, floor, floor])
        }
        let tiny = Tensor([[[[2.0, 4.0]]]])   // [1, 1, 1, 2]: one window of 3×3, clipped to the input
        expectClose(maxPool2d(tiny, kernel: (3, 3), ceilMode: true), [4], tolerance: 0)
        expectClose(avgPool2d(tiny, kernel: (3, 3), ceilMode: true), [3], tolerance: 0)
        #expect(throws: ShapeError.self) { try Tensor.checking { maxPool2d(tiny, kernel: (3, 3)) } }
    }

    /// Arguments PyTorch rejects are the shape rule's errors, eager and traced alike.
    @Test func badPoolingArgumentsAreShapeErrors() throws {
        let x = Tensor.zeros([1, 1, 6, 6])
        let bad: [(String, (Tensor) -> Tensor)] = [
            ("negative padding", { maxPool2d($0, kernel: (3, 3), padding: (-1, 0)) }),
            ("padding over half the kernel", { avgPool2d($0, kernel: (3, 3), padding: (2, 2), ceilMode: true, countIncludePad: false) }),
            ("zero stride", { maxPool2d($0, kernel: (2, 2), stride: (0, 1), ceilMode: true) }),
            ("zero kernel", { avgPool2d($0, kernel: (0, 2)) }),
        ]
        for (what, f) in bad {
            #expect(throws: ShapeError.self, "\(what)") { try Tensor.checking { f(x) } }
            #expect(throws: ShapeError.self, "\(what), traced") { try Graph.trace([x.spec]) { [f($0[0])] } }
        }
        do {
            _ = try Tensor.checking { avgPool2d(x, kernel: (3, 3), padding: (2, 2)) }
            Issue.record("expected a ShapeError")
        } catch let error as ShapeError {
            #expect(error.description == "avgPool2d: got shapes [1, 1, 6, 6]; padding (2, 2) must be non-negative and at most half the kernel 3×3")
        }
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
