import Apus
import Foundation

/// A text file cut into windows of `length` characters for character-level language models:
/// "input" Int64 [length] (character ids) and "target" Int64 [length] (the next character of
/// each position). The vocabulary is the file's characters (after `<pad>` and `<unk>`).
public struct TextCharacters: Dataset {
    /// The characters' vocabulary (`<pad>`, `<unk>`, then the file's characters, sorted).
    public let vocabulary: Vocabulary
    /// The whole file as character ids.
    public let ids: [Int64]
    /// Characters per window.
    public let length: Int
    /// Windows used (a suffix of the file may be held out as a test split).
    public let windows: Range<Int>

    /// Reads `file` (UTF-8) into windows of `length` characters, with `vocabulary` (or one made
    /// from the file) and only `windows` (default: all); throws a `DataError` naming the file.
    public init(file: URL, length: Int, vocabulary: Vocabulary? = nil, windows: Range<Int>? = nil) throws {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { throw DataError(file.path, "missing or not UTF-8 text") }
        guard length > 0, text.count > length else { throw DataError(file.path, "needs more than \(length) characters, has \(text.count)") }
        let characters = text.map(String.init)
        let vocabulary = vocabulary ?? Vocabulary(tokens: [Vocabulary.padding, Vocabulary.unknown] + Set(characters).sorted())
        self.vocabulary = vocabulary
        ids = characters.map { Int64(vocabulary.id($0)) }
        self.length = length
        self.windows = windows ?? 0..<((ids.count - 1) / length)
    }

    /// All windows of the file.
    public var totalWindows: Int { (ids.count - 1) / length }

    /// Number of windows used.
    public var count: Int { windows.count }

    /// Window `index`: "input" [length] and "target" [length] (the input shifted by one), Int64.
    public func example(_ index: Int) throws -> Example {
        let start = (windows.lowerBound + index) * length
        return ["input": Tensor(shape: [length], scalars: Array(ids[start..<(start + length)])),
                "target": Tensor(shape: [length], scalars: Array(ids[(start + 1)...(start + length)]))]
    }
}
