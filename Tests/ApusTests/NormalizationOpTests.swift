import Apus
import ApusTestSupport
import Testing

/// The fused normalisation ops (batch and layer): values against the formula written with
/// elementary ops, gradients (of y and of the statistics outputs; BatchNorm with and without
/// the fused ReLU, LayerNorm with and without weight and bias) against finite differences.
@Suite struct NormalizationOpTests {
    let g = RandomGenerator(seed: 11)

    @Test func valuesFollowTheFormula() {
        for shape in [[4, 3], [3, 2, 5], [2, 3, 4, 4]] {
            let x = Tensor.normal(shape, dtype: .float64, generator: g) * 2 + 1
            let w = Tensor.normal([shape[1]], dtype: .float64, generator: g), b = Tensor.normal([shape[1]], dtype: .float64, generator: g)
            let (y, mean, invstd) = batchNormTraining(x, weight: w, bias: b, epsilon: 1e-5)
            let axes = [0] + Array(2..<shape.count), broadcast = [1, -1] + Array(repeating: 1, count: shape.count - 2)
            let m = x.mean(axes: axes), v = x.variance(axes: axes, correction: 0)
            let expected = (x - m.reshaped(broadcast)) * (v + 1e-5).rsqrt().reshaped(broadcast) * w.reshaped(broadcast) + b.reshaped(broadcast)
            expectClose(y, expected.scalars(as: Double.self), tolerance: 1e-12)
            expectClose(mean, m.scalars(as: Double.self), tolerance: 1e-12)
            expectClose(invstd, (v + 1e-5).rsqrt().scalars(as: Double.self), tolerance: 1e-12)
            let (r, _, _) = batchNormTraining(x, weight: w, bias: b, epsilon: 1e-5, relu: true)
            expectClose(r, expected.relu().scalars(as: Double.self), tolerance: 1e-12)
        }
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = Tensor.normal([3, 2, 2, 3], dtype: .float64, generator: g)
        let w = Tensor.normal([2], dtype: .float64, generator: g), b = Tensor.normal([2], dtype: .float64, generator: g)
        for relu in [false, true] {
            let failure = gradcheck([x, w, b]) { t in
                let (y, mean, invstd) = batchNormTraining(t[0], weight: t[1], bias: t[2], epsilon: 1e-3, relu: relu)
                return Tensor.concat([y.reshaped([-1]), mean, invstd], axis: 0)
            }
            if let failure { Issue.record("relu \(relu): \(failure)") }
        }
        // Float32 gives the Float64 values to single precision.
        let (y32, _, _) = batchNormTraining(x.cast(to: .float32), weight: w.cast(to: .float32), bias: b.cast(to: .float32), epsilon: 1e-5)
        let (y64, _, _) = batchNormTraining(x, weight: w, bias: b, epsilon: 1e-5)
        expectClose(y32, y64.scalars(as: Double.self), tolerance: 1e-5)
    }

    @Test func layerNormFollowsTheFormulaAndItsGradients() {
        let x = Tensor.normal([3, 4, 6], dtype: .float64, generator: g) * 3 + 2
        let w = Tensor.normal([6], dtype: .float64, generator: g), b = Tensor.normal([6], dtype: .float64, generator: g)
        let m = x.mean(axes: [2], keepDims: true), v = x.variance(axes: [2], keepDims: true, correction: 0)
        let expected = (x - m) * (v + 1e-5).rsqrt() * w + b
        let (y, mean, invstd) = layerNorm(x, count: 6, weight: w, bias: b, epsilon: 1e-5)
        expectClose(y, expected.scalars(as: Double.self), tolerance: 1e-12)
        expectClose(mean, m.scalars(as: Double.self), tolerance: 1e-12)
        expectClose(invstd, (v + 1e-5).rsqrt().scalars(as: Double.self), tolerance: 1e-12)
        expectClose(layerNorm(x.cast(to: .float32), count: 6, weight: w.cast(to: .float32), bias: b.cast(to: .float32), epsilon: 1e-5).output,
                    expected.scalars(as: Double.self), tolerance: 1e-5)
        // Normalised over two trailing dimensions, as LayerNorm([4, 6]) does.
        let (both, _, _) = layerNorm(x, count: 24, weight: nil, bias: nil, epsilon: 1e-5)
        let m2 = x.mean(axes: [1, 2], keepDims: true), v2 = x.variance(axes: [1, 2], keepDims: true, correction: 0)
        expectClose(both, ((x - m2) * (v2 + 1e-5).rsqrt()).scalars(as: Double.self), tolerance: 1e-12)
        for (weight, bias) in [(w, b), (nil, nil), (nil, b)] as [(Tensor?, Tensor?)] {
            let affine = [weight, bias].compactMap { $0 }
            let failure = gradcheck([x] + affine) { t in
                let (y, mean, invstd) = layerNorm(t[0], count: 6, weight: weight.map { _ in t[1] }, bias: bias.map { _ in t.last! }, epsilon: 1e-3)
                return Tensor.concat([y.reshaped([-1]), mean, invstd], axis: 0)
            }
            if let failure { Issue.record("weight \(weight != nil), bias \(bias != nil): \(failure)") }
        }
    }

    /// The fused ops' gradients taken with `createGraph` are differentiated again (they switch
    /// to differentiable ops), checked by gradcheck on the first gradient.
    @Test func gradientsDifferentiateAgain() {
        // gradcheck's probe runs without gradients: give the inputs one there.
        func leaves(_ t: [Tensor]) -> [Tensor] { t.map { $0.requiresGrad ? $0 : $0.requiringGrad() } }
        let x = Tensor.normal([4, 3, 2], dtype: .float64, generator: g), r = Tensor.normal([4, 3, 2], dtype: .float64, generator: g)
        let w = Tensor.normal([3], dtype: .float64, generator: g), b = Tensor.normal([3], dtype: .float64, generator: g)
        for relu in [false, true] {
            expectGradients([x, w, b]) { u in
                let t = leaves(u)
                let inner = withGrad { (batchNormTraining(t[0], weight: t[1], bias: t[2], epsilon: 1e-3, relu: relu).output * r).sum() }
                let first = gradients(of: inner, wrt: [t[0], t[1]], createGraph: true)
                return Tensor.concat([first[0].reshaped([-1]), first[1]], axis: 0)
            }
        }
        let v = Tensor.normal([2], dtype: .float64, generator: g)
        expectGradients([x, v]) { u in
            let t = leaves(u)
            let inner = withGrad { (layerNorm(t[0], count: 2, weight: t[1], bias: nil, epsilon: 1e-3).output * r).sum() }
            let first = gradients(of: inner, wrt: [t[0], t[1]], createGraph: true)
            return Tensor.concat([first[0].reshaped([-1]), first[1]], axis: 0)
        }
        let labels = Tensor([2, 0, 1, 1] as [Int64])
        expectGradients([x.reshaped([4, 6])]) { u in
            let t = leaves(u)
            let inner = withGrad { crossEntropy(logits: t[0] * t[0], labels: labels) }
            return gradients(of: inner, wrt: [t[0]], createGraph: true)[0]
        }
    }
}
