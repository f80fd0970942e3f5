import Apus
import ApusTestSupport
import Testing

/// The fused batch-normalisation op: values against the formula written with elementary ops,
/// gradients (of y and of the statistics outputs, with and without the fused ReLU) against
/// finite differences.
@Suite struct BatchNormTests {
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
}
