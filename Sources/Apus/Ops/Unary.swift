import CApusKernels

/// Elementwise functions of one floating-point tensor: y = f(x), same shape.
public struct UnaryOp: Operation {
    /// The function applied to each element.
    public enum Kind: String, Sendable {
        /// −x, eˣ, ln x, √x, 1/√x, |x|, sin x, cos x, tanh x, the logistic sigmoid, max(x, 0), leaky ReLU (negative slope `p0`) and exact (erf) GELU.
        case neg, exp, log, sqrt, rsqrt, abs, sin, cos, tanh, sigmoid, relu, leakyRelu, gelu
        /// GELU's derivative, tanh-approximated GELU and its derivative, softplus ln(1 + eˣ), x clamped to [`p0`, `p1`], sign (−1, 0, 1), step (1 where x > 0, else 0), the clamp's mask (1 where `p0` ≤ x ≤ `p1`, else 0), x·`p0` + `p1`, and x^`p0`.
        case geluDerivative, geluTanh, geluTanhDerivative, softplus, clamp, sign, step, clampMask, affine, powScalar
    }
    /// The function this op applies.
    public let kind: Kind
    /// Kind-specific constants: leaky slope; clamp bounds; affine scale and shift; exponent.
    public let p0: Double, p1: Double

    /// An op applying `kind` with its constants `p0` and `p1` (see `p0`).
    public init(_ kind: Kind, _ p0: Double = 0, _ p1: Double = 0) {
        self.kind = kind
        self.p0 = p0
        self.p1 = p1
    }

    public var name: String { kind.rawValue }
    public var isDifferentiable: Bool { ![.sign, .step, .clampMask].contains(kind) }
    public func inPlaceInputs(_ inputs: [TensorSpec], _ outputs: [TensorSpec]) -> [Int] { [0] }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].dtype.isFloatingPoint, name, inputs, "expected a float32 or float64 tensor, got \(inputs[0].dtype)")
        return [inputs[0]]
    }

    var code: apus_unary_op {
        switch kind {
        case .neg: return APUS_NEG
        case .exp: return APUS_EXP
        case .log: return APUS_LOG
        case .sqrt: return APUS_SQRT
        case .rsqrt: return APUS_RSQRT
        case .abs: return APUS_ABS
        case .sin: return APUS_SIN
        case .cos: return APUS_COS
        case .tanh: return APUS_TANH
        case .sigmoid: return APUS_SIGMOID
        case .relu: return APUS_RELU
        case .leakyRelu: return APUS_LEAKY_RELU
        case .gelu: return APUS_GELU
        case .geluDerivative: return APUS_GELU_DERIVATIVE
        case .geluTanh: return APUS_GELU_TANH
        case .geluTanhDerivative: return APUS_GELU_TANH_DERIVATIVE
        case .softplus: return APUS_SOFTPLUS
        case .clamp: return APUS_CLAMP
        case .sign: return APUS_SIGN
        case .step: return APUS_STEP
        case .clampMask: return APUS_CLAMP_MASK
        case .affine: return APUS_AFFINE
        case .powScalar: return APUS_POW_SCALAR
        }
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        [CPUElementwise.unary(code, inputs[0], p0: p0, p1: p1)]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues {
        switch kind {
        case .neg, .affine: return .none
        case .exp, .sqrt, .rsqrt, .tanh, .sigmoid: return SavedValues(outputs: [0])
        case .log, .abs, .sin, .cos, .relu, .leakyRelu, .gelu, .geluTanh, .softplus, .clamp, .powScalar: return SavedValues(inputs: [0])
        case .geluDerivative, .geluTanhDerivative, .sign, .step, .clampMask: return .all
        }
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let g = c.cotangents[0], x = c.inputs[0], y = c.outputs[0]
        switch kind {
        case .neg: return [-g]
        case .exp: return [g * y]
        case .log: return [g / x]
        case .sqrt: return [g / (y * 2)]
        case .rsqrt: return [g * (y * y * y) * -0.5]
        case .abs: return [g * x.sign()]
        case .sin: return [g * x.cos()]
        case .cos: return [g * -x.sin()]
        case .tanh: return [g * (1 - y * y)]
        case .sigmoid: return [g * y * (1 - y)]
        case .relu: return [Tensor.binary(.reluGrad, g, x)]
        case .leakyRelu: return [g * x.step().affine(scale: 1 - p0, shift: p0)]
        case .gelu: return [g * Tensor.apply(UnaryOp(.geluDerivative), [x])[0]]
        case .geluTanh: return [g * Tensor.apply(UnaryOp(.geluTanhDerivative), [x])[0]]
        case .softplus: return [g * x.sigmoid()]
        case .clamp: return [g * Tensor.apply(UnaryOp(.clampMask, p0, p1), [x])[0]]
        case .affine: return [g * p0]
        case .powScalar: return [g * x.pow(p0 - 1) * p0]
        case .geluDerivative, .geluTanhDerivative, .sign, .step, .clampMask:
            fatalError("\(name) has no gradient (vjp)")
        }
    }
}

/// How GELU computes the normal CDF Φ: exactly (erf) or by the tanh formula (PyTorch's
/// `approximate` argument, with the same names).
public enum GELUApproximation: String, Sendable {
    /// `none`: the exact GELU x·Φ(x) with Φ from erf; `tanh`: Φ approximated as ½(1 + tanh(√(2/π)(x + 0.044715x³))).
    case none, tanh
}

