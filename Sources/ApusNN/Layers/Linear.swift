import Apus

/// y = x·Wᵀ + b over the last dimension: [..., inFeatures] → [..., outFeatures].
/// Weight [out, in] and bias [out], initialised as PyTorch's `nn.Linear`.
public final class Linear: Module {
    /// The weight [outFeatures, inFeatures].
    @Parameter public var weight: Tensor
    /// The bias [outFeatures], nil without `bias`.
    @OptionalParameter public var bias: Tensor?

    /// A linear layer from `inFeatures` to `outFeatures` (as `nn.Linear`), with the weight from `weightInitializer` and the bias uniform in ±1/√inFeatures.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                weightInitializer: Initializer = .kaimingUniform(a: 5.0.squareRoot()), generator: RandomGenerator = .global) {
        weight = weightInitializer.make([outFeatures, inFeatures], generator: generator)
        let bound = 1 / Double(inFeatures).squareRoot()
        self.bias = bias ? Tensor.uniform([outFeatures], low: -bound, high: bound, generator: generator) : nil
        super.init()
    }

    /// The input size: the weight's second dimension.
    public var inFeatures: Int { weight.shape[1] }
    /// The output size: the weight's first dimension.
    public var outFeatures: Int { weight.shape[0] }
    override public var typeDescription: String { "Linear(\(inFeatures) → \(outFeatures)\(bias == nil ? ", no bias" : ""))" }

    /// x·Wᵀ + b: [..., inFeatures] → [..., outFeatures].
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}

/// Merges all dimensions from `startAxis` on: [N, C, H, W] → [N, C·H·W].
public final class Flatten: Module {
    /// The first axis merged (negative counts from the end).
    public let startAxis: Int
    /// A layer merging every axis from `startAxis` on (as `nn.Flatten(start_dim)`).
    public init(startAxis: Int = 1) { self.startAxis = startAxis }
    /// x with axes `startAxis...` merged into one.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(startAxis: startAxis) }
}

/// Zeroes elements with probability `p` in training (scaling the rest by 1/(1−p)); identity in evaluation.
public final class Dropout: Module {
    /// The probability of zeroing an element, in [0, 1).
    public let p: Double
    /// The generator drawing the masks.
    public let generator: RandomGenerator
    /// A dropout layer with probability `p` (as `nn.Dropout(p)`).
    public init(_ p: Double = 0.5, generator: RandomGenerator = .global) {
        precondition((0..<1).contains(p), "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
        self.generator = generator
    }
    override public var typeDescription: String { "Dropout(p: \(p))" }
    /// x with elements zeroed with probability `p` and the rest scaled by 1/(1 − p) in training; x unchanged in evaluation.
    public func callAsFunction(_ x: Tensor) -> Tensor { dropout(x, p: p, training: isTraining, generator: generator) }
}

/// Rows of a [vocabulary, features] table for integer ids of any shape → ids.shape + [features].
/// The row at `paddingIndex` (if any) starts at zero and receives no gradient, as in PyTorch.
public final class Embedding: Module {
    /// The table [vocabulary, features], initialised from N(0, 1) as PyTorch's.
    @Parameter public var weight: Tensor
    /// The id whose row stays zero and gets no gradient, if any.
    public let paddingIndex: Int?

    /// A table of `count` rows of `features` (as `nn.Embedding(count, features, padding_idx)`).
    public init(_ count: Int, _ features: Int, paddingIndex: Int? = nil, generator: RandomGenerator = .global) {
        var table = Tensor.normal([count, features], generator: generator)
        if let paddingIndex {
            precondition((0..<count).contains(paddingIndex), "Embedding: padding index \(paddingIndex) outside 0..<\(count)")
            table.withUnsafeMutableBuffer(of: Float.self) { p in for j in 0..<features { p[paddingIndex * features + j] = 0 } }
        }
        weight = table
        self.paddingIndex = paddingIndex
        super.init()
    }

    override public var typeDescription: String { "Embedding(\(weight.shape[0]), \(weight.shape[1]))" }

    /// The rows for integer `ids` of any shape: ids.shape + [features].
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        guard let paddingIndex else { return embedding(ids, weight: weight) }
        // Route the padding row through a mask so it gets no gradient.
        let keep = Tensor.arange(0, Double(weight.shape[0])).notEqual(Tensor(paddingIndex)).cast(to: weight.dtype).unsqueezed(axis: 1)
        let table = weight * keep + withoutGrad { weight * (1 - keep) }
        return embedding(ids, weight: table)
    }
}

/// Layers applied in order: `Sequential(Linear(4, 8), ReLU(), Linear(8, 2))`.
public final class Sequential: Module, HybridizableModule {
    /// The layers, in order.
    public let layers: [Module]
    /// Chains `layers`, applied first to last.
    public init(_ layers: Module...) { self.layers = layers }
    /// Chains `layers`, applied first to last.
    public init(layers: [Module]) { self.layers = layers }

    /// x through every layer in order (each must be a `UnaryLayer`); one compiled function when hybridized.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let layers = self.layers
        return hybridCall([x]) { xs in
            [layers.reduce(xs[0]) { value, layer in
                if value.isPoisoned { return value }   // an earlier layer failed: nothing to run
                guard let unary = layer as? UnaryLayer else {
                    return .failure(ShapeError(op: "Sequential", shapes: [value.shape], expected: "layers that take one tensor (\(layer.typeDescription) does not)"))
                }
                return unary.forward(value)
            }]
        }[0]
    }
}

/// A module that maps one tensor to one tensor (what `Sequential` chains).
public protocol UnaryLayer: Module {
    /// The layer applied to one tensor (what `Sequential` calls; `callAsFunction` usually does the same).
    func forward(_ x: Tensor) -> Tensor
}
extension Linear: UnaryLayer { public func forward(_ x: Tensor) -> Tensor { self(x) } }
extension Flatten: UnaryLayer { public func forward(_ x: Tensor) -> Tensor { self(x) } }
extension Dropout: UnaryLayer { public func forward(_ x: Tensor) -> Tensor { self(x) } }
extension Embedding: UnaryLayer { public func forward(_ x: Tensor) -> Tensor { self(x) } }
extension Sequential: UnaryLayer { public func forward(_ x: Tensor) -> Tensor { self(x) } }
