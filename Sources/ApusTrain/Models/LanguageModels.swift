import Apus
import ApusNN

/// A GPT-style language model: token embedding + learned positions, `layers` pre-LayerNorm
/// `TransformerEncoderLayer`s under a causal mask, a final LayerNorm and a Linear over the
/// vocabulary. Token ids [B, T] (T ≤ `maxLength`) → logits [B, T, vocabulary].
public final class TransformerLanguageModel: Module, UnaryLayer {
    public let tokens: Embedding, positions: Embedding
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm
    public let head: Linear

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

    public func forward(_ ids: Tensor) -> Tensor {
        precondition(ids.rank == 2 && ids.shape[1] <= positions.weight.shape[0],
                     "TransformerLanguageModel: expected token ids [B, T] with T ≤ \(positions.weight.shape[0]), got \(ids.shape)")
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
    public let embedding: Embedding
    public let lstm: LSTM
    public let decoder: Linear

    public init(vocabulary: Int, width: Int, layers: Int, generator: RandomGenerator = .global) {
        embedding = Embedding(vocabulary, width, generator: generator)
        lstm = LSTM(inputSize: width, hiddenSize: width, numLayers: layers, generator: generator)
        decoder = Linear(width, vocabulary, generator: generator)
        super.init()
    }

    public func forward(_ ids: Tensor) -> Tensor { decoder(lstm(embedding(ids)).output) }

    public func callAsFunction(_ ids: Tensor) -> Tensor { forward(ids) }
}
