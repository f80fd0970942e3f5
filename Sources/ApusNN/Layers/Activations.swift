import Apus

/// max(x, 0).
public final class ReLU: Module, UnaryLayer {
    override public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// x·Φ(x): exact GELU, or with `approximate: .tanh` PyTorch's tanh approximation. Any shape.
///
///     GELU(approximate: .tanh)(x)
public final class GELU: Module, UnaryLayer {
    /// How Φ is computed.
    public let approximate: GELUApproximation
    public init(approximate: GELUApproximation = .none) { self.approximate = approximate }
    override public var typeDescription: String { approximate == .tanh ? "GELU(tanh)" : "GELU" }
    public func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// tanh x.
public final class Tanh: Module, UnaryLayer {
    override public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// 1/(1+e⁻ˣ).
public final class Sigmoid: Module, UnaryLayer {
    override public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// x for x > 0, else slope·x.
public final class LeakyReLU: Module, UnaryLayer {
    public let negativeSlope: Double
    public init(negativeSlope: Double = 0.01) { self.negativeSlope = negativeSlope }
    public func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
/// Softmax along `axis`.
public final class Softmax: Module, UnaryLayer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
