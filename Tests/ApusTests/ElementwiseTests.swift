import Foundation
import Testing
@testable import Apus
import ApusTestSupport

@Suite struct ElementwiseTests {
    let x = Tensor([-2.0, -0.5, 0.25, 1.5], dtype: .float64)
    let positive = Tensor([0.3, 1.0, 2.5, 4.0], dtype: .float64)

    @Test func unaryValues() {
        let v: [Double] = [-2, -0.5, 0.25, 1.5], p: [Double] = [0.3, 1, 2.5, 4]
        expectClose(-x, v.map { -$0 })
        expectClose(x.exp(), v.map { Foundation.exp($0) })
        expectClose(positive.log(), p.map { Foundation.log($0) })
        expectClose(positive.sqrt(), p.map { $0.squareRoot() })
        expectClose(positive.rsqrt(), p.map { 1 / $0.squareRoot() })
        expectClose(x.abs(), v.map { Swift.abs($0) })
        expectClose(x.sin(), v.map { Foundation.sin($0) })
        expectClose(x.cos(), v.map { Foundation.cos($0) })
        expectClose(x.tanh(), v.map { Foundation.tanh($0) })
        expectClose(x.sigmoid(), v.map { 1 / (1 + Foundation.exp(-$0)) })
        expectClose(x.relu(), [0, 0, 0.25, 1.5])
        expectClose(x.leakyRelu(negativeSlope: 0.1), [-0.2, -0.05, 0.25, 1.5])
        expectClose(x.softplus(), v.map { Foundation.log(1 + Foundation.exp($0)) })
        expectClose(x.clamp(min: -1, max: 1), [-1, -0.5, 0.25, 1])
        expectClose(x.sign(), [-1, -1, 1, 1])
        expectClose(x.pow(2), v.map { $0 * $0 })
        expectClose(x * 3 + 1, v.map { $0 * 3 + 1 })
        expectClose(1 - x, v.map { 1 - $0 })
        expectClose(2 / positive, p.map { 2 / $0 })
    }

    @Test func unaryMatchesPyTorch() {
        let c = Fixtures.core["unary"]!
        let x = c.input("x")
        for dtype in [DType.float64, .float32] {
            let xd = x.cast(to: dtype), tol = dtype == .float64 ? 1e-12 : 1e-5
            expectClose(xd.gelu(), c.output("gelu").data, tolerance: tol)
            expectClose(xd.softplus(), c.output("softplus").data, tolerance: tol)
            expectClose(xd.sigmoid(), c.output("sigmoid").data, tolerance: tol)
            expectClose(xd.tanh(), c.output("tanh").data, tolerance: tol)
        }
    }

    /// GELU's tanh approximation (PyTorch's `approximate="tanh"`): values and gradients, Float64
    /// and Float32 (whose kernel uses the vectorised tanh), and finite differences.
    @Test func geluTanhMatchesPyTorch() {
        let c = Fixtures.core["gelu_tanh"]!
        let x = c.input("x"), r = c.input("r")
        for dtype in [DType.float64, .float32] {
            let xd = x.cast(to: dtype), rd = r.cast(to: dtype), tol = dtype == .float64 ? 1e-12 : 1e-5
            expectClose(xd.gelu(approximate: .tanh), c.output("y").data, tolerance: tol)
            expectClose(grad(at: xd) { ($0.gelu(approximate: .tanh) * rd).sum() }, c.output("grad_x").data, tolerance: tol)
        }
        expectGradients([x]) { $0[0].gelu(approximate: .tanh) }
        // Long enough for the vector loop and its tail; far out it is x or 0 as the exact GELU is.
        let wide = Tensor.linspace(-12, 12, count: 37, dtype: .float32)
        let exact = wide.gelu().scalars(as: Double.self), approximate = wide.gelu(approximate: .tanh).scalars(as: Double.self)
        #expect(zip(exact, approximate).allSatisfy { Swift.abs($0 - $1) < 1e-3 })
    }

    @Test func unaryGradients() {
        let fs: [(String, (Tensor) -> Tensor)] = [
            ("neg", { -$0 }), ("exp", { $0.exp() }), ("sin", { $0.sin() }), ("cos", { $0.cos() }),
            ("tanh", { $0.tanh() }), ("sigmoid", { $0.sigmoid() }), ("relu", { $0.relu() }),
            ("leakyRelu", { $0.leakyRelu(negativeSlope: 0.2) }), ("gelu", { $0.gelu() }), ("geluTanh", { $0.gelu(approximate: .tanh) }),
            ("softplus", { $0.softplus() }), ("clamp", { $0.clamp(min: -1, max: 1) }), ("abs", { $0.abs() }),
            ("affine", { $0 * 3 - 2 }), ("powScalar", { $0.pow(3) }),
        ]
        for (name, f) in fs {
            if let failure = gradcheck([x], { f($0[0]) }) { Issue.record("\(name): \(failure)") }
        }
        for (name, f) in [("log", { (t: Tensor) in t.log() }), ("sqrt", { $0.sqrt() }), ("rsqrt", { $0.rsqrt() }),
                          ("powFractional", { $0.pow(1.5) }), ("reciprocal", { 1 / $0 })] {
            if let failure = gradcheck([positive], { f($0[0]) }) { Issue.record("\(name): \(failure)") }
        }
    }

