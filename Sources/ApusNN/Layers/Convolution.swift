import Apus

/// Padding of a convolution: explicit (height, width), or "same" (output size = input size, stride 1).
public enum ConvPadding: Sendable {
    /// Zero padding of (height, width) elements on each side.
    case explicit(Int, Int)
    /// Output size = input size (stride 1): total padding d·(k − 1) per dimension, the odd element after, as PyTorch's `padding="same"`.
    case same
    /// No padding: `.explicit(0, 0)`.
    public static let valid = ConvPadding.explicit(0, 0)
}

/// 2-D convolution layer: [N, C, H, W] → [N, O, OH, OW]; weight [O, C/groups, KH, KW], bias [O],
/// initialised as PyTorch's `nn.Conv2d`. With `relu: true` the layer applies max(·, 0) too, fused
/// into the convolution (no separate pass, no intermediate tensor).
public final class Conv2d: Module, UnaryLayer {
    /// The kernels [O, C/groups, KH, KW].
    @Parameter public var weight: Tensor
    /// The bias [O], nil without `bias`.
    @OptionalParameter public var bias: Tensor?
    /// Stride and dilation (height, width), padding, and the number of channel groups.
    public let stride: (Int, Int), padding: ConvPadding, dilation: (Int, Int), groups: Int
    /// Whether ReLU is fused into the layer.
    public let relu: Bool

    /// A convolution from `inChannels` to `outChannels` with a `kernelSize` (height, width) kernel (as `nn.Conv2d`); `relu` fuses max(·, 0) into it.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: ConvPadding = .valid, dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                relu: Bool = false, generator: RandomGenerator = .global) {
        self.relu = relu
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels \(inChannels)→\(outChannels) must divide by groups \(groups)")
        if case .same = padding { precondition(stride == (1, 1), "Conv2d: padding \"same\" needs stride 1") }
        let shape = [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]
        weight = Initializer.kaimingUniform(a: 5.0.squareRoot()).make(shape, generator: generator)
        let bound = 1 / Double(Initializer.fans(shape).fanIn).squareRoot()
        self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, generator: generator) : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        super.init()
    }

    /// Square kernel convenience: `Conv2d(3, 32, kernelSize: 3, padding: 1)`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            bias: Bool = true, relu: Bool = false, generator: RandomGenerator = .global) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: .explicit(padding, padding), bias: bias, relu: relu, generator: generator)
    }

    override public var typeDescription: String {
        "Conv2d(\(weight.shape[1] * groups) → \(weight.shape[0]), kernel \(weight.shape[2])×\(weight.shape[3])\(relu ? ", ReLU" : ""))"
    }

    /// The convolution of x [N, C, H, W] → [N, O, OH, OW], plus bias, then ReLU when `relu`.
    public func forward(_ x: Tensor) -> Tensor {
        Conv2d.convolve(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, relu: relu)
    }

    /// The convolution of a `Conv2d` (or `LazyConv2d`) with these settings, "same" padding resolved.
    static func convolve(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: ConvPadding,
                         dilation: (Int, Int), groups: Int, relu: Bool) -> Tensor {
        var input = x
        var pad: (Int, Int)
        switch padding {
        case let .explicit(h, w): pad = (h, w)
        case .same:
            let totalH = dilation.0 * (weight.shape[2] - 1), totalW = dilation.1 * (weight.shape[3] - 1)
            pad = (totalH / 2, totalW / 2)
            if totalH % 2 == 1 || totalW % 2 == 1 {   // odd total: the extra row/column goes after, as PyTorch
                input = input.padded([(0, 0), (0, 0), (0, totalH % 2), (0, totalW % 2)])
            }
        }
        return conv2d(input, weight: weight, bias: bias, stride: stride, padding: pad, dilation: dilation, groups: groups, relu: relu)
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// Transposed 2-D convolution ("deconvolution"): the gradient of conv2d with respect to its
/// input. [N, C, H, W] → [N, O, (H−1)·s − 2p + d·(k−1) + outputPadding + 1, …]; weight
/// [C, O/groups, KH, KW] as PyTorch's `nn.ConvTranspose2d`.
public final class ConvTranspose2d: Module, UnaryLayer {
    /// The kernels [C, O/groups, KH, KW].
    @Parameter public var weight: Tensor
    /// The bias [O], nil without `bias`.
    @OptionalParameter public var bias: Tensor?
    /// Stride, padding, output padding and dilation (height, width), and the number of channel groups.
    public let stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int), groups: Int

    /// A transposed convolution from `inChannels` to `outChannels` (as `nn.ConvTranspose2d`); `outputPadding` must be smaller than the stride or the dilation.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                groups: Int = 1, bias: Bool = true, generator: RandomGenerator = .global) {
        precondition(outputPadding.0 < Swift.max(stride.0, dilation.0) && outputPadding.1 < Swift.max(stride.1, dilation.1),
                     "ConvTranspose2d: output padding must be smaller than stride or dilation")
        let shape = [inChannels, outChannels / groups, kernelSize.0, kernelSize.1]
        weight = Initializer.kaimingUniform(a: 5.0.squareRoot()).make(shape, generator: generator)
        let bound = 1 / Double(Initializer.fans(shape).fanIn).squareRoot()
        self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, generator: generator) : nil
        (self.stride, self.padding, self.outputPadding, self.dilation, self.groups) = (stride, padding, outputPadding, dilation, groups)
        super.init()
    }

    /// The transposed convolution of x [N, C, H, W] → [N, O, OH, OW], plus bias.
    public func forward(_ x: Tensor) -> Tensor {
        guard x.rank == 4 else { return .failure(ShapeError(op: "ConvTranspose2d", shapes: [x.shape], expected: "input [N, C, H, W]")) }
        let k = (weight.shape[2], weight.shape[3])
        let oh = (x.shape[2] - 1) * stride.0 - 2 * padding.0 + dilation.0 * (k.0 - 1) + outputPadding.0 + 1
        let ow = (x.shape[3] - 1) * stride.1 - 2 * padding.1 + dilation.1 * (k.1 - 1) + outputPadding.1 + 1
        let geometry = Conv2dGeometry(stride: stride, padding: padding, dilation: dilation, groups: groups)
        let y = Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: [x.shape[0], weight.shape[1] * groups, oh, ow]), [x, weight])[0]
        return bias.map { y + $0.reshaped([1, -1, 1, 1]) } ?? y
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// Max pooling layer: [N, C, H, W] → [N, C, OH, OW]; stride defaults to the kernel size and
/// `ceilMode` rounds the output size up (PyTorch's `ceil_mode`).
///
///     MaxPool2d(kernelSize: (3, 3), stride: (2, 2), ceilMode: true)
public final class MaxPool2d: Module, UnaryLayer {
    /// Window (height, width), stride (the window when nil), zero padding on each side, and whether the output size rounds up.
    public let kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int), ceilMode: Bool
    /// A max pooling layer (as `nn.MaxPool2d(kernel_size, stride, padding, ceil_mode=...)`).
    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding, self.ceilMode) = (kernelSize, stride, padding, ceilMode)
    }
    /// A square `kernelSize` × `kernelSize` window moving by its size.
    public convenience init(_ kernelSize: Int) { self.init(kernelSize: (kernelSize, kernelSize)) }
    override public var typeDescription: String { "MaxPool2d(\(kernelSize.0)×\(kernelSize.1)\(ceilMode ? ", ceil" : ""))" }
    /// Max pooling of x [N, C, H, W] → [N, C, OH, OW].
    public func forward(_ x: Tensor) -> Tensor { maxPool2d(x, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode) }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// Average pooling layer: [N, C, H, W] → [N, C, OH, OW]; stride defaults to the kernel size,
