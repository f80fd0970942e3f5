import Apus
import Foundation

/// Splits text into lower-case words on whitespace and punctuation (which is dropped):
/// "What color is the circle?" → ["what", "color", "is", "the", "circle"].
public enum Tokenizer {
    public static func words(_ text: String) -> [String] {
        text.lowercased().split { $0.isWhitespace || ($0.isPunctuation && $0 != "_") || $0.isSymbol }.map(String.init)
    }
}

/// Token ↔ id mapping with reserved ids: 0 = `<pad>`, 1 = `<unk>`. Saved as JSON beside a model
/// so prediction encodes text with the same ids.
public struct Vocabulary: Equatable, Codable, Sendable {
    public static let padding = "<pad>", unknown = "<unk>"
    public static let paddingID = 0, unknownID = 1

    /// Tokens by id.
    public let tokens: [String]
    private let ids: [String: Int]

    public init(tokens: [String]) {
        precondition(Array(tokens.prefix(2)) == [Vocabulary.padding, Vocabulary.unknown], "Vocabulary: ids 0 and 1 are <pad> and <unk>")
        self.tokens = tokens
        ids = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($0.element, $0.offset) })
    }

    /// The words of `corpus` seen at least `minimumFrequency` times, most frequent first (ties
    /// alphabetical), after the reserved tokens; at most `maximumSize` entries in all.
    public init(building corpus: [String], minimumFrequency: Int = 1, maximumSize: Int? = nil) {
        var counts: [String: Int] = [:]
        for text in corpus { for word in Tokenizer.words(text) { counts[word, default: 0] += 1 } }
        var words = counts.filter { $0.value >= minimumFrequency }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map(\.key)
        if let maximumSize { words = Array(words.prefix(Swift.max(0, maximumSize - 2))) }
        self.init(tokens: [Vocabulary.padding, Vocabulary.unknown] + words)
    }

    public var count: Int { tokens.count }

    /// The id of `token` (`unknownID` when absent).
    public func id(_ token: String) -> Int { ids[token] ?? Vocabulary.unknownID }

    /// Where `encode` puts the padding of a text shorter than its length.
    public enum Padding: String, CaseIterable, Sendable {
        /// Before the words (Keras' `pad_sequences` default): a recurrent layer's last state
        /// follows the last word, which is what a classifier reading that state needs.
        case pre
        /// After the words.
        case post
    }

    /// Ids of the first `length` words of `text`, padded with `paddingID` to `length` on the
    /// `padding` side: "the red square", length 5 → [0, 0, the, red, square] (`.pre`) or
    /// [the, red, square, 0, 0] (`.post`).
    public func encode(_ text: String, length: Int, padding: Padding = .pre) -> [Int] {
        let encoded = Tokenizer.words(text).prefix(length).map(id)
        let fill = Array(repeating: Vocabulary.paddingID, count: length - encoded.count)
        return padding == .pre ? fill + encoded : encoded + fill
    }

    /// Tokens for `ids`, without padding.
    public func decode(_ ids: [Int]) -> [String] {
        ids.filter { $0 != Vocabulary.paddingID }.map { tokens.indices.contains($0) ? tokens[$0] : Vocabulary.unknown }
    }

    enum CodingKeys: String, CodingKey { case tokens }
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let tokens = try container.decode([String].self, forKey: .tokens)
        guard Array(tokens.prefix(2)) == [Vocabulary.padding, Vocabulary.unknown], Set(tokens).count == tokens.count else {
            throw DecodingError.dataCorruptedError(forKey: .tokens, in: container, debugDescription: "must start with <pad>, <unk> and hold no duplicates")
        }
        self.init(tokens: tokens)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tokens, forKey: .tokens)
    }

    /// Writes the vocabulary as JSON (atomically).
    public func save(to url: URL) throws {
        let data = try JSONEncoder().encode(self)
        try data.write(to: url, options: .atomic)
    }

    /// Reads a vocabulary saved by `save(to:)`.
    public static func load(from url: URL) throws -> Vocabulary {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw DataError(url.path, "vocabulary file is missing") }
        return try decode(data, source: url.path)
    }

    /// Parses the bytes of a vocabulary file saved by `save(to:)`; anything else throws a
    /// `DataError` naming `source`.
    public static func decode(_ data: Data, source: String = "vocabulary data") throws -> Vocabulary {
        do { return try JSONDecoder().decode(Vocabulary.self, from: data) } catch {
            throw DataError(source, "not a vocabulary JSON file ({\"tokens\": [\"<pad>\", \"<unk>\", …]})")
        }
    }
}
