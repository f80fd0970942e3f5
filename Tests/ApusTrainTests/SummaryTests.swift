import Apus
import ApusNN
import ApusTestSupport
import ApusTrain
import Foundation
import Testing

@Suite struct SummaryTests {
    @Test func vqaSummaryMatchesTheCommittedText() throws {
        let model = try ReferenceModels.visualQuestionAnswering(vocabularySize: 1000, answers: 13, generator: RandomGenerator(seed: 0))
        #expect(model.parameterCount == 2_783_053)   // PyTorch's count for the same model
        let expected = try String(contentsOf: Fixtures.path("ApusTrainTests", "vqa-summary.txt"), encoding: .utf8)
        if ProcessInfo.processInfo.environment["APUS_WRITE_FIXTURES"] == "1" {
            try (model.summary() + "\n").write(to: Fixtures.path("ApusTrainTests", "vqa-summary.txt"), atomically: true, encoding: .utf8)
        }
        #expect(model.summary() + "\n" == expected)
        let batch = ["image": Tensor.zeros([2, 3, 64, 64]), "question": Tensor.zeros([2, 12], dtype: .int64)]
        #expect(model(batch)[0].shape == [2, 13])
    }
}
