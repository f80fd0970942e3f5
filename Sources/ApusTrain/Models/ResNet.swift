import Apus
import ApusNN

/// ResNet's basic block (He et al. 2016): 3×3 conv → BatchNorm → ReLU → 3×3 conv → BatchNorm,
/// plus the input (or its 1×1 strided projection + BatchNorm when the shape changes), then ReLU.
/// [N, inChannels, H, W] → [N, outChannels, H/stride, W/stride].
public final class BasicBlock: Module, UnaryLayer {
    /// The block's two 3×3 convolutions (the first with the block's stride) and their norms.
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    /// The projection shortcut (1×1 conv with the block's stride + BatchNorm), when needed.
    public let shortcut: Sequential?

    /// A block from `inChannels` to `outChannels`, halving the size with `stride: 2`.
    public init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, generator: RandomGenerator = .global) {
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, generator: generator)
        bn1 = BatchNorm2d(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, generator: generator)
        bn2 = BatchNorm2d(outChannels)
        shortcut = stride != 1 || inChannels != outChannels
            ? Sequential(Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false, generator: generator), BatchNorm2d(outChannels))
            : nil
        super.init()
    }

    /// x [N, inChannels, H, W] → [N, outChannels, H/stride, W/stride].
    public func forward(_ x: Tensor) -> Tensor {
        let y = bn2(conv2(bn1(conv1(x), relu: true)))   // BatchNorm + ReLU as one op
        return (y + (shortcut?(x) ?? x)).relu()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// ResNet-18 for 32×32 images (the CIFAR variant: a 3×3 stem of `width` channels, no max
/// pooling), four stages of two `BasicBlock`s (width × 1, 2, 4, 8 channels; stages 2–4 halve
/// the size), global average pooling and a Linear classifier. [N, 3, H, W] → logits
/// [N, classes]; 11,173,962 parameters for 10 classes at width 64 (as the PyTorch model).
public final class ResNet18: Module, UnaryLayer {
    /// The 3×3 stem convolution (3 → width channels) and its norm.
    public let stem: Conv2d, stemNorm: BatchNorm2d
    /// The eight basic blocks, two per stage.
    public let blocks: [BasicBlock]
    /// The Linear layer from the pooled 8·width features to the class logits.
    public let classifier: Linear

    /// A network for `classes` classes whose first stage has `width` channels (64: ResNet-18).
    public init(classes: Int = 10, width: Int = 64, generator: RandomGenerator = .global) {
        stem = Conv2d(3, width, kernelSize: 3, padding: 1, bias: false, generator: generator)
        stemNorm = BatchNorm2d(width)
        var blocks: [BasicBlock] = [], channels = width
        for stage in 0..<4 {
            let stageWidth = width << stage
            blocks.append(BasicBlock(channels, stageWidth, stride: stage == 0 ? 1 : 2, generator: generator))
            blocks.append(BasicBlock(stageWidth, stageWidth, generator: generator))
            channels = stageWidth
        }
        self.blocks = blocks
        classifier = Linear(channels, classes, generator: generator)
        super.init()
    }

    /// Images [N, 3, H, W] → logits [N, classes].
    public func forward(_ x: Tensor) -> Tensor {
        let features = blocks.reduce(stemNorm(stem(x), relu: true)) { $1($0) }
        return classifier(features.mean(axes: [2, 3]))
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
