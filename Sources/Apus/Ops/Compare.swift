import CApusKernels

/// Elementwise comparison with broadcasting; the result is a Bool tensor (no gradient).
public struct CompareOp: Operation {
    /// The comparison, applied elementwise as `a <op> b`.
    public enum Kind: String, Sendable {
        /// a == b.
        case equal
        /// a != b.
        case notEqual
        /// a < b.
        case less
        /// a <= b.
        case lessEqual
        /// a > b.
        case greater
        /// a >= b.
        case greaterEqual
    }
    /// The comparison this op performs.
    public let kind: Kind
    /// An op comparing its two inputs with `kind`.
    public init(_ kind: Kind) { self.kind = kind }
    public var name: String { kind.rawValue }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].dtype == inputs[1].dtype, name, inputs, "both operands must have one dtype, got \(inputs[0].dtype) and \(inputs[1].dtype)")
        guard let shape = broadcastShapes(inputs[0].shape, inputs[1].shape) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "shapes must broadcast (each dimension equal or 1)")
        }
        return [TensorSpec(shape, .bool)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let a = inputs[0], b = inputs[1], shape = outputs[0].shape
        switch a.dtype {
        case .float32, .float64:
            let codes: [Kind: apus_compare_op] = [.equal: APUS_EQ, .notEqual: APUS_NE, .less: APUS_LT,
                                                  .lessEqual: APUS_LE, .greater: APUS_GT, .greaterEqual: APUS_GE]
            return [CPUElementwise.compare(codes[kind]!, a, b, outShape: shape)]
        case .int32: return [generic(a, b, shape, Int32.self)]
        case .int64: return [generic(a, b, shape, Int64.self)]
        case .bool: return [generic(a, b, shape, UInt8.self)]
        }
    }

    private func generic<T: Comparable>(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ type: T.Type) -> Tensor {
        let f: (T, T) -> Bool
        switch kind {
        case .equal: f = (==)
        case .notEqual: f = (!=)
        case .less: f = (<)
        case .lessEqual: f = (<=)
        case .greater: f = (>)
        case .greaterEqual: f = (>=)
        }
        return CPUElementwise.map(a, b, outShape: shape, dtype: .bool, T.self, Bool.self, f)
    }
}

/// Elementwise choice: `a` where `condition` is true, else `b` (all three broadcast).
public struct WhereOp: Operation {
    public var name: String { "where" }
    /// Creates the op; its inputs are (condition, a, b).
    public init() {}

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].dtype == .bool, name, inputs, "the condition must be a bool tensor, got \(inputs[0].dtype)")
        try require(inputs[1].dtype == inputs[2].dtype, name, inputs, "both branches must have one dtype, got \(inputs[1].dtype) and \(inputs[2].dtype)")
        guard let ab = broadcastShapes(inputs[1].shape, inputs[2].shape), let shape = broadcastShapes(inputs[0].shape, ab) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "condition and branches must broadcast")
        }
        return [TensorSpec(shape, inputs[1].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let shape = outputs[0].shape
        let y = Tensor(uninitialized: shape, dtype: outputs[0].dtype)
        let layout = StridedLayout(outShape: shape, operands: inputs)
        let oc = CPUElementwise.offsets(layout, operand: 0)
        let oa = CPUElementwise.offsets(layout, operand: 1), ob = CPUElementwise.offsets(layout, operand: 2)
        let cp = inputs[0].pointer(UInt8.self)
        let size = y.dtype.byteSize
        let ap = inputs[1].rawPointer, bp = inputs[2].rawPointer, yp = y.rawPointer
        for i in 0..<oc.count {
            let source = cp[oc[i]] != 0 ? ap + oa[i] * size : bp + ob[i] * size
            (yp + i * size).copyMemory(from: source, byteCount: size)
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let g = c.cotangents[0], zero = g.scalar(0)
        let ga = c.needsGradient(1) ? Tensor.where(c.inputs[0], g, zero).sum(toShape: c.inputs[1].shape) : nil
        let gb = c.needsGradient(2) ? Tensor.where(c.inputs[0], zero, g).sum(toShape: c.inputs[2].shape) : nil
        return [nil, ga, gb]
    }
}

extension Tensor {
    func compare(_ kind: CompareOp.Kind, _ other: Tensor) -> Tensor { Tensor.apply(CompareOp(kind), [self, other])[0] }
    /// self == other elementwise → Bool.
    public func equal(_ other: Tensor) -> Tensor { compare(.equal, other) }
    /// self != other elementwise → Bool.
    public func notEqual(_ other: Tensor) -> Tensor { compare(.notEqual, other) }
    /// self < other elementwise → Bool.
    public func less(_ other: Tensor) -> Tensor { compare(.less, other) }
    /// self <= other elementwise → Bool.
    public func lessEqual(_ other: Tensor) -> Tensor { compare(.lessEqual, other) }
    /// self > other elementwise → Bool.
    public func greater(_ other: Tensor) -> Tensor { compare(.greater, other) }
    /// self >= other elementwise → Bool.
    public func greaterEqual(_ other: Tensor) -> Tensor { compare(.greaterEqual, other) }
    /// `a.equal(b)`: elementwise, broadcasting, → Bool tensor.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { a.equal(b) }
    /// `a.notEqual(b)`: elementwise, broadcasting, → Bool tensor.
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { a.notEqual(b) }
    /// `a.less(b)`: elementwise, broadcasting, → Bool tensor.
    public static func .< (a: Tensor, b: Tensor) -> Tensor { a.less(b) }
    /// `a.lessEqual(b)`: elementwise, broadcasting, → Bool tensor.
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { a.lessEqual(b) }
    /// `a.greater(b)`: elementwise, broadcasting, → Bool tensor.
    public static func .> (a: Tensor, b: Tensor) -> Tensor { a.greater(b) }
    /// `a.greaterEqual(b)`: elementwise, broadcasting, → Bool tensor.
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { a.greaterEqual(b) }
    /// `a.equal(b)` against a scalar in `a`'s dtype → Bool tensor of `a`'s shape.
    public static func .== (a: Tensor, b: Double) -> Tensor { a.equal(a.scalar(b)) }
    /// `a.notEqual(b)` against a scalar in `a`'s dtype → Bool tensor of `a`'s shape.
    public static func .!= (a: Tensor, b: Double) -> Tensor { a.notEqual(a.scalar(b)) }
    /// `a.less(b)` against a scalar in `a`'s dtype → Bool tensor of `a`'s shape.
    public static func .< (a: Tensor, b: Double) -> Tensor { a.less(a.scalar(b)) }
    /// `a.lessEqual(b)` against a scalar in `a`'s dtype → Bool tensor of `a`'s shape.
    public static func .<= (a: Tensor, b: Double) -> Tensor { a.lessEqual(a.scalar(b)) }
    /// `a.greater(b)` against a scalar in `a`'s dtype → Bool tensor of `a`'s shape.
    public static func .> (a: Tensor, b: Double) -> Tensor { a.greater(a.scalar(b)) }
    /// `a.greaterEqual(b)` against a scalar in `a`'s dtype → Bool tensor of `a`'s shape.
    public static func .>= (a: Tensor, b: Double) -> Tensor { a.greaterEqual(a.scalar(b)) }

    /// `a` where `condition` holds, else `b` (broadcasting).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        apply(WhereOp(), [condition, a, b])[0]
    }
}

