import Testing
@testable import Apus
import ApusTestSupport

@Suite struct MatMulConvTests {
    @Test func matmulValues() {
        let a = Tensor([[1.0, 2.0], [3.0, 4.0]]), b = Tensor([[5.0, 6.0], [7.0, 8.0]])
        expectClose(a.matmul(b), [19, 22, 43, 50])
        expectClose(a.matmul(b.T), [17, 23, 39, 53])
        expectClose(a.T.matmul(b), [26, 30, 38, 44])
        expectClose(a.matmul(Tensor([1.0, 1.0])), [3, 7])
        expectClose(Tensor([1.0, 1.0]).matmul(a), [4, 6])
        #expect(Tensor([1.0, 2.0]).matmul(Tensor([3.0, 4.0])).shape == [])
        let d = Tensor([[1.0, 2.0], [3.0, 4.0]], dtype: .float64)
        expectClose(d.matmul(d), [7, 10, 15, 22])
        #expect(Tensor.zeros([3, 0]).matmul(Tensor.zeros([0, 2])).scalars(as: Float.self) == [0, 0, 0, 0, 0, 0])
    }

    @Test func batchedBroadcastingMatchesPyTorch() {
        let c = Fixtures.core["matmul_broadcast"]!
        let a = c.input("a"), b = c.input("b"), r = c.input("r")
        let y = a.matmul(b)
        #expect(y.shape == [2, 5, 3, 2])
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        let (_, grads) = valueAndGrad(at: [a, b]) { ($0[0].matmul($0[1]) * r).sum() }
        expectClose(grads[0], c.output("grad_a").data, tolerance: 1e-12)
        expectClose(grads[1], c.output("grad_b").data, tolerance: 1e-12)
        expectClose(a.cast(to: .float32).matmul(b.cast(to: .float32)), c.output("y").data, tolerance: 1e-5)
    }

    @Test func matmulGradients() {
        let a = randn([3, 4], seed: 1), b = randn([4, 2], seed: 2)
        expectGradients([a, b]) { $0[0].matmul($0[1]) }
        expectGradients([randn([2, 3, 4], seed: 3), b]) { $0[0].matmul($0[1]) }             // folded batch
        expectGradients([randn([4, 3], seed: 4), randn([2, 2, 4], seed: 5)]) { $0[0].T.matmul($0[1].transposed(1, 2)) }
        expectGradients([randn([4], seed: 6), b]) { $0[0].matmul($0[1]) }
    }

    /// A matrix product with a bias added to every row (graph mode's fused Linear): values by
    /// hand, an empty inner dimension (the bias alone), a large Float32 case (rows filled on
    /// several threads) against product + bias, and gradients by finite differences (bias [N]
    /// and [1, N], a transposed weight, a folded batch).
    @Test func matmulWithBiasValuesAndGradients() {
        let withBias = MatMulOp(withBias: true)
        let a = Tensor([[1.0, 2.0], [3.0, 4.0]]), b = Tensor([[5.0, 6.0], [7.0, 8.0]]), bias = Tensor([0.5, -1.0])
        expectClose(Tensor.apply(withBias, [a, b, bias])[0], [19.5, 21, 43.5, 49])
        expectClose(Tensor.apply(withBias, [Tensor.zeros([2, 0]), Tensor.zeros([0, 2]), bias])[0], [0.5, -1, 0.5, -1])
        let x = randn([300, 257], seed: 7).cast(to: .float32), w = randn([129, 257], seed: 8).cast(to: .float32), c = randn([129], seed: 9).cast(to: .float32)
        expectClose(Tensor.apply(withBias, [x, w.T, c])[0], (x.matmul(w.T) + c).scalars(as: Double.self), tolerance: 1e-5)
        expectGradients([randn([3, 4], seed: 1), randn([4, 2], seed: 2), randn([2], seed: 3)]) { Tensor.apply(withBias, $0)[0] }
        expectGradients([randn([2, 3, 4], seed: 4), randn([5, 4], seed: 5), randn([1, 5], seed: 6)]) {
            Tensor.apply(withBias, [$0[0], $0[1].T, $0[2]])[0]
        }
    }

