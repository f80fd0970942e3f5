import Apus
import Foundation

/// One visual question: the question text, its answer and the image it is about.
public struct VisualQuestion: Equatable, Sendable {
    public let question: String
    public let answer: String
    public let imageID: String
}

/// The easy-VQA data set in the layout of the `easy-vqa` 1.0 wheel: `answers.txt` (one answer per
/// line), `{train,test}/questions.json` (a list of `[question, answer, imageId]`) and
/// `{train,test}/images/<imageId>.png`.
///
/// Examples: "image" Float32 [3, H, W] in [0, 1] (resized when `imageSize` is set), "question"
/// Int64 [questionLength] (vocabulary ids, padded on the `padding` side), "answer" Int64 [] (index into `answers`).
/// Everything is checked when the data set is opened: a missing file, malformed JSON, an answer
/// not in `answers.txt` or a missing image throws a `DataError` naming the file.
public struct EasyVQA: Dataset {
    public let root: URL
    public let split: String
    public let answers: [String]
    public let questions: [VisualQuestion]
    public let vocabulary: Vocabulary
    public let questionLength: Int
    public let padding: Vocabulary.Padding
    public let imageSize: Int?
    private let answerIndex: [String: Int]

    /// Opens `split` ("train" or "test") under `root`. Without a `vocabulary`, one is built from
    /// this split's questions (build it from "train" and pass it to "test").
    public init(root: URL, split: String, vocabulary: Vocabulary? = nil, questionLength: Int = 12, padding: Vocabulary.Padding = .pre,
                imageSize: Int? = nil) throws {
        let answersFile = root.appendingPathComponent("answers.txt")
        guard let answerText = try? String(contentsOf: answersFile, encoding: .utf8) else {
            throw DataError(answersFile.path, "missing (is the easy-VQA data at \(root.path)? run scripts/fetch-easy-vqa.sh)")
        }
        answers = answerText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        answerIndex = Dictionary(answers.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let questionsFile = root.appendingPathComponent("\(split)/questions.json")
        guard let data = FileManager.default.contents(atPath: questionsFile.path) else { throw DataError(questionsFile.path, "missing") }
        let parsed = try EasyVQA.parseQuestions(data, answers: Set(answers), source: questionsFile.path)
        for imageID in Set(parsed.map(\.imageID)) {
            let image = root.appendingPathComponent("\(split)/images/\(imageID).png")
            guard FileManager.default.fileExists(atPath: image.path) else { throw DataError(image.path, "image is missing") }
        }
        (self.root, self.split, questions) = (root, split, parsed)
        self.vocabulary = vocabulary ?? Vocabulary(building: parsed.map(\.question))
        (self.questionLength, self.padding, self.imageSize) = (questionLength, padding, imageSize)
    }

    /// Parses the bytes of a `questions.json` (a JSON list of `[question, answer, imageId]`, the
    /// image id a number or a text); every answer must be one of `answers`. Malformed entries
    /// throw a `DataError` naming `source`.
    public static func parseQuestions(_ data: Data, answers: Set<String>, source: String) throws -> [VisualQuestion] {
        guard let entries = try? JSONSerialization.jsonObject(with: data) as? [[Any]] else {
            throw DataError(source, "malformed: expected a JSON list of [question, answer, imageId]")
        }
        var parsed: [VisualQuestion] = []
        parsed.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() {
            guard entry.count == 3, let question = entry[0] as? String, let answer = entry[1] as? String else {
                throw DataError(source, "entry \(i) is not [question, answer, imageId]")
            }
            let imageID: String
            switch entry[2] {
            case let n as Int: imageID = String(n)
            case let s as String: imageID = s
            default: throw DataError(source, "entry \(i) has an image id that is neither a number nor a string")
            }
            guard answers.contains(answer) else {
                throw DataError(source, "entry \(i): answer '\(answer)' is not in answers.txt")
            }
            parsed.append(VisualQuestion(question: question, answer: answer, imageID: imageID))
        }
        return parsed
    }

    public var count: Int { questions.count }

    public func imageURL(_ imageID: String) -> URL { root.appendingPathComponent("\(split)/images/\(imageID).png") }

    public func example(_ index: Int) throws -> Example {
        let q = questions[index]
        var image = try Image.load(imageURL(q.imageID), channels: 3).tensor()
        if let imageSize { image = Resize(imageSize)(image, generator: .global) }
        let ids = vocabulary.encode(q.question, length: questionLength, padding: padding)
        return ["image": image, "question": Tensor(shape: [questionLength], scalars: ids.map(Int64.init)),
                "answer": Tensor(shape: [], scalars: [Int64(answerIndex[q.answer]!)])]
    }
}
