import Apus
import ApusData
import Foundation
import Testing

@Suite struct TextTests {
    @Test func tokenizerAndVocabulary() throws {
        #expect(Tokenizer.words("What color is the circle?") == ["what", "color", "is", "the", "circle"])
        #expect(Tokenizer.words("Is there a tape_dispenser, or not!") == ["is", "there", "a", "tape_dispenser", "or", "not"])
        let vocabulary = Vocabulary(building: ["the red circle", "the blue square", "a red square"], minimumFrequency: 2)
        #expect(vocabulary.tokens == ["<pad>", "<unk>", "red", "square", "the"])
        #expect(vocabulary.encode("The red triangle", length: 5) == [0, 0, 4, 2, 1])
        #expect(vocabulary.encode("The red triangle", length: 5, padding: .post) == [4, 2, 1, 0, 0])
        #expect(vocabulary.encode("the red square the red square", length: 3) == [4, 2, 3])
        #expect(vocabulary.encode("the red square the red square", length: 3, padding: .post) == [4, 2, 3])
        #expect(vocabulary.decode([4, 2, 1, 0]) == ["the", "red", "<unk>"])
        #expect(Vocabulary(building: ["a b c d e"], maximumSize: 4).count == 4)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vocab-\(UUID().uuidString).json")
        try vocabulary.save(to: url)
        #expect(try Vocabulary.load(from: url) == vocabulary)
        try Data("{\"tokens\": [\"a\"]}".utf8).write(to: url)
        #expect(throws: DataError.self) { try Vocabulary.load(from: url) }
    }
}
