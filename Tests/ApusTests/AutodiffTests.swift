import Testing
@testable import Apus
import ApusTestSupport

@Suite struct AutodiffTests {
    @Test func backwardFillsGradAndAccumulates() {
        let w = Tensor([1.0, 2.0, 3.0]).requiringGrad()
        let x = Tensor([4.0, 5.0, 6.0])
        let loss = (w * x).sum()
        loss.backward()
        expectClose(w.grad!, [4, 5, 6])
        #expect(w.isLeaf && !loss.isLeaf && loss.gradientOpName == "sum")
        (w * w).sum().backward()
        expectClose(w.grad!, [6, 9, 12])            // accumulated: 4 + 2·1, …
        w.grad = nil
        (w * 3).sum().backward()
        expectClose(w.grad!, [3, 3, 3])
        #expect(x.grad == nil && !x.requiresGrad)
    }

    @Test func weightSharingSumsBothUses() {
        let w = Tensor([[2.0]]).requiringGrad()
        let x = Tensor([[3.0]])
        let y = x.matmul(w).matmul(w)              // x·w²
        y.sum().backward()
        expectClose(w.grad!, [2 * 3 * 2])           // d(x w²)/dw = 2 x w
    }

    @Test func withoutGradDetachAndValueAndGrad() {
        let w = Tensor([1.0, -1.0]).requiringGrad()
        let y = withoutGrad { w * 2 }
        #expect(!y.requiresGrad && !isGradEnabled == false)
        #expect(!(w.detached() * 2).requiresGrad)
        let (value, g) = valueAndGrad(at: Tensor([3.0, 4.0])) { ($0 * $0).sum() }
        expectClose(value, [25])
        expectClose(g, [6, 8])
        #expect(!value.requiresGrad)
        let (_, gs) = valueAndGrad(at: [Tensor([1.0]), Tensor([2.0])]) { ($0[0] * $0[1] * $0[1]).sum() }
        expectClose(gs[0], [4])
        expectClose(gs[1], [4])
        // A parameter used inside valueAndGrad keeps its .grad untouched.
        _ = valueAndGrad(at: Tensor([1.0, 1.0])) { ($0 * w).sum() }
        #expect(w.grad == nil)
        // Unused input: zero gradient.
        expectClose(grad(at: Tensor([1.0, 2.0])) { _ in Tensor(5.0) }, [0, 0])
    }

    @Test func backwardWithExplicitSeedAndMultiUseNodes() {
        let x = Tensor([1.0, 2.0], dtype: .float64).requiringGrad()
        let y = x.exp()
        let z = y * y + y                            // y used twice
        z.backward(Tensor([1.0, 0.5], dtype: .float64))
        let e1 = 2.718281828459045, e2 = 7.38905609893065
        expectClose(x.grad!, [(2 * e1 * e1 + e1), 0.5 * (2 * e2 * e2 + e2)], tolerance: 1e-12)
    }

    @Test func higherOrderGradients() {
        // d²/dx² of x³ = 6x, through createGraph.
        let x = Tensor([2.0], dtype: .float64).requiringGrad()
        let y = (x * x * x).sum()
        let g = gradients(of: y, wrt: [x], createGraph: true)[0]
        expectClose(g, [12])
        let g2 = gradients(of: g.sum(), wrt: [x])[0]
        expectClose(g2, [12])
        // Through ops whose vjps reuse their outputs: d²/dx² tanh = −2 tanh (1 − tanh²).
        let t = Tensor([0.3], dtype: .float64).requiringGrad()
        let first = gradients(of: t.tanh().sum(), wrt: [t], createGraph: true)[0]
        let second = gradients(of: first.sum(), wrt: [t])[0]
        let th = 0.2913126124515909
        expectClose(second, [-2 * th * (1 - th * th)], tolerance: 1e-10)
        // Mixed second derivatives through matmul and softmax: the gradient with respect to y
        // (taken with createGraph) is differentiated with respect to x by gradcheck.
        let w = randn([3, 2], seed: 4)
        let c = Tensor([[1.0, 2.0]], dtype: .float64)
        expectGradients([randn([2, 3], seed: 5)]) { xs in
            let y = Tensor.ones([2, 2], dtype: .float64).requiringGrad()
            let inner = withGrad { ((xs[0].matmul(w) * y).softmax(axis: 1) * c).sum() }
            return gradients(of: inner, wrt: [y], createGraph: true)[0]
        }
    }

    @Test func watchedLeavesAreReportedOnceWhenTheirGradientIsFinal() {
        // w1 is used first (its gradient comes last), w2 last; w0 at both ends, so it is final
        // only after the whole pass; b gets no gradient; c is not a leaf that requires one.
        let w0 = Tensor([0.5, -1.0]).requiringGrad(), w1 = Tensor([2.0, 3.0]).requiringGrad()
        let w2 = Tensor([1.5, -0.5]).requiringGrad(), b = Tensor([7.0]).requiringGrad(), c = Tensor([1.0, 1.0])
        let leaves = [w0, w1, w2, b, c]
        var reports: [(index: Int, grad: [Float], w1HasGrad: Bool)] = []
        watchingGradients(of: leaves, { i in reports.append((i, leaves[i].grad!.scalars(as: Float.self), w1.grad != nil)) }) {
            let h = (w0 * w1).tanh()
            let loss = ((h * w2).sum() + (w0 * w0).sum()) * 2
            loss.backward()
        }
        #expect(reports.map(\.index).sorted() == [0, 1, 2])
        for report in reports {
            #expect(report.grad == leaves[report.index].grad!.scalars(as: Float.self))   // already final when reported
        }
        let w2Report = reports.first { $0.index == 2 }!
        #expect(!w2Report.w1HasGrad)                              // reported before w1's gradient was computed
        #expect(b.grad == nil)
        // Outside the scope nothing is reported; inside, `gradients(of:wrt:)` reports nothing.
        var count = 0
        (w1 * 2).sum().backward()
        watchingGradients(of: [w1], { _ in count += 1 }) { _ = gradients(of: (w1 * 3).sum(), wrt: [w1]) }
        #expect(count == 0)
        // A leaf that is the root itself is reported too.
        watchingGradients(of: [b], { _ in count += 1 }) { b.backward() }
        #expect(count == 1)
    }

    /// Backward nodes keep only the values their vjps read (`Operation.savedForBackward`): a
    /// product whose only user is an add (which needs no values) is freed once the forward
    /// pass drops it, and the gradient is still exact.
    @Test func backwardNodesKeepOnlyTheValuesTheirGradientsRead() {
        let x = randn([4, 4], seed: 1).requiringGrad()
        weak var product: Storage?
        let y: Tensor
        do {
            let h = x.matmul(x)   // matmul keeps its inputs, not its output
            product = h.storage
            y = (h + x).exp()     // add keeps nothing, exp its output
        }
        #expect(product == nil)
        y.sum().backward()
        let e = (x.detached().matmul(x.detached()) + x.detached()).exp(), xt = x.detached().transposed()
        expectClose(x.grad!, (e.matmul(xt) + xt.matmul(e) + e).scalars(as: Double.self), tolerance: 1e-10)
    }
}
