/// Shape and dtype of a tensor, without data: what a shape rule reads and returns.
public struct TensorSpec: Hashable, Sendable, CustomStringConvertible {
    /// The size of each dimension, outermost first (empty for a scalar).
    public var shape: [Int]
    /// The element type.
    public var dtype: DType

    /// The spec of a tensor of `shape` and `dtype` (Float32 unless given).
    public init(_ shape: [Int], _ dtype: DType = .float32) {
        self.shape = shape
        self.dtype = dtype
    }

    /// Number of elements (1 for a scalar).
    public var count: Int { shape.reduce(1, *) }
    /// The shape and dtype, as "[2, 3] float32".
    public var description: String { "\(shape) \(dtype)" }

    /// Whether a tensor of this spec could exist: no negative dimension, and the non-zero ones
    /// multiply (in bytes) without overflow, so neither its byte count nor a stride overflows.
    public var isAddressable: Bool {
        var bytes = dtype.byteSize
        for d in shape {
            guard d >= 0 else { return false }
            guard d > 0 else { continue }
            let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
            if overflow { return false }
            bytes = product
        }
        return true
    }
}

/// An n-dimensional array: shape, strides and offset into a shared `Storage`, a dtype, and
/// (when it takes part in differentiation) its autograd record.
///
/// `Tensor` is a value type: views (transpose, slicing, expand, reshape of contiguous data)
/// share storage, and writing through `withUnsafeMutableBuffer` copies first when the storage
/// is shared (copy-on-write).
///
/// ```swift
/// let x = Tensor([[1, 2], [3, 4]], dtype: .float32)   // shape [2, 2]
/// let y = (x * 2 + 1).sum()                           // scalar 24
/// ```
public struct Tensor {
    /// Size of each dimension; `[]` for a scalar.
    public internal(set) var shape: [Int]
    /// Elements to step in storage per index step of each dimension (0 for expanded dimensions).
    public internal(set) var strides: [Int]
    /// Element offset of index 0 in `storage`.
    var offset: Int
    /// The element type.
    public let dtype: DType
    var storage: Storage
    var autograd: AutogradInfo?
    /// Set for a symbolic tensor recorded by `Graph.trace`: it has a shape and dtype, no data.
    var symbol: Graph.Value?

    init(storage: Storage, shape: [Int], strides: [Int], offset: Int, dtype: DType) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
    }

    /// A new, uninitialised, contiguous tensor.
    init(uninitialized shape: [Int], dtype: DType) {
        let count = shape.reduce(1, *)
        self.init(storage: Storage(byteCount: Swift.max(count, 1) * dtype.byteSize), shape: shape,
                  strides: Tensor.contiguousStrides(shape), offset: 0, dtype: dtype)
    }

    /// Row-major strides of `shape`.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = step
            step *= shape[axis]
        }
        return strides
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Shape and dtype.
    public var spec: TensorSpec { TensorSpec(shape, dtype) }
    /// Whether this tensor is a placeholder recorded while tracing (no data).
    public var isSymbolic: Bool { symbol != nil }

    /// Whether elements are laid out row-major without gaps (views may not be).
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Whether two tensors are views of the same memory.
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// Address of the first element.
    var rawPointer: UnsafeMutableRawPointer {
        precondition(symbol == nil, "cannot read the data of a symbolic tensor while tracing")
        return storage.pointer + offset * dtype.byteSize
    }

    /// Typed pointer to the first element; `T` must match `dtype`.
    func pointer<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        rawPointer.assumingMemoryBound(to: T.self)
    }

    /// Runs `body` on the elements of a contiguous copy of this tensor (no copy when already contiguous).
    public func withUnsafeBuffer<T: TensorScalar, R>(
        of type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(T.dtype == dtype || (T.self == Int.self && dtype == .int64),
                     "withUnsafeBuffer: tensor is \(dtype), asked for \(T.self)")
        let dense = isContiguous ? self : contiguous()
        return try body(UnsafeBufferPointer(start: dense.pointer(T.self), count: count))
    }

    /// Runs `body` on this tensor's elements for writing. The tensor first becomes contiguous and
    /// the sole owner of its storage (copy-on-write), so no other tensor sees the change.
    public mutating func withUnsafeMutableBuffer<T: TensorScalar, R>(
        of type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(T.dtype == dtype || (T.self == Int.self && dtype == .int64),
                     "withUnsafeMutableBuffer: tensor is \(dtype), asked for \(T.self)")
        if !isContiguous || !isKnownUniquelyReferenced(&storage) || count * dtype.byteSize != storage.byteCount {
            let copy = withoutGrad { self.copied() }
            storage = copy.storage
            strides = copy.strides
            offset = 0
        }
        return try body(UnsafeMutableBufferPointer(start: pointer(T.self), count: count))
    }

    /// Runs `body` on this tensor's own storage for writing *in place*: no copy-on-write, so
    /// every tensor sharing the storage sees the change and the autograd identity is kept.
    /// For optimizers updating parameters; the tensor must be contiguous.
    public func updateInPlace<T: TensorScalar, R>(of type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dtype == dtype, "updateInPlace: tensor is \(dtype), asked for \(T.self)")
        precondition(isContiguous, "updateInPlace: the tensor must be contiguous")
        return try body(UnsafeMutableBufferPointer(start: pointer(T.self), count: count))
    }

    /// Address of the first element for in-place kernels outside Apus (optimizers): no
    /// copy-on-write, the tensor must be contiguous and stay alive while the pointer is used.
    public func unsafeMutableElements<T: TensorScalar>(of type: T.Type) -> UnsafeMutablePointer<T> {
        precondition(T.dtype == dtype && isContiguous, "unsafeMutableElements: needs a contiguous \(T.self) tensor, got \(dtype)")
        return pointer(T.self)
    }

    /// Element `i` (row-major order) as a Double, for any dtype.
    func element(_ linearIndex: Int) -> Double {
        var remaining = linearIndex
        var position = offset
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            position += (remaining % shape[axis]) * strides[axis]
            remaining /= shape[axis]
        }
        precondition(symbol == nil, "cannot read the values of a symbolic tensor while tracing")
        let base = storage.pointer
        switch dtype {
        case .float32: return Double(base.assumingMemoryBound(to: Float.self)[position])
        case .float64: return base.assumingMemoryBound(to: Double.self)[position]
        case .int32: return Double(base.assumingMemoryBound(to: Int32.self)[position])
        case .int64: return Double(base.assumingMemoryBound(to: Int64.self)[position])
        case .bool: return base.assumingMemoryBound(to: UInt8.self)[position] != 0 ? 1 : 0
        }
    }

    /// All elements in row-major order, converted to `T`.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        if T.dtype == dtype && T.self != Int.self && isContiguous {
            return Array(UnsafeBufferPointer(start: pointer(T.self), count: count))
        }
        return (0..<count).map { T(fromDouble: element($0)) }
    }

    /// The value of a one-element tensor as a Double.
    public func item() -> Double {
        precondition(count == 1, "item(): tensor has \(count) elements, shape \(shape)")
        return element(0)
    }

    /// The value of a one-element tensor as `T`: `label.item(as: Int.self)` is `7`, not `7.0`
    /// (PyTorch's `item()` on an integer tensor).
    public func item<T: TensorScalar>(as type: T.Type) -> T { T(fromDouble: item()) }
}

/// Tensors cross threads (data loading, the worker pool): their storage is never mutated
/// through a shared reference except by in-place optimizer updates, which the caller orders.
extension Tensor: @unchecked Sendable {}
