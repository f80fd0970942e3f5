import Foundation

/// A Swift value that can become a tensor: a scalar, or arrays of arrays of scalars.
public protocol TensorLiteralConvertible {
    /// Appends the shape below this level (for the first element at each level) and checks it.
    func appendShape(to shape: inout [Int])
    /// Appends the scalars in row-major order, checking that sub-arrays have equal lengths.
    func appendScalars(to scalars: inout [Double], expecting shape: ArraySlice<Int>)
    /// The dtype a literal of this type becomes by default.
    static var defaultDType: DType { get }
}

extension TensorLiteralConvertible where Self: TensorScalar {
    public func appendShape(to shape: inout [Int]) {}
    public func appendScalars(to scalars: inout [Double], expecting shape: ArraySlice<Int>) {
        scalars.append(doubleValue)
    }
}
/// Float literals become Float32 tensors.
extension Float: TensorLiteralConvertible { public static var defaultDType: DType { .float32 } }
/// Double literals become Float32 by default, as Python floats do in PyTorch; pass `dtype: .float64` to keep them.
extension Double: TensorLiteralConvertible { public static var defaultDType: DType { .float32 } }
/// Int literals become Int64 tensors, as Python ints do in PyTorch.
extension Int: TensorLiteralConvertible { public static var defaultDType: DType { .int64 } }
/// Int32 literals become Int32 tensors.
extension Int32: TensorLiteralConvertible { public static var defaultDType: DType { .int32 } }
/// Int64 literals become Int64 tensors.
extension Int64: TensorLiteralConvertible { public static var defaultDType: DType { .int64 } }
/// Bool literals become Bool tensors.
extension Bool: TensorLiteralConvertible { public static var defaultDType: DType { .bool } }

/// Nested arrays of scalars become tensors, one dimension per level of nesting (sub-arrays must have equal lengths).
extension Array: TensorLiteralConvertible where Element: TensorLiteralConvertible {
    public static var defaultDType: DType { Element.defaultDType }
    public func appendShape(to shape: inout [Int]) {
        shape.append(count)
        first?.appendShape(to: &shape)
    }
    public func appendScalars(to scalars: inout [Double], expecting shape: ArraySlice<Int>) {
        precondition(count == shape.first, "Tensor: ragged nested array (a row has \(count) elements, expected \(shape.first ?? 0))")
        for element in self { element.appendScalars(to: &scalars, expecting: shape.dropFirst()) }
    }
}

extension Tensor {
    /// A tensor from a scalar or (nested) Swift arrays: `Tensor([[1, 2], [3, 4]])` has shape [2, 2].
    /// Integer literals become Int64 and floating-point ones Float32 unless `dtype` says otherwise.
    /// Values outside an integer dtype's range saturate and NaN becomes 0 (no trap).
    public init<L: TensorLiteralConvertible>(_ literal: L, dtype: DType? = nil) {
        var shape: [Int] = []
        literal.appendShape(to: &shape)
        var scalars: [Double] = []
        scalars.reserveCapacity(shape.reduce(1, *))
        literal.appendScalars(to: &scalars, expecting: shape[...])
        self.init(doubles: scalars, shape: shape, dtype: dtype ?? L.defaultDType)
    }

    /// A tensor of the given shape from flat row-major scalars.
    public init<T: TensorScalar>(shape: [Int], scalars: [T], dtype: DType? = nil) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "Tensor(shape:scalars:): shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        let target = dtype ?? T.dtype
        if target == T.dtype && T.self != Int.self {
            self.init(uninitialized: shape, dtype: target)
            let destination = pointer(T.self)
            scalars.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
        } else {
            self.init(doubles: scalars.map(\.doubleValue), shape: shape, dtype: target)
        }
    }

    init(doubles: [Double], shape: [Int], dtype: DType) {
        self.init(uninitialized: shape, dtype: dtype)
        let base = storage.pointer
        switch dtype {
        case .float32: for (i, v) in doubles.enumerated() { base.assumingMemoryBound(to: Float.self)[i] = Float(v) }
        case .float64: for (i, v) in doubles.enumerated() { base.assumingMemoryBound(to: Double.self)[i] = v }
        case .int32: for (i, v) in doubles.enumerated() { base.assumingMemoryBound(to: Int32.self)[i] = Int32(v.isNaN ? 0 : Swift.min(Swift.max(v, -2147483648), 2147483647)) }
        case .int64: for (i, v) in doubles.enumerated() { base.assumingMemoryBound(to: Int64.self)[i] = v.isNaN ? 0 : v >= 9.2233720368547758e18 ? .max : v <= -9.2233720368547758e18 ? .min : Int64(v) }
        case .bool: for (i, v) in doubles.enumerated() { base.assumingMemoryBound(to: UInt8.self)[i] = v != 0 ? 1 : 0 }
        }
    }

    /// A tensor of `shape` with every element `value`.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        var t = Tensor(uninitialized: shape, dtype: dtype)
        t.fill(value)
        return t
    }

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 0, dtype: dtype) }
    /// Ones of `shape`.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }
    /// Zeros with this tensor's shape and dtype.
    public func zerosLike() -> Tensor { Tensor.zeros(shape, dtype: dtype) }
    /// Ones with this tensor's shape and dtype.
    public func onesLike() -> Tensor { Tensor.ones(shape, dtype: dtype) }

    /// The n×n identity matrix (or n×m with ones on the main diagonal).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        let columns = m ?? n
        var values = [Double](repeating: 0, count: n * columns)
        for i in 0..<Swift.min(n, columns) { values[i * columns + i] = 1 }
        return Tensor(doubles: values, shape: [n, columns], dtype: dtype)
    }

    /// Values `start, start+step, …` below `end` (1-D). Integer dtype by default when all arguments are whole.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType? = nil) -> Tensor {
        precondition(step != 0, "arange: step must not be zero")
        let count = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let whole = start.rounded() == start && step.rounded() == step
        return Tensor(doubles: (0..<count).map { start + Double($0) * step }, shape: [count],
                      dtype: dtype ?? (whole ? .int64 : .float32))
    }

    /// `count` evenly spaced values from `start` to `end` inclusive (1-D).
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        precondition(count >= 0, "linspace: count must be non-negative")
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        return Tensor(doubles: (0..<count).map { $0 == count - 1 && count > 1 ? end : start + Double($0) * step },
                      shape: [count], dtype: dtype)
    }

    /// Sets every element to `value` (copy-on-write).
    public mutating func fill(_ value: Double) {
        switch dtype {
        case .float32: withUnsafeMutableBuffer(of: Float.self) { $0.update(repeating: Float(value)) }
        case .float64: withUnsafeMutableBuffer(of: Double.self) { $0.update(repeating: value) }
        case .int32: withUnsafeMutableBuffer(of: Int32.self) { $0.update(repeating: Int32(value)) }
        case .int64: withUnsafeMutableBuffer(of: Int64.self) { $0.update(repeating: Int64(value)) }
        case .bool: withUnsafeMutableBuffer(of: Bool.self) { $0.update(repeating: value != 0) }
        }
    }
}
