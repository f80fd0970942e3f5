/// The element type of a tensor.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
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

    public var description: String { rawValue }
}

/// A Swift scalar type that has a tensor dtype: `Float`, `Double`, `Int32`, `Int64`, `Int`, `Bool`.
public protocol TensorScalar {
    static var dtype: DType { get }
    init(fromDouble value: Double)
    var doubleValue: Double { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
    public var doubleValue: Double { Double(self) }
}
extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
    public var doubleValue: Double { self }
}
extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public init(fromDouble value: Double) { self = Int32(value) }
    public var doubleValue: Double { Double(self) }
}
extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = Int64(value) }
    public var doubleValue: Double { Double(self) }
}
extension Int: TensorScalar {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = Int(value) }
    public var doubleValue: Double { Double(self) }
}
extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self = value != 0 }
    public var doubleValue: Double { self ? 1 : 0 }
}
