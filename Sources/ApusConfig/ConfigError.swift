/// A problem with a configuration file: the file, where in it, and what is wrong — one line.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The configuration file.
    public let file: String
    /// Where in it (a dotted path; "" for the file as a whole).
    public let location: String
    /// What is wrong.
    public let message: String

    /// An error in `file` at `location` saying `message`.
    public init(file: String, location: String, message: String) {
        (self.file, self.location, self.message) = (file, location, message)
    }

    /// `file: location: message` on one line.
    public var description: String { location.isEmpty ? "\(file): \(message)" : "\(file): \(location): \(message)" }
}

/// The closest of `candidates` to `word` by edit distance, if it is close enough to be a typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1]
            for (j, cb) in b.enumerated() {
                current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
    let scored = candidates.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= Swift.max(2, word.count / 3) else { return nil }
    return best
}
