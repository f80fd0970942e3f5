import Apus

/// A layer whose weights are made on its first call, from the input's shape.
public protocol LazyLayer: Module {
    /// Whether the first call has made the weights.
    var isResolved: Bool { get }
}

/// `Linear` whose input size comes from its first input (PyTorch's `LazyLinear`, Keras'
/// `Dense`): [..., in] → [..., outFeatures]. Its weight [outFeatures, in] and bias
/// [outFeatures] (initialised as `Linear`'s, saved under the same names) exist after the first
/// call — in a functional model as soon as it is applied to a node — so make the optimizer after
/// that.
///
/// ```swift
/// let x = Input("image", shape: [1, 28, 28])
/// let logits = LazyLinear(10)(Flatten()(x))          // in = 784, inferred
/// ```
public final class LazyLinear: Module, UnaryLayer, LazyLayer {
    /// The output size.
    public let outFeatures: Int
    let hasBias: Bool
    let generator: RandomGenerator
    /// The weight [outFeatures, in], nil before the first call.
    @OptionalParameter public var weight: Tensor?
    /// The bias [outFeatures], nil before the first call or without `bias`.
    @OptionalParameter public var bias: Tensor?

    /// A linear layer to `outFeatures` whose input size is taken from its first input.
    public init(_ outFeatures: Int, bias: Bool = true, generator: RandomGenerator = .global) {
        (self.outFeatures, self.hasBias, self.generator) = (outFeatures, bias, generator)
        super.init()
    }

    /// The input size, once known.
    public var inFeatures: Int? { weight?.shape[1] }
    public var isResolved: Bool { weight != nil }
    override public var typeDescription: String {
        "LazyLinear(\(inFeatures.map(String.init) ?? "?") → \(outFeatures)\(hasBias ? "" : ", no bias"))"
    }

    /// x·Wᵀ + b: [..., in] → [..., outFeatures], making the weights on the first call.
    public func forward(_ x: Tensor) -> Tensor {
        if x.isPoisoned { return x }
        if weight == nil {
            guard let features = x.shape.last, x.rank >= 1 else {
                return .failure(ShapeError(op: "LazyLinear", shapes: [x.shape], expected: "an input with a feature axis last"))
            }
            let made = Linear(features, outFeatures, bias: hasBias, generator: generator)
            (weight, bias) = (made.weight, made.bias)
        }
        return linear(x, weight: weight!, bias: bias)
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// `Conv2d` whose input channels come from its first input [N, C, H, W] (PyTorch's
/// `LazyConv2d`): weight [outChannels, C/groups, KH, KW] and bias [outChannels], initialised as
/// `Conv2d`'s and saved under the same names, made on the first call.
public final class LazyConv2d: Module, UnaryLayer, LazyLayer {
    /// Output channels, kernel (height, width), stride, padding, dilation and number of channel groups, as `Conv2d`'s.
    public let outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int), padding: ConvPadding, dilation: (Int, Int), groups: Int
    /// Whether max(·, 0) is fused into the convolution.
    public let relu: Bool
    let hasBias: Bool
    let generator: RandomGenerator
    /// The kernels [outChannels, C/groups, KH, KW], nil before the first call.
    @OptionalParameter public var weight: Tensor?
    /// The bias [outChannels], nil before the first call or without `bias`.
    @OptionalParameter public var bias: Tensor?

    /// A convolution to `outChannels` whose input channels are taken from its first input; the other arguments are `Conv2d`'s.
    public init(_ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1), padding: ConvPadding = .valid,
                dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true, relu: Bool = false, generator: RandomGenerator = .global) {
        (self.outChannels, self.kernelSize, self.stride, self.padding, self.dilation, self.groups) = (outChannels, kernelSize, stride, padding, dilation, groups)
        (self.relu, self.hasBias, self.generator) = (relu, bias, generator)
        super.init()
    }

    /// Square kernel convenience: `LazyConv2d(32, kernelSize: 3, padding: 1)`.
    public convenience init(_ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                            relu: Bool = false, generator: RandomGenerator = .global) {
        self.init(outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride), padding: .explicit(padding, padding),
                  bias: bias, relu: relu, generator: generator)
    }

    /// The input channels, once known.
    public var inChannels: Int? { weight.map { $0.shape[1] * groups } }
    public var isResolved: Bool { weight != nil }
    override public var typeDescription: String {
        "LazyConv2d(\(inChannels.map(String.init) ?? "?") → \(outChannels), kernel \(kernelSize.0)×\(kernelSize.1)\(relu ? ", ReLU" : ""))"
    }

    /// The convolution of x [N, C, H, W] → [N, outChannels, OH, OW], making the weights on the first call.
    public func forward(_ x: Tensor) -> Tensor {
        if x.isPoisoned { return x }
        if weight == nil {
            guard x.rank == 4, x.shape[1] % groups == 0, outChannels % groups == 0 else {
                return .failure(ShapeError(op: "LazyConv2d", shapes: [x.shape], expected: "input [N, C, H, W] with C and \(outChannels) divisible by groups \(groups)"))
            }
            let made = Conv2d(x.shape[1], outChannels, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation,
                              groups: groups, bias: hasBias, relu: relu, generator: generator)
            (weight, bias) = (made.weight, made.bias)
        }
        return Conv2d.convolve(x, weight: weight!, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, relu: relu)
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
