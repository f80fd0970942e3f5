import Apus
import Foundation

/// How a parameter's first value is drawn. Layers default to PyTorch's choices, so training
/// behaves the same; pass another to override.
public enum Initializer: Sendable {
    /// U(−b, b), b = gain·√(3 / fanIn) with gain √(2 / (1 + a²)) (He/Kaiming). PyTorch's Linear
    /// and Conv default is `kaimingUniform(a: √5)`, i.e. b = 1/√fanIn.
    case kaimingUniform(a: Double)
    /// N(0, gain² / fanIn) with gain √(2 / (1 + a²)).
    case kaimingNormal(a: Double)
    /// U(−b, b), b = gain·√(6 / (fanIn + fanOut)) (Glorot).
    case xavierUniform(gain: Double)
    /// N(0, gain²·2 / (fanIn + fanOut)).
    case xavierNormal(gain: Double)
    /// A (semi-)orthogonal matrix times `gain` (rows flattened beyond the first dimension).
    case orthogonal(gain: Double)
    /// U(low, high): uniform between `low` and `high` (`torch.nn.init.uniform_`).
    case uniform(low: Double, high: Double)
    /// N(mean, std²): normal with mean `mean` and standard deviation `std` (`torch.nn.init.normal_`).
    case normal(mean: Double, std: Double)
    /// Every element equal to the value (`torch.nn.init.constant_`).
    case constant(Double)

    /// All zeros: `.constant(0)`.
    public static let zeros = Initializer.constant(0)
    /// All ones: `.constant(1)`.
    public static let ones = Initializer.constant(1)

    /// fan-in and fan-out of a weight shape: [out, in, kernel…] as PyTorch computes them.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        if shape.count < 2 { return (shape.first ?? 1, shape.first ?? 1) }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// A new tensor of `shape` drawn from this initializer.
    public func make(_ shape: [Int], dtype: DType = .float32, generator: RandomGenerator = .global) -> Tensor {
        let (fanIn, fanOut) = Initializer.fans(shape)
        switch self {
        case .kaimingUniform(let a):
            let bound = (2 / (1 + a * a)).squareRoot() * (3 / Double(fanIn)).squareRoot()
            return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: generator)
        case .kaimingNormal(let a):
            return Tensor.normal(shape, std: (2 / (1 + a * a)).squareRoot() / Double(fanIn).squareRoot(), dtype: dtype, generator: generator)
        case .xavierUniform(let gain):
            let bound = gain * (6 / Double(fanIn + fanOut)).squareRoot()
            return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, generator: generator)
        case .xavierNormal(let gain):
            return Tensor.normal(shape, std: gain * (2 / Double(fanIn + fanOut)).squareRoot(), dtype: dtype, generator: generator)
        case .orthogonal(let gain):
            return Initializer.orthogonalMatrix(shape, gain: gain, dtype: dtype, generator: generator)
        case .uniform(let low, let high):
            return Tensor.uniform(shape, low: low, high: high, dtype: dtype, generator: generator)
        case .normal(let mean, let std):
            return Tensor.normal(shape, mean: mean, std: std, dtype: dtype, generator: generator)
        case .constant(let value):
            return Tensor.full(shape, value, dtype: dtype)
        }
    }

    /// Gram–Schmidt on a normal matrix: orthonormal rows (or columns, whichever are fewer).
    private static func orthogonalMatrix(_ shape: [Int], gain: Double, dtype: DType, generator: RandomGenerator) -> Tensor {
        let rows = shape.first ?? 1, columns = shape.dropFirst().reduce(1, *)
        let transpose = rows < columns
        let (n, m) = transpose ? (columns, rows) : (rows, columns)   // orthonormalise m columns of length n
        var a = Tensor.normal([n, m], dtype: .float64, generator: generator).scalars(as: Double.self)
        for j in 0..<m {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<n { dot += a[i * m + j] * a[i * m + k] }
                for i in 0..<n { a[i * m + j] -= dot * a[i * m + k] }
            }
            var norm = 0.0
            for i in 0..<n { norm += a[i * m + j] * a[i * m + j] }
            norm = Swift.max(norm.squareRoot(), 1e-12)
            for i in 0..<n { a[i * m + j] /= norm }
        }
        var q = Tensor(shape: [n, m], scalars: a.map { $0 * gain })
        if transpose { q = q.transposed().contiguous() }
        return q.reshaped(shape).cast(to: dtype)
    }
}
