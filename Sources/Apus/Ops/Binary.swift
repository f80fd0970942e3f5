import CApusKernels

/// The NumPy broadcast of two shapes, or nil when they are incompatible.
func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da != db && da != 1 && db != 1 { return nil }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Elementwise arithmetic of two tensors of one dtype with NumPy broadcasting.
public struct BinaryOp: Operation {
    /// `reluGrad(a, b)` is a where b > 0, else 0 (ReLU's backward: a the cotangent, b the input).
    public enum Kind: String, Sendable {
        /// a + b.
        case add
        /// a − b.
        case sub
        /// a · b.
        case mul
        /// a / b (integer division truncates; x / 0 is 0 for integers).
        case div
        /// aᵇ (floating point only).
        case pow
        /// The larger of a and b.
        case maximum
        /// The smaller of a and b.
        case minimum
        /// a where b > 0, else 0.
        case reluGrad
    }
    /// The arithmetic this op performs.
    public let kind: Kind
    /// An op computing `kind` of its two inputs.
    public init(_ kind: Kind) { self.kind = kind }
    public var name: String { kind.rawValue }

    /// Operands that already have the output's shape (float dtypes only: the C kernels).
    public func inPlaceInputs(_ inputs: [TensorSpec], _ outputs: [TensorSpec]) -> [Int] {
        outputs[0].dtype.isFloatingPoint ? inputs.indices.filter { inputs[$0] == outputs[0] } : []
    }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].dtype == inputs[1].dtype, name, inputs,
                    "both operands must have one dtype, got \(inputs[0].dtype) and \(inputs[1].dtype) (use cast(to:))")
        try require(inputs[0].dtype != .bool, name, inputs, "arithmetic needs numbers, got bool tensors")
        try require(kind != .pow || inputs[0].dtype.isFloatingPoint, name, inputs, "pow needs floating-point tensors")
        guard let shape = broadcastShapes(inputs[0].shape, inputs[1].shape) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "shapes must broadcast (each dimension equal or 1)")
        }
        return [TensorSpec(shape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let a = inputs[0], b = inputs[1], shape = outputs[0].shape
        switch a.dtype {
        case .float32, .float64:
            return [CPUElementwise.binary(code, a, b, outShape: shape)]
        case .int32: return [integer(a, b, shape, Int32.self)]
        case .int64: return [integer(a, b, shape, Int64.self)]
        case .bool: preconditionFailure("unreachable: shape rule rejects bool")
        }
    }

    private func integer<T: FixedWidthInteger>(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ type: T.Type) -> Tensor {
        let f: (T, T) -> T
        switch kind {
        case .add: f = { $0 &+ $1 }
        case .sub: f = { $0 &- $1 }
        case .mul: f = { $0 &* $1 }
        case .div: f = { $1 == 0 ? 0 : $0.dividedReportingOverflow(by: $1).partialValue }
        case .maximum: f = { max($0, $1) }
        case .minimum: f = { min($0, $1) }
        case .reluGrad: f = { $1 > 0 ? $0 : 0 }
        case .pow: preconditionFailure("unreachable: shape rule rejects integer pow")
        }
        return CPUElementwise.map(a, b, outShape: shape, dtype: a.dtype, T.self, T.self, f)
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues {
        switch kind {
        case .add, .sub: return .none
        case .mul: return SavedValues(inputs: (needsGradient[1] ? [0] : []) + (needsGradient[0] ? [1] : []))
        case .reluGrad: return SavedValues(inputs: [1])
        case .maximum, .minimum: return SavedValues(inputs: [0, 1])
        case .div, .pow: return .all
        }
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let g = c.cotangents[0], a = c.inputs[0], b = c.inputs[1]
        let ga: Tensor?, gb: Tensor?
        switch kind {
        case .add: (ga, gb) = (g, g)
        case .sub: (ga, gb) = (g, -g)
        case .mul: (ga, gb) = (c.needsGradient(0) ? g * b : nil, c.needsGradient(1) ? g * a : nil)
        case .div: (ga, gb) = (c.needsGradient(0) ? g / b : nil, c.needsGradient(1) ? -g * c.outputs[0] / b : nil)
        case .pow:
            ga = c.needsGradient(0) ? g * b * Tensor.pow(a, b - 1) : nil
            gb = c.needsGradient(1) ? g * c.outputs[0] * a.log() : nil
        case .maximum, .minimum:
            let mask = (kind == .maximum ? a.greaterEqual(b) : a.lessEqual(b)).cast(to: g.dtype)
            (ga, gb) = (g * mask, g * (1 - mask))
        case .reluGrad:
            (ga, gb) = (Tensor.binary(.reluGrad, g, b), nil)
        }
        return [ga.map { $0.sum(toShape: a.shape) }, gb.map { $0.sum(toShape: b.shape) }]
    }
}

extension BinaryOp {
    /// The C kernel's code for a floating-point operation.
    var code: apus_binary_op {
        switch kind {
        case .add: return APUS_ADD
        case .sub: return APUS_SUB
        case .mul: return APUS_MUL
        case .div: return APUS_DIV
        case .pow: return APUS_POW
        case .maximum: return APUS_MAXIMUM
        case .minimum: return APUS_MINIMUM
        case .reluGrad: return APUS_RELU_GRAD
        }
    }
}

extension Tensor {
    static func binary(_ kind: BinaryOp.Kind, _ a: Tensor, _ b: Tensor) -> Tensor {
        apply(BinaryOp(kind), [a, b])[0]
    }
    /// a + b with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
    /// a − b with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
    /// a · b elementwise with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
    /// a / b elementwise with broadcasting (integer division truncates; x/0 is 0 for integers).
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
    /// Replaces `a` with a + b (a new tensor; `b` broadcasts to `a`'s result shape).
    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    /// Replaces `a` with a − b (a new tensor; `b` broadcasts to `a`'s result shape).
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    /// Replaces `a` with a · b (a new tensor; `b` broadcasts to `a`'s result shape).
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    /// Replaces `a` with a / b (a new tensor; `b` broadcasts to `a`'s result shape).
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }
    /// aᵇ elementwise with broadcasting.
    public static func pow(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.pow, a, b) }
    /// Elementwise maximum with broadcasting.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.maximum, a, b) }
    /// Elementwise minimum with broadcasting.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.minimum, a, b) }

    /// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting to this shape).
    public func sum(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for (i, size) in target.enumerated() where size == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let summed = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        return summed.reshaped(target)
    }
}
