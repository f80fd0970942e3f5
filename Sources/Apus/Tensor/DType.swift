/// The element type of a tensor.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 32- and 64-bit IEEE floats, 32- and 64-bit signed integers, and booleans (one byte each), as `torch.float32` … `torch.bool`.
    case float32, float64, int32, int64, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .bool: return 1
        }
    }

    /// Float32 and Float64: the dtypes gradients flow through.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// The dtype's name: "float32", "float64", "int32", "int64" or "bool".
    public var description: String { rawValue }
}

/// A Swift scalar type that has a tensor dtype: `Float`, `Double`, `Int32`, `Int64`, `Int`, `Bool`.
public protocol TensorScalar {
    /// The dtype of tensors holding this type (`Int` is `int64`).
    static var dtype: DType { get }
    /// Converts from Double: `Float` rounds to nearest, integer types truncate toward zero (trapping out of range), `Bool` is `value != 0`.
    init(fromDouble value: Double)
    /// The value as a Double (Bool is 0 or 1).
    var doubleValue: Double { get }
}

/// `Float` is the scalar of `float32` tensors.
extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
    public var doubleValue: Double { Double(self) }
}
/// `Double` is the scalar of `float64` tensors.
extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
    public var doubleValue: Double { self }
}
/// `Int32` is the scalar of `int32` tensors.
extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public init(fromDouble value: Double) { self = Int32(value) }
    public var doubleValue: Double { Double(self) }
}
/// `Int64` is the scalar of `int64` tensors.
extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = Int64(value) }
    public var doubleValue: Double { Double(self) }
}
/// `Int` (64-bit) is read and written as the scalar of `int64` tensors.
extension Int: TensorScalar {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = Int(value) }
    public var doubleValue: Double { Double(self) }
}
/// `Bool` is the scalar of `bool` tensors (one byte per element).
extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self = value != 0 }
    public var doubleValue: Double { self ? 1 : 0 }
}
