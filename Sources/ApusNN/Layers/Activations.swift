import Apus

/// max(x, 0).
public final class ReLU: Module, UnaryLayer {
    /// Creates the layer (no parameters).
    override public init() {}
    /// max(x, 0) elementwise; any shape.
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// x·Φ(x): exact GELU, or with `approximate: .tanh` PyTorch's tanh approximation. Any shape.
///
///     GELU(approximate: .tanh)(x)
public final class GELU: Module, UnaryLayer {
    /// How Φ is computed.
    public let approximate: GELUApproximation
    /// A GELU layer, exact by default (PyTorch's `nn.GELU(approximate=...)`).
    public init(approximate: GELUApproximation = .none) { self.approximate = approximate }
    override public var typeDescription: String { approximate == .tanh ? "GELU(tanh)" : "GELU" }
    /// GELU of x elementwise; any shape.
    public func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// tanh x.
public final class Tanh: Module, UnaryLayer {
    /// Creates the layer (no parameters).
    override public init() {}
    /// tanh x elementwise; any shape.
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// 1/(1+e⁻ˣ).
public final class Sigmoid: Module, UnaryLayer {
    /// Creates the layer (no parameters).
    override public init() {}
    /// 1/(1 + e⁻ˣ) elementwise; any shape.
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// x for x > 0, else slope·x.
public final class LeakyReLU: Module, UnaryLayer {
    /// The slope for x ≤ 0.
    public let negativeSlope: Double
    /// A leaky ReLU with `negativeSlope` for negative inputs (PyTorch's `nn.LeakyReLU`, default 0.01).
    public init(negativeSlope: Double = 0.01) { self.negativeSlope = negativeSlope }
    /// x where x > 0, else `negativeSlope`·x, elementwise; any shape.
    public func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// Softmax along `axis`.
public final class Softmax: Module, UnaryLayer {
    /// The axis normalised over (negative counts from the end).
    public let axis: Int
    /// Softmax along `axis`, the last by default (PyTorch's `nn.Softmax(dim=...)`).
    public init(axis: Int = -1) { self.axis = axis }
    /// Softmax of x along `axis`; same shape as x.
    public func forward(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
