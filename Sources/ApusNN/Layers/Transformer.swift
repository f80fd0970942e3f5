import Apus

/// The feed-forward activation of a `TransformerEncoderLayer`.
public enum TransformerActivation: Sendable {
    /// ReLU or GELU (exact) between the two linear layers.
    case relu, gelu
}

/// One Transformer encoder layer (PyTorch's `nn.TransformerEncoderLayer`, batch first):
/// self-attention and a feed-forward block (Linear → activation → Linear), each with a residual
/// connection and LayerNorm — before each block with `normFirst` (pre-LN, GPT style), after it
/// otherwise. [B, T, modelWidth] → [B, T, modelWidth].
public final class TransformerEncoderLayer: Module {
    /// The self-attention block (batch first).
    public let selfAttention: MultiHeadAttention
    /// The feed-forward block: modelWidth → feedForward → modelWidth.
    public let linear1: Linear, linear2: Linear
    /// The norms before (pre-LN) or after (post-LN) the attention and feed-forward blocks.
    public let norm1: LayerNorm, norm2: LayerNorm
    /// Dropout probability (in training mode), the feed-forward activation, and whether the
    /// norms come first.
    public let dropout: Double, activation: TransformerActivation, normFirst: Bool
    let generator: RandomGenerator

    /// A layer `modelWidth` wide with `heads` heads; PyTorch's defaults otherwise (feed-forward
    /// 2048, dropout 0.1, ReLU, post-LN). Dropout masks come from `generator`.
    public init(modelWidth: Int, heads: Int, feedForward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, normFirst: Bool = false, generator: RandomGenerator = .global) {
        selfAttention = MultiHeadAttention(embedDim: modelWidth, numHeads: heads, batchFirst: true, dropout: dropout, generator: generator)
        linear1 = Linear(modelWidth, feedForward, generator: generator)
        linear2 = Linear(feedForward, modelWidth, generator: generator)
        norm1 = LayerNorm([modelWidth])
        norm2 = LayerNorm([modelWidth])
        (self.dropout, self.activation, self.normFirst, self.generator) = (dropout, activation, normFirst, generator)
        super.init()
    }

    override public var typeDescription: String {
        "TransformerEncoderLayer(\(selfAttention.embedDim), \(selfAttention.numHeads) heads, feed-forward \(linear1.outFeatures))"
    }

    /// x [B, T, E] → [B, T, E]; `causal` lets each position attend only to itself and earlier
    /// ones, `keyPaddingMask` [B, T] (true = padding) hides padded positions.
    public func callAsFunction(_ x: Tensor, causal: Bool = false, keyPaddingMask: Tensor? = nil) -> Tensor {
        let p = isTraining ? dropout : 0
        func attentionBlock(_ y: Tensor) -> Tensor {
            Apus.dropout(selfAttention.attend(query: y, key: y, value: y, keyPaddingMask: keyPaddingMask, causal: causal), p: p, generator: generator)
        }
        func feedForwardBlock(_ y: Tensor) -> Tensor {
            let hidden = linear1(y)
            let activated = activation == .gelu ? hidden.gelu() : hidden.relu()
            return Apus.dropout(linear2(Apus.dropout(activated, p: p, generator: generator)), p: p, generator: generator)
        }
        if normFirst {
            let attended = x + attentionBlock(norm1(x))
            return attended + feedForwardBlock(norm2(attended))
        }
        let attended = norm1(x + attentionBlock(x))
        return norm2(attended + feedForwardBlock(attended))
    }
}

extension TransformerEncoderLayer: UnaryLayer {
    /// The layer without a mask (for `Sequential` and functional models).
    public func forward(_ x: Tensor) -> Tensor { self(x) }
}
