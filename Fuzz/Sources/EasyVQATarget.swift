import ApusData
import Foundation

/// easy-VQA's `questions.json` (`EasyVQA.parseQuestions`), then the vocabulary built from it
/// encoding every question, as `EasyVQA.init` and `example(_:)` do.
let easyVQATarget = FuzzTarget(name: "easy-vqa", run: { data in
    let questions = try EasyVQA.parseQuestions(data, answers: ["circle", "red", "yes", "no"], source: "fuzz")
    let vocabulary = Vocabulary(building: questions.map(\.question))
    for question in questions { _ = vocabulary.encode(question.question, length: 12) }
}, seeds: {
    ["questions.json": Data(#"[["What shape is in the image?", "circle", 0], ["What color is the circle?", "red", "1"], ["Is there a circle?", "yes", 0]]"#.utf8)]
})