    @Test func binaryValuesAndBroadcasting() {
        let a = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])   // [2, 3]
        let row = Tensor([10.0, 20.0, 30.0])                  // [3]
        let column = Tensor([[1.0], [2.0]])                   // [2, 1]
        expectClose(a + row, [11, 22, 33, 14, 25, 36])
        expectClose(a - column, [0, 1, 2, 2, 3, 4])
        expectClose(a * column, [1, 2, 3, 8, 10, 12])
        expectClose(a / row, [0.1, 0.1, 0.1, 0.4, 0.25, 0.2])
        expectClose(column + row, [11, 21, 31, 12, 22, 32])           // [2,1] + [3] → [2, 3]
        #expect((column + row).shape == [2, 3])
        expectClose(a + Tensor(100.0), [101, 102, 103, 104, 105, 106])  // 0-d broadcast
        expectClose(Tensor.pow(a, Tensor(2.0)), [1, 4, 9, 16, 25, 36])
        expectClose(Tensor.maximum(a, Tensor(3.5)), [3.5, 3.5, 3.5, 4, 5, 6])
        expectClose(Tensor.minimum(a, column * 2), [1, 2, 2, 4, 4, 4])
        // Size-0 dimension broadcasts to size 0.
        #expect((Tensor.zeros([0, 3]) + row).shape == [0, 3])
        // Broadcasting against a transposed (non-contiguous) view.
        let t = Tensor.arange(0, 6, dtype: .float32).reshaped([3, 2]).transposed()
        expectClose(t + Tensor([[0.0], [100.0]]), [0, 2, 4, 101, 103, 105])
        // Integers.
        #expect((Tensor([1, 2, 3]) * Tensor([2]) + 1).scalars(as: Int64.self) == [3, 5, 7])
        #expect((Tensor([7, -7]) / Tensor([2])).scalars(as: Int64.self) == [3, -3])
    }

    @Test func largeElementwiseSplitsAcrossThreadsCorrectly() {
        let n = 1 << 19
        let a = Tensor.arange(0, Double(n), dtype: .float32)
        let b = (a + a * 2).sum(axes: [])
        #expect(Swift.abs(b.item() - 3 * Double(n) * Double(n - 1) / 2) / b.item() < 1e-4)
        let m = a.reshaped([512, 1024]) + Tensor.arange(0, 1024, dtype: .float32)
        #expect(m.scalars(as: Float.self)[1024 * 300 + 7] == Float(1024 * 300 + 7 + 7))
    }

    @Test func binaryGradientsWithBroadcasting() {
        let a = randn([2, 3], seed: 1), row = randn([3], seed: 2), column = randn([2, 1], seed: 3)
        let positiveA = a.abs() + 0.5
        expectGradients([a, row]) { $0[0] + $0[1] }
        expectGradients([a, column]) { $0[0] - $0[1] }
        expectGradients([a, row]) { $0[0] * $0[1] }
        expectGradients([a, column]) { $0[0] / ($0[1].abs() + 1) }
        expectGradients([positiveA, column]) { Tensor.pow($0[0], $0[1]) }
        expectGradients([a, row]) { Tensor.maximum($0[0], $0[1]) }
        expectGradients([a, column]) { Tensor.minimum($0[0], $0[1]) }
        expectGradients([column, row]) { $0[0] * $0[1] }   // both broadcast
        let transposedView = randn([3, 2], seed: 4)
        expectGradients([transposedView, a]) { $0[0].transposed() * $0[1] }
    }

    @Test func comparisonsAndWhere() {
        let a = Tensor([1.0, 2.0, 3.0]), b = Tensor([3.0, 2.0, 1.0])
        #expect((a .< b).scalars(as: Bool.self) == [true, false, false])
        #expect((a .<= b).scalars(as: Bool.self) == [true, true, false])
        #expect((a .> b).scalars(as: Bool.self) == [false, false, true])
        #expect((a .>= 2).scalars(as: Bool.self) == [false, true, true])
        #expect((a .== b).scalars(as: Bool.self) == [false, true, false])
        #expect((a .!= b).scalars(as: Bool.self) == [true, false, true])
        #expect((Tensor([1, 5]) .> Tensor([3])).scalars(as: Bool.self) == [false, true])
        #expect((a .< b).dtype == .bool && !(a.requiringGrad() .< b).requiresGrad)
        expectClose(Tensor.where(a .> 1.5, a, b * 10), [30, 2, 3])
        let cond = Tensor([[true], [false]])
        expectClose(Tensor.where(cond, Tensor([1.0, 2.0]), Tensor(0.0)), [1, 2, 0, 0])
        let x = randn([2, 3], seed: 9), y = randn([3], seed: 10)
        let mask = Tensor([[true, false, true], [false, true, true]])
        expectGradients([x, y]) { Tensor.where(mask, $0[0], $0[1]) }
    }

    @Test func castConvertsAndCarriesGradients() {
        expectClose(Tensor([1.7, -2.2]).cast(to: .int64), [1, -2])
        #expect(Tensor([true, false]).cast(to: .float32).scalars(as: Float.self) == [1, 0])
        #expect(Tensor([0, 3]).cast(to: .bool).scalars(as: Bool.self) == [false, true])
        let g = grad(at: randn([3])) { ($0.cast(to: .float32) * 2).cast(to: .float64).sum() }
        #expect(g.dtype == .float64)
        expectClose(g, [2, 2, 2])
    }
}