    @Test func conv2dMatchesPyTorch() {
        let c = Fixtures.core["conv2d_basic"]!
        let x = c.input("x"), w = c.input("w"), b = c.input("b"), r = c.input("r")
        for dtype in [DType.float64, .float32] {
            let tol = dtype == .float64 ? 1e-12 : 1e-5
            expectClose(conv2d(x.cast(to: dtype), weight: w.cast(to: dtype), bias: b.cast(to: dtype), padding: (1, 1)),
                        c.output("y").data, tolerance: tol)
        }
        let (_, g) = valueAndGrad(at: [x, w, b]) { (conv2d($0[0], weight: $0[1], bias: $0[2], padding: (1, 1)) * r).sum() }
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-12)
        expectClose(g[1], c.output("grad_w").data, tolerance: 1e-12)
        expectClose(g[2], c.output("grad_b").data, tolerance: 1e-12)
    }

    @Test func conv2dStrideDilationGroupsMatchPyTorch() {
        let c = Fixtures.core["conv2d_general"]!
        let x = c.input("x"), w = c.input("w"), r = c.input("r")
        func f(_ t: [Tensor]) -> Tensor { conv2d(t[0], weight: t[1], stride: (2, 1), padding: (1, 2), dilation: (2, 1), groups: 2) }
        expectClose(f([x, w]), c.output("y").data, tolerance: 1e-12)
        let (_, g) = valueAndGrad(at: [x, w]) { (f($0) * r).sum() }
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-12)
        expectClose(g[1], c.output("grad_w").data, tolerance: 1e-12)
    }

    /// Large enough that each image is convolved in several blocks of output rows: forward
    /// against a direct loop, and both gradients through the adjoint identities
    /// ⟨g, conv(x, w)⟩ = ⟨inputGrad(g, w), x⟩ = ⟨weightGrad(x, g), w⟩.
    @Test func blockedConvolutionMatchesDirectLoopsAndAdjoints() {
        let x = randn([2, 64, 20, 40], seed: 11), w = randn([4, 64, 3, 3], seed: 12), g = randn([2, 4, 20, 40], seed: 13)
        let geometry = Conv2dGeometry(padding: (1, 1))
        #expect(ConvKernel.rowsPerBlock(colRows: 576, outputWidth: 40, outputHeight: 20) < 20)
        let y = conv2d(x, weight: w, padding: (1, 1))
        let xs = x.scalars(as: Double.self), ws = w.scalars(as: Double.self), ys = y.scalars(as: Double.self)
        for (n, o, oy, ox) in [(0, 0, 0, 0), (1, 3, 19, 39), (0, 2, 10, 17), (1, 1, 7, 0)] {
            var expected = 0.0
            for c in 0..<64 { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy + ky - 1, ix = ox + kx - 1
                if iy >= 0 && iy < 20 && ix >= 0 && ix < 40 { expected += xs[((n * 64 + c) * 20 + iy) * 40 + ix] * ws[((o * 64 + c) * 3 + ky) * 3 + kx] }
            } } }
            #expect(Swift.abs(ys[((n * 4 + o) * 20 + oy) * 40 + ox] - expected) < 1e-9)
        }
        let forward = (g * y).sum().item()
        let dx = Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g, w])[0]
        let dw = Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape), [x, g])[0]
        #expect(Swift.abs((dx * x).sum().item() - forward) < 1e-8 * Swift.abs(forward))
        #expect(Swift.abs((dw * w).sum().item() - forward) < 1e-8 * Swift.abs(forward))
    }

    @Test func fusedConvBiasReLUMatchesTheUnfusedOps() {
        let x = randn([2, 2, 5, 4], seed: 7), w = randn([3, 2, 3, 3], seed: 8), b = randn([3], seed: 9)
        let unfused = (conv2d(x, weight: w, padding: (1, 1)) + b.reshaped([1, 3, 1, 1])).relu()
        expectClose(conv2d(x, weight: w, bias: b, padding: (1, 1), relu: true), unfused.scalars(as: Double.self), tolerance: 1e-12)
        expectGradients([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], padding: (1, 1), relu: true) }
        expectGradients([x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 0)) }
    }

    @Test func conv2dGradcheckAndSecondOrder() {
        let x = randn([1, 2, 5, 4], seed: 1), w = randn([3, 2, 3, 2], seed: 2)
        expectGradients([x, w]) { conv2d($0[0], weight: $0[1], stride: (2, 1), padding: (1, 1)) }
        // The gradient ops are differentiable too (their vjps are convolutions).
        let g = randn([1, 3, 3, 5], seed: 3)
        expectGradients([g, w]) { Tensor.apply(Conv2dInputGradOp(geometry: Conv2dGeometry(stride: (2, 1), padding: (1, 1)), inputShape: [1, 2, 5, 4]), $0)[0] }
        expectGradients([x, g]) { Tensor.apply(Conv2dWeightGradOp(geometry: Conv2dGeometry(stride: (2, 1), padding: (1, 1)), weightShape: [3, 2, 3, 2]), $0)[0] }
        // With the bias gradient as a second output: both outputs differentiate (and the bias one is g summed).
        let withBias = Conv2dWeightGradOp(geometry: Conv2dGeometry(stride: (2, 1), padding: (1, 1)), weightShape: [3, 2, 3, 2], withBias: true)
        expectGradients([x, g]) { let r = Tensor.apply(withBias, $0); return (r[0] * r[0]).sum() + (r[1] * r[1]).sum() }
    }

    /// The LSTM recurrence's product (W_hh packed into 16-column panels for Float32 on AVX2, BLAS
    /// per thread for Float64): forward `source + h·W_hhᵀ` and backward `dh + dGates·W_hh` for
    /// 1–20 rows and hidden sizes that are not multiples of 16, split across threads or not,
    /// against the products in Float64.
    @Test func recurrentProductsMatchFloat64() {
        for (rows, hidden) in [(1, 5), (7, 16), (13, 37), (20, 40), (20, 64)] {
            let w = randn([4 * hidden, hidden], seed: 31), h = randn([rows, hidden], seed: 32)
            let source = randn([rows, 4 * hidden], seed: 33), dGates = randn([rows, 4 * hidden], seed: 34), dh = randn([rows, hidden], seed: 35)
            let forward = (source + h.matmul(w.transposed())).scalars(as: Double.self)
            let backward = (dh + dGates.matmul(w)).scalars(as: Double.self)
            for dtype in [DType.float32, .float64] {
                let gates = Tensor(uninitialized: [rows, 4 * hidden], dtype: dtype)
                let (hIn, sourceIn, dGatesIn) = (h.cast(to: dtype).contiguous(), source.cast(to: dtype).contiguous(), dGates.cast(to: dtype).contiguous())
                let up = LSTMRecurrentProduct(.forward, weights: w.cast(to: dtype), rows: rows)
                up.run { units in up.multiply(units, rows: rows, a: hIn.rawPointer, source: sourceIn.rawPointer, c: gates.rawPointer) }
                expectClose(gates, forward, tolerance: 1e-4)
                let dhOut = dh.cast(to: dtype).contiguous().detached() * 1
                let down = LSTMRecurrentProduct(.backward, weights: w.cast(to: dtype), rows: rows)
                down.run { units in down.multiply(units, rows: rows, a: dGatesIn.rawPointer, source: nil, c: dhOut.rawPointer) }
                expectClose(dhOut, backward, tolerance: 1e-4)
            }
        }
    }

    /// Winograd F(2×2, 3×3) (Float32 3×3 stride-1 convolutions of at least 16 channels) against
    /// the im2col path in Float64: odd and even sizes, paddings 0–2, images fewer and more than
    /// one chunk, forward, input gradient (a forward convolution of the rotated weights) and
    /// weight gradient.
    @Test func winogradConvolutionMatchesTheGEMMPath() {
        for (n, c, o, h, w, pad) in [(1, 16, 16, 5, 7, 1), (3, 32, 24, 9, 8, 0), (2, 17, 40, 4, 4, 2), (9, 64, 64, 32, 32, 1),
                                     (2, 16, 16, 3, 3, 1), (40, 256, 16, 4, 4, 1)] {
            let x = randn([n, c, h, w], seed: 21), k = randn([o, c, 3, 3], seed: 22)
            let geometry = Conv2dGeometry(padding: (pad, pad))
            #expect(WinogradConv.suits(x: x.cast(to: .float32), w: k.cast(to: .float32), geometry: geometry))
            let reference = conv2d(x, weight: k, padding: (pad, pad)), expected = reference.scalars(as: Double.self)
            let scale = expected.map(Swift.abs).max()!
            expectClose(conv2d(x.cast(to: .float32), weight: k.cast(to: .float32), padding: (pad, pad)), expected, tolerance: 1e-5 * scale)
            let g = randn(reference.shape, seed: 23)
            let dx = Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g, k])[0].scalars(as: Double.self)
            let dx32 = Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g.cast(to: .float32), k.cast(to: .float32)])[0]
            expectClose(dx32, dx, tolerance: 1e-5 * dx.map(Swift.abs).max()!)
            let dw = Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: k.shape), [x, g])[0].scalars(as: Double.self)
            let dw32 = Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: k.shape), [x.cast(to: .float32), g.cast(to: .float32)])[0]
            expectClose(dw32, dw, tolerance: 1e-5 * dw.map(Swift.abs).max()!)
        }
    }

    /// The direct 3×3 kernels (Float32) against the GEMM path in Float64, on widths that are not
    /// multiples of 16 (tiles spanning rows), channel counts not multiples of 8, paddings 0–2:
    /// forward with bias and ReLU, plain forward, weight gradient and input gradient.
    @Test func directConvolutionMatchesTheGEMMPath() {
        for (channels, outputs, height, width, pad) in [(3, 5, 7, 20, 1), (1, 8, 5, 16, 0), (4, 9, 9, 33, 1), (2, 3, 3, 3, 1),
                                                        (16, 24, 6, 37, 1), (9, 8, 4, 50, 2), (12, 5, 5, 16, 0)] {
            let x = randn([3, channels, height, width], seed: 11), w = randn([outputs, channels, 3, 3], seed: 12), b = randn([outputs], seed: 13)
            let geometry = Conv2dGeometry(padding: (pad, pad))
            let reference = Tensor.apply(Conv2dBiasReLUOp(geometry: geometry, relu: true), [x, w, b])[0]
            let direct = Tensor.apply(Conv2dBiasReLUOp(geometry: geometry, relu: true), [x, w, b].map { $0.cast(to: .float32) })[0]
            #expect(DirectConv.applies(x: x.cast(to: .float32), w: w.cast(to: .float32), geometry: geometry))
            expectClose(direct, reference.scalars(as: Double.self), tolerance: 1e-5)
            let plain = Tensor.apply(Conv2dOp(geometry: geometry), [x, w].map { $0.cast(to: .float32) })[0]
            expectClose(plain, Tensor.apply(Conv2dOp(geometry: geometry), [x, w])[0].scalars(as: Double.self), tolerance: 1e-5)
            let g = randn(reference.shape, seed: 14)
            let op = Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape)
            expectClose(Tensor.apply(op, [x, g].map { $0.cast(to: .float32) })[0], Tensor.apply(op, [x, g])[0].scalars(as: Double.self), tolerance: 1e-4)
            let both = Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape, withBias: true), [x, g].map { $0.cast(to: .float32) })
            expectClose(both[0], Tensor.apply(op, [x, g])[0].scalars(as: Double.self), tolerance: 1e-4)
            expectClose(both[1], g.sum(axes: [0, 2, 3]).scalars(as: Double.self), tolerance: 1e-4)
            let inputGradient = Conv2dInputGradOp(geometry: geometry, inputShape: x.shape)
            #expect(DirectConv.appliesToInputGradient(x: g.cast(to: .float32), w: w.cast(to: .float32), geometry: geometry))
            expectClose(Tensor.apply(inputGradient, [g, w].map { $0.cast(to: .float32) })[0],
                        Tensor.apply(inputGradient, [g, w])[0].scalars(as: Double.self), tolerance: 1e-4)
        }
    }
}
