import ApusData
import Foundation

/// A saved vocabulary (`Vocabulary.decode`), then encoding and decoding with it.
let vocabularyTarget = FuzzTarget(name: "vocabulary", run: { data in
    let vocabulary = try Vocabulary.decode(data, source: "fuzz")
    let ids = vocabulary.encode("what color is the circle?", length: 8, padding: .post)
    _ = vocabulary.decode(ids + [vocabulary.count, -1])
}, seeds: {
    ["vocabulary.json": try JSONEncoder().encode(Vocabulary(building: ["What color is the circle?", "Is there a red square?"]))]
})
