/// Conversion to another dtype (a copy), differentiable between floating-point dtypes.
public struct CastOp: Operation {
    /// The dtype to convert to.
    public let dtype: DType
    /// An op converting its input to `dtype` (as `tensor.to(dtype)`).
    public init(to dtype: DType) { self.dtype = dtype }
    public var name: String { "cast" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { [TensorSpec(inputs[0].shape, dtype)] }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense
        let y = Tensor(uninitialized: x.shape, dtype: dtype)
        func convert<S, D>(_ s: S.Type, _ d: D.Type, _ f: (S) -> D) {
            let sp = x.pointer(S.self), dp = y.pointer(D.self)
            for i in 0..<x.count { dp[i] = f(sp[i]) }
        }
        switch (x.dtype, dtype) {
        case (.float32, .float64): convert(Float.self, Double.self) { Double($0) }
        case (.float64, .float32): convert(Double.self, Float.self) { Float($0) }
        case (.bool, .float32): convert(UInt8.self, Float.self) { Float($0) }
        case (.bool, .float64): convert(UInt8.self, Double.self) { Double($0) }
        case (.int64, .float32): convert(Int64.self, Float.self) { Float($0) }
        case (.int32, .float32): convert(Int32.self, Float.self) { Float($0) }
        case (.int64, .int32): convert(Int64.self, Int32.self) { Int32(truncatingIfNeeded: $0) }
        case (.int32, .int64): convert(Int32.self, Int64.self) { Int64($0) }
        default:
            var values = [Double](repeating: 0, count: x.count)
            for i in 0..<x.count { values[i] = x.element(i) }
            return [Tensor(doubles: values, shape: x.shape, dtype: dtype)]
        }
        return [y]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .none }
    public func vjp(_ c: VJPContext) -> [Tensor?] {
        c.inputs[0].dtype.isFloatingPoint ? [c.cotangents[0].cast(to: c.inputs[0].dtype)] : [nil]
    }
}

/// A contiguous copy (row-major, own storage); gradient passes through unchanged.
public struct CopyOp: Operation {
    /// Creates the op.
    public init() {}
    public var name: String { "copy" }
    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { inputs }
    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor(uninitialized: inputs[0].shape, dtype: inputs[0].dtype)
        CPUElementwise.copy(inputs[0], into: y)
        return [y]
    }
    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .none }
    public func vjp(_ c: VJPContext) -> [Tensor?] { [c.cotangents[0]] }
}

extension Tensor {
    /// This tensor converted to `dtype` (itself when already of that dtype).
    public func cast(to dtype: DType) -> Tensor {
        dtype == self.dtype ? self : Tensor.apply(CastOp(to: dtype), [self])[0]
    }
    /// A contiguous tensor with the same values (itself when already contiguous).
    public func contiguous() -> Tensor { isContiguous ? self : copied() }
    /// A contiguous copy that owns its storage.
    public func copied() -> Tensor { Tensor.apply(CopyOp(), [self])[0] }
}