extension Tensor {
    func unary(_ kind: UnaryOp.Kind, _ p0: Double = 0, _ p1: Double = 0) -> Tensor {
        Tensor.apply(UnaryOp(kind, p0, p1), [self])[0]
    }
    /// eˣ elementwise.
    public func exp() -> Tensor { unary(.exp) }
    /// Natural logarithm elementwise.
    public func log() -> Tensor { unary(.log) }
    /// Square root elementwise.
    public func sqrt() -> Tensor { unary(.sqrt) }
    /// 1/√x elementwise.
    public func rsqrt() -> Tensor { unary(.rsqrt) }
    /// |x| elementwise.
    public func abs() -> Tensor { unary(.abs) }
    /// sin x elementwise.
    public func sin() -> Tensor { unary(.sin) }
    /// cos x elementwise.
    public func cos() -> Tensor { unary(.cos) }
    /// tanh x elementwise.
    public func tanh() -> Tensor { unary(.tanh) }
    /// 1/(1+e⁻ˣ) elementwise.
    public func sigmoid() -> Tensor { unary(.sigmoid) }
    /// max(x, 0) elementwise.
    public func relu() -> Tensor { unary(.relu) }
    /// x for x > 0, else `negativeSlope`·x.
    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor { unary(.leakyRelu, negativeSlope) }
    /// x·Φ(x) elementwise: exact (erf-based, PyTorch's default) or, with `approximate: .tanh`,
    /// ½x(1 + tanh(√(2/π)(x + 0.044715x³))) as PyTorch's `approximate="tanh"`.
    ///
    ///     x.gelu(approximate: .tanh)   // same shape as x
    public func gelu(approximate: GELUApproximation = .none) -> Tensor { unary(approximate == .tanh ? .geluTanh : .gelu) }
    /// log(1 + eˣ), computed stably.
    public func softplus() -> Tensor { unary(.softplus) }
    /// x limited to [min, max].
    public func clamp(min: Double = -.infinity, max: Double = .infinity) -> Tensor { unary(.clamp, min, max) }
    /// −1, 0 or 1 elementwise (no gradient).
    public func sign() -> Tensor { unary(.sign) }
    /// 1 where x > 0, else 0 (no gradient).
    public func step() -> Tensor { unary(.step) }
    /// x·scale + shift in one pass.
    public func affine(scale: Double, shift: Double) -> Tensor { unary(.affine, scale, shift) }
    /// xᵖ elementwise for a constant exponent.
    public func pow(_ exponent: Double) -> Tensor { unary(.powScalar, exponent) }
}

/// max(x, 0) elementwise.
public func relu(_ x: Tensor) -> Tensor { x.relu() }
/// 1/(1+e⁻ˣ) elementwise.
public func sigmoid(_ x: Tensor) -> Tensor { x.sigmoid() }
/// tanh x elementwise.
public func tanh(_ x: Tensor) -> Tensor { x.tanh() }
/// eˣ elementwise.
public func exp(_ x: Tensor) -> Tensor { x.exp() }
/// Natural logarithm elementwise.
public func log(_ x: Tensor) -> Tensor { x.log() }
/// Square root elementwise.
public func sqrt(_ x: Tensor) -> Tensor { x.sqrt() }
/// |x| elementwise.
public func abs(_ x: Tensor) -> Tensor { x.abs() }

extension Tensor {
    /// A 0-d tensor holding `value` in this tensor's dtype.
    public func scalar(_ value: Double) -> Tensor { Tensor.full([], value, dtype: dtype) }

    /// x·scale + shift, fused for floating point and broadcast for integers.
    func scaled(_ scale: Double, _ shift: Double) -> Tensor {
        if dtype.isFloatingPoint { return affine(scale: scale, shift: shift) }
        let multiplied = scale == 1 ? self : self * scalar(scale)
        return shift == 0 ? multiplied : multiplied + scalar(shift)
    }

    /// −x.
    public static prefix func - (x: Tensor) -> Tensor { x.dtype.isFloatingPoint ? x.unary(.neg) : x.scaled(-1, 0) }
    /// x + s elementwise; same shape and dtype as `x`.
    public static func + (x: Tensor, s: Double) -> Tensor { x.scaled(1, s) }
    /// s + x elementwise; same shape and dtype as `x`.
    public static func + (s: Double, x: Tensor) -> Tensor { x.scaled(1, s) }
    /// x − s elementwise; same shape and dtype as `x`.
    public static func - (x: Tensor, s: Double) -> Tensor { x.scaled(1, -s) }
    /// s − x elementwise; same shape and dtype as `x`.
    public static func - (s: Double, x: Tensor) -> Tensor { x.scaled(-1, s) }
    /// x · s elementwise; same shape and dtype as `x`.
    public static func * (x: Tensor, s: Double) -> Tensor { x.scaled(s, 0) }
    /// s · x elementwise; same shape and dtype as `x`.
    public static func * (s: Double, x: Tensor) -> Tensor { x.scaled(s, 0) }
    /// x / s elementwise; same shape and dtype as `x`.
    public static func / (x: Tensor, s: Double) -> Tensor { x.dtype.isFloatingPoint ? x.affine(scale: 1 / s, shift: 0) : x / x.scalar(s) }
    /// s / x elementwise; same shape and dtype as `x`.
    public static func / (s: Double, x: Tensor) -> Tensor { x.scalar(s) / x }
}
