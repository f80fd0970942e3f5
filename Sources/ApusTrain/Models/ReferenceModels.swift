import Apus
import ApusNN

/// The models of the project's reference workload (see BENCHMARK.md), built with the
/// functional API.
public enum ReferenceModels {
    /// The CNN + LSTM visual question answering model: image [3, S, S] → three
    /// Conv3×3+ReLU+MaxPool2 blocks (32, 64, 128 channels) → Linear 256 + ReLU; question ids [12]
    /// → Embedding 128 → LSTM 256 (last hidden state); product of the two → Linear 256 + ReLU →
    /// Linear `answers` (logits). 2,783,053 parameters at 64×64 with a 1000-word vocabulary.
    /// Throws a `ShapeError` for images under 8 pixels (three 2×2 poolings).
    public static func visualQuestionAnswering(vocabularySize: Int, answers: Int, imageSize: Int = 64,
                                               questionLength: Int = 12, generator: RandomGenerator = .global) throws -> Model {
        let image = Input("image", shape: [3, imageSize, imageSize])
        let question = Input("question", shape: [questionLength], dtype: .int64)
        var x = image
        for (inChannels, outChannels) in [(3, 32), (32, 64), (64, 128)] {
            x = MaxPool2d(2)(Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1, relu: true, generator: generator)(x))
        }
        let flat = Flatten()(x)
        if let failure = flat.failure { throw failure }
        let imageFeatures = ReLU()(Linear(flat.shape[0], 256, generator: generator)(flat))
        let words = Embedding(vocabularySize, 128, generator: generator)(question)
        let questionFeatures = LSTM(inputSize: 128, hiddenSize: 256, batchFirst: true, returnsSequences: false, generator: generator)(words)
        let merged = Multiply()([imageFeatures, questionFeatures])
        let hidden = ReLU()(Linear(256, 256, generator: generator)(merged))
        return try Model(inputs: [image, question], outputs: [Linear(256, answers, generator: generator)(hidden)], name: "vqa")
    }
}
