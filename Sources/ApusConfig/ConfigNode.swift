import Foundation
import Yams

/// A value in a parsed configuration file with its position (`model.layers[2] (conv2)`), and
/// typed accessors that throw one-line `ConfigError`s naming the file, the place and the problem.
public struct ConfigNode {
    let value: Any
    /// The configuration file this value comes from.
    public let file: String
    /// Where in the file: a dotted path such as `model.layers[2] (conv2)` ("" at the top).
    public let location: String

    /// The most values (scalars, lists and mappings, an alias's counted each time it is used) a
    /// configuration file may hold: far more than any real one, far fewer than a file of aliases
    /// repeating each other (a few lines can stand for billions of values) expands to.
    static let maximumValues = 100_000

    /// Parses YAML text (`file` names it in errors).
    public static func parse(_ text: String, file: String) throws -> ConfigNode {
        func malformed(_ detail: String) -> ConfigError { ConfigError(file: file, location: "", message: "malformed YAML: \(detail)") }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw malformed("\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)")
        }
        // Checked before Yams turns the nodes into values: it traps on a key that is a list or a
        // mapping, and it would expand every alias.
        var pending = root.map { [$0] } ?? [], count = 0
        while let node = pending.popLast() {
            count += 1
            guard count <= maximumValues else { throw malformed("more than \(maximumValues) values (aliases repeating each other?)") }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    guard key.scalar != nil else {
                        throw malformed("line \((key.mark?.line).map(String.init) ?? "?"): a key must be a name, not a list or a mapping")
                    }
                    pending += [key, value]
                }
            case .sequence(let sequence): pending.append(contentsOf: sequence)
            case .scalar(let scalar):
                // Yams reads 1:30 as a base-60 integer, trapping when it overflows.
                if scalar.style == .plain, Self.isOversizedSexagesimal(scalar.string) {
                    throw malformed("line \((node.mark?.line).map(String.init) ?? "?"): the number '\(scalar.string)' is too large")
                }
            case .alias: break
            }
        }
        guard let map = root?.any as? [String: Any] else {
            throw ConfigError(file: file, location: "", message: "the file must be a YAML mapping with sections data, model, loss, solver")
        }
        return ConfigNode(value: map, file: file, location: "")
    }

    /// Whether `text` is a YAML 1.1 base-60 number (`1:30:00`) too large for an integer.
    static func isOversizedSexagesimal(_ text: String) -> Bool {
        let body = text.drop(while: { $0 == "+" || $0 == "-" }).filter { $0 != "_" }
        guard body.contains(":"), body.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ":" || $0 == ".") }) else { return false }
        let value = body.split(separator: ":", omittingEmptySubsequences: false).reduce(0.0) { $0 * 60 + (Double($1) ?? 0) }
        return !(value < 1e15)
    }

    /// Reads and parses a configuration file.
    public static func load(_ path: String) throws -> ConfigNode {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, location: "", message: "cannot read the configuration file (missing or not UTF-8 text)")
        }
        return try parse(text, file: path)
    }

    /// An error about this value: the file, its location and `message`.
    public func error(_ message: String) -> ConfigError { ConfigError(file: file, location: location, message: message) }

    func child(_ key: String, _ value: Any) -> ConfigNode {
        ConfigNode(value: value, file: file, location: location.isEmpty ? key : "\(location).\(key)")
    }

    var map: [String: Any]? { value as? [String: Any] }

    /// Throws for any key not in `allowed`, suggesting the nearest allowed one.
    public func checkKeys(_ allowed: [String]) throws {
        guard let map else { throw error("expected a mapping of options") }
        for key in map.keys.sorted() where !allowed.contains(key) {
            let hint = nearest(key, in: allowed).map { " (did you mean '\($0)'?)" } ?? " (known: \(allowed.sorted().joined(separator: ", ")))"
            throw error("unknown option '\(key)'\(hint)")
        }
    }

    /// Whether this mapping holds `key`.
    public func has(_ key: String) -> Bool { map?[key] != nil }

    /// The value at `key`; throws when it is missing.
    public func node(_ key: String) throws -> ConfigNode {
        guard let v = map?[key] else { throw error("missing required option '\(key)'") }
        return child(key, v)
    }

    /// The value at `key`, or nil.
    public func optionalNode(_ key: String) -> ConfigNode? { map?[key].map { child(key, $0) } }

    func typed<T>(_ key: String, _ type: String, default fallback: T?, _ convert: (Any) -> T?) throws -> T {
        guard let raw = map?[key] else {
            if let fallback { return fallback }
            throw error("missing required option '\(key)' (\(type))")
        }
        guard let value = convert(raw) else { throw child(key, raw).error("expected \(type), got \(describe(raw))") }
        return value
    }

    func describe(_ raw: Any) -> String {
        switch raw {
        case let s as String: return "the text '\(s)'"
        case is [Any]: return "a list"
        case is [String: Any]: return "a mapping"
        case let b as Bool: return "\(b)"
        default: return "\(raw)"
        }
    }

    /// The integer at `key` (or `fallback` when missing), at least `minimum` and at most
    /// `maximum`; throws otherwise.
    public func int(_ key: String, default fallback: Int? = nil, minimum: Int? = nil, maximum: Int? = nil) throws -> Int {
        let value = try typed(key, "an integer", default: fallback) { ($0 as? Int) ?? (($0 as? Double).flatMap { Int(exactly: $0) }) }
        if let minimum, value < minimum { throw child(key, value).error("must be at least \(minimum), got \(value)") }
        if let maximum, value > maximum { throw child(key, value).error("must be at most \(maximum), got \(value)") }
        return value
    }

    /// The finite number at `key` (or `fallback` when missing); throws otherwise.
    public func double(_ key: String, default fallback: Double? = nil) throws -> Double {
        try typed(key, "a finite number", default: fallback) { (($0 as? Double) ?? ($0 as? Int).map(Double.init)).flatMap { $0.isFinite ? $0 : nil } }
    }

    /// The text at `key` (or `fallback` when missing); throws otherwise.
    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        try typed(key, "a text", default: fallback) { $0 as? String }
    }

    /// The true/false at `key` (or `fallback` when missing); throws otherwise.
    public func bool(_ key: String, default fallback: Bool? = nil) throws -> Bool {
        try typed(key, "true or false", default: fallback) { $0 as? Bool }
    }

    /// The integer list at `key` (a single integer counts as a list of one, or `fallback` when
    /// missing), each at least `minimum` and at most `maximum`; throws otherwise.
    public func intList(_ key: String, default fallback: [Int]? = nil, minimum: Int? = nil, maximum: Int? = nil) throws -> [Int] {
        let values = try typed(key, "a list of integers", default: fallback) { raw -> [Int]? in
            if let n = raw as? Int { return [n] }
            return (raw as? [Any]).flatMap { list in
                let ints = list.compactMap { $0 as? Int }
                return ints.count == list.count ? ints : nil
            }
        }
        if let minimum, let bad = values.first(where: { $0 < minimum }) {
            throw child(key, values).error("every entry must be at least \(minimum), got \(bad)")
        }
        if let maximum, let bad = values.first(where: { $0 > maximum }) {
            throw child(key, values).error("every entry must be at most \(maximum), got \(bad)")
        }
        return values
    }

    /// The list of finite numbers at `key` (a single number counts as a list of one); throws otherwise.
    public func doubleList(_ key: String) throws -> [Double] {
        try typed(key, "a list of numbers", default: nil) { raw -> [Double]? in
            let list = raw as? [Any] ?? [raw]
            let numbers = list.compactMap { ($0 as? Double) ?? ($0 as? Int).map(Double.init) }.filter(\.isFinite)
            return numbers.count == list.count ? numbers : nil
        }
    }

    /// The list of texts at `key` (a single text counts as a list of one), or nil when missing.
    public func stringList(_ key: String) throws -> [String]? {
        guard let raw = map?[key] else { return nil }
        if let s = raw as? String { return [s] }
        guard let list = raw as? [Any], list.allSatisfy({ $0 is String }) else { throw child(key, raw).error("expected a name or a list of names") }
        return list.map { $0 as! String }
    }

    /// The elements of a list, each with its index (and name, when it has one) in its location.
    public func list(_ key: String) throws -> [ConfigNode] {
        let raw = try node(key)
        guard let items = raw.value as? [Any] else { throw raw.error("expected a list") }
        return items.enumerated().map { i, item in
            let name = (item as? [String: Any])?["name"] as? String
            return ConfigNode(value: item, file: file, location: "\(raw.location)[\(i)]" + (name.map { " (\($0))" } ?? ""))
        }
    }
}
