import Apus
import Foundation

/// The DAQUAR question/answer format: a text file whose lines alternate between a question
/// ending "… in the imageNNN ?" and its answer line (several answers comma-separated), with
/// images `imageNNN.png` in one folder. The first answer is the class label.
public struct DAQUAR: Dataset {
    public let questions: [VisualQuestion]
    /// All answers of each question (the label is the first).
    public let allAnswers: [[String]]
    public let answers: [String]
    public let vocabulary: Vocabulary
    public let imageFolder: URL
    public let questionLength: Int, padding: Vocabulary.Padding, imageSize: Int?
    private let answerIndex: [String: Int]

    /// Parses `questionsFile`. `answers` fixes the label list (pass the training set's to a test
    /// set; an answer outside it throws), else it is built from this file, sorted.
    public init(questionsFile: URL, imageFolder: URL, answers: [String]? = nil, vocabulary: Vocabulary? = nil,
                questionLength: Int = 30, padding: Vocabulary.Padding = .pre, imageSize: Int? = nil) throws {
        guard let text = try? String(contentsOf: questionsFile, encoding: .utf8) else { throw DataError(questionsFile.path, "missing or not UTF-8 text") }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard lines.count % 2 == 0 else { throw DataError(questionsFile.path, "odd number of lines: every question needs an answer line") }
        var parsed: [VisualQuestion] = [], all: [[String]] = []
        for pair in stride(from: 0, to: lines.count, by: 2) {
            let question = lines[pair]
            guard let range = question.range(of: #"image(\d+)"#, options: [.regularExpression, .backwards]) else {
                throw DataError(questionsFile.path, "line \(pair + 1): question names no imageNNN: \(question)")
            }
            let imageID = String(question[range].dropFirst("image".count))
            let answerList = lines[pair + 1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard let first = answerList.first else { throw DataError(questionsFile.path, "line \(pair + 2): empty answer") }
            let image = imageFolder.appendingPathComponent("image\(imageID).png")
            guard FileManager.default.fileExists(atPath: image.path) else { throw DataError(image.path, "image is missing") }
            parsed.append(VisualQuestion(question: question, answer: first, imageID: imageID))
            all.append(answerList)
        }
        let labels = answers ?? Array(Set(parsed.map(\.answer))).sorted()
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
        for (i, q) in parsed.enumerated() where index[q.answer] == nil {
            throw DataError(questionsFile.path, "line \(2 * i + 2): answer '\(q.answer)' is not among the known answers")
        }
        (questions, allAnswers, self.answers, answerIndex) = (parsed, all, labels, index)
        self.vocabulary = vocabulary ?? Vocabulary(building: parsed.map(\.question))
        (self.imageFolder, self.questionLength, self.padding, self.imageSize) = (imageFolder, questionLength, padding, imageSize)
    }

    public var count: Int { questions.count }

    public func example(_ index: Int) throws -> Example {
        let q = questions[index]
        var image = try Image.load(imageFolder.appendingPathComponent("image\(q.imageID).png"), channels: 3).tensor()
        if let imageSize { image = Resize(imageSize)(image, generator: .global) }
        return ["image": image,
                "question": Tensor(shape: [questionLength], scalars: vocabulary.encode(q.question, length: questionLength, padding: padding).map(Int64.init)),
                "answer": Tensor(shape: [], scalars: [Int64(answerIndex[q.answer]!)])]
    }
}
