import Apus
import ApusNN

/// A GPT-style language model: token embedding + learned positions, `layers` pre-LayerNorm
/// `TransformerEncoderLayer`s under a causal mask, a final LayerNorm and a Linear over the
/// vocabulary. Token ids [B, T] (T ≤ `maxLength`) → logits [B, T, vocabulary].
public final class TransformerLanguageModel: Module, UnaryLayer {
    /// Token embeddings [vocabulary, width] and learned position embeddings [maxLength, width].
    public let tokens: Embedding, positions: Embedding
    /// The causal pre-LN encoder layers.
    public let layers: [TransformerEncoderLayer]
    /// The final LayerNorm.
    public let norm: LayerNorm
    /// The Linear layer from the width to the vocabulary's logits.
    public let head: Linear

    /// A model over `vocabulary` tokens for sequences of up to `maxLength`, `layers` layers of
    /// `modelWidth` with `heads` heads and a `feedForward`-wide GELU block, `dropout` in each.
    public init(vocabulary: Int, maxLength: Int, modelWidth: Int = 256, heads: Int = 4, feedForward: Int = 1024,
                layers: Int = 4, dropout: Double = 0, generator: RandomGenerator = .global) {
        tokens = Embedding(vocabulary, modelWidth, generator: generator)
        positions = Embedding(maxLength, modelWidth, generator: generator)
        self.layers = (0..<layers).map { _ in
            TransformerEncoderLayer(modelWidth: modelWidth, heads: heads, feedForward: feedForward, dropout: dropout,
                                    activation: .gelu, normFirst: true, generator: generator)
        }
        norm = LayerNorm([modelWidth])
        head = Linear(modelWidth, vocabulary, generator: generator)
        super.init()
    }

    /// Token ids [B, T] → logits [B, T, vocabulary]. Other shapes, or T above `maxLength`, are a
    /// `ShapeError` (thrown inside `Tensor.checking`).
    public func forward(_ ids: Tensor) -> Tensor {
        guard ids.rank == 2 && ids.shape[1] <= positions.weight.shape[0] else {
            return .failure(ShapeError(op: "TransformerLanguageModel", shapes: [ids.shape],
                                       expected: "token ids [B, T] with T ≤ maxLength \(positions.weight.shape[0])"))
        }
        let length = ids.shape[1]
        let x = tokens(ids) + positions.weight[0..<length]
        return head(norm(layers.reduce(x) { $1($0, causal: true) }))
    }

    public func callAsFunction(_ ids: Tensor) -> Tensor { forward(ids) }
}

/// A word-level LSTM language model (PyTorch's word_language_model): Embedding, a stacked
/// LSTM, a Linear over the vocabulary at every step. Ids [T, B] (sequence first) → logits
/// [T, B, vocabulary].
public final class LSTMLanguageModel: Module, UnaryLayer {
    /// Word embeddings [vocabulary, width].
    public let embedding: Embedding
    /// The stacked LSTM (sequence first), `width` wide.
    public let lstm: LSTM
    /// The Linear layer from the LSTM's output to the vocabulary's logits.
    public let decoder: Linear

    /// A model over `vocabulary` words, `width` wide, with `layers` LSTM layers.
    public init(vocabulary: Int, width: Int, layers: Int, generator: RandomGenerator = .global) {
        embedding = Embedding(vocabulary, width, generator: generator)
        lstm = LSTM(inputSize: width, hiddenSize: width, numLayers: layers, generator: generator)
        decoder = Linear(width, vocabulary, generator: generator)
        super.init()
    }

    /// Word ids [T, B] → logits [T, B, vocabulary] (each sequence starts from a zero state).
    public func forward(_ ids: Tensor) -> Tensor { decoder(lstm(embedding(ids)).output) }

    public func callAsFunction(_ ids: Tensor) -> Tensor { forward(ids) }
}
