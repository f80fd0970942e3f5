import Foundation
import Yams

extension ConfigNode {
    /// This configuration with `assignments` applied, each `path=value` as on the command line
    /// (`solver.learning_rate=0.01`, `model.layers[3].out_features=64`): the path's keys are
    /// created when missing, `[i]` picks a list element, and the value is read as YAML (`3`,
    /// `0.5`, `true`, `[1, 2]`, `{type: step, step_size: 2}`, text). A malformed assignment, or
    /// a path through something that is not a mapping or list, is a `ConfigError` naming it.
    public func overriding(_ assignments: [String]) throws -> ConfigNode {
        var root: Any = value
        for assignment in assignments {
            func fail(_ why: String) -> ConfigError { ConfigError(file: file, location: "--set \(assignment)", message: why) }
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw fail("expected key.path=value")
            }
            let text = String(assignment[assignment.index(after: equals)...])
            let parsed: Any
            do { parsed = try Yams.load(yaml: text) ?? text } catch { throw fail("the value is not valid YAML") }
            var steps: [PathStep] = []
            for part in assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false) {
                guard let parsedPart = PathStep.parse(part) else { throw fail("'\(part)' is not a key or key[index]") }
                steps += parsedPart
            }
            root = try PathStep.set(parsed, at: steps[...], in: root, fail: fail)
        }
        return ConfigNode(value: root, file: file, location: location)
    }
}

/// One step of an override's path: a mapping key or a list index.
private enum PathStep {
    case key(String)
    case index(Int)

    /// `name` or `name[3]` (or `name[3][1]`) as steps; nil when malformed.
    static func parse(_ part: Substring) -> [PathStep]? {
        let pieces = part.split(separator: "[", omittingEmptySubsequences: false)
        guard let key = pieces.first, !key.isEmpty else { return nil }
        var steps = [PathStep.key(String(key))]
        for piece in pieces.dropFirst() {
            guard piece.hasSuffix("]"), let i = Int(piece.dropLast()), i >= 0 else { return nil }
            steps.append(.index(i))
        }
        return steps
    }

    /// `container` with `value` stored at `path`.
    static func set(_ value: Any, at path: ArraySlice<PathStep>, in container: Any?, fail: (String) -> ConfigError) throws -> Any {
        guard let step = path.first else { return value }
        switch step {
        case .key(let key):
            guard var map = container.map({ $0 as? [String: Any] }) ?? [:] else { throw fail("'\(key)' is inside something that is not a mapping") }
            map[key] = try set(value, at: path.dropFirst(), in: map[key], fail: fail)
            return map
        case .index(let i):
            guard var list = container as? [Any] else { throw fail("[\(i)] is applied to something that is not a list") }
            guard list.indices.contains(i) else { throw fail("index \(i) is out of range for a list of \(list.count)") }
            list[i] = try set(value, at: path.dropFirst(), in: list[i], fail: fail)
            return list
        }
    }
}