/// `ceilMode` rounds the output size up, and padding counts in the divisor unless
/// `countIncludePad` is false (PyTorch's `ceil_mode` and `count_include_pad`).
///
///     AvgPool2d(kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false)
public final class AvgPool2d: Module, UnaryLayer {
    /// Window (height, width), stride (the window when nil), zero padding on each side, whether the output size rounds up, and whether padding counts in the divisor.
    public let kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int), ceilMode: Bool, countIncludePad: Bool
    /// An average pooling layer (as `nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad)`).
    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false,
                countIncludePad: Bool = true) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride, padding)
        (self.ceilMode, self.countIncludePad) = (ceilMode, countIncludePad)
    }
    /// A square `kernelSize` × `kernelSize` window moving by its size.
    public convenience init(_ kernelSize: Int) { self.init(kernelSize: (kernelSize, kernelSize)) }
    /// Average pooling of x [N, C, H, W] → [N, C, OH, OW].
    public func forward(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// Averages [N, C, H, W] into a fixed [N, C, outH, outW] grid; cell i spans
/// ⌊i·H/outH⌋ ..< ⌈(i+1)·H/outH⌉ as in PyTorch.
public final class AdaptiveAvgPool2d: Module, UnaryLayer {
    /// The output grid (height, width).
    public let outputSize: (Int, Int)
    /// Pooling to an `outputSize` grid whatever the input size (as `nn.AdaptiveAvgPool2d`).
    public init(outputSize: (Int, Int)) { self.outputSize = outputSize }

    /// The cell averages of x [N, C, H, W] → [N, C, outH, outW].
    public func forward(_ x: Tensor) -> Tensor {
        guard x.rank == 4 else { return .failure(ShapeError(op: "AdaptiveAvgPool2d", shapes: [x.shape], expected: "input [N, C, H, W]")) }
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = outputSize
        if h % oh == 0 && w % ow == 0 { return avgPool2d(x, kernel: (h / oh, w / ow)) }
        func span(_ i: Int, _ size: Int, _ out: Int) -> Range<Int> { (i * size / out)..<(((i + 1) * size + out - 1) / out) }
        let rows = (0..<oh).map { i -> Tensor in
            let band = x.slice(axis: 2, start: span(i, h, oh).lowerBound, end: span(i, h, oh).upperBound)
            let cells = (0..<ow).map { j in
                band.slice(axis: 3, start: span(j, w, ow).lowerBound, end: span(j, w, ow).upperBound).mean(axes: [2, 3])
            }
            return Tensor.stack(cells, axis: 2)
        }
        return Tensor.stack(rows, axis: 2)
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
