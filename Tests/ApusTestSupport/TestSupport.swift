import Foundation
import Testing
import Apus

/// Expects `tensor` to hold `expected` (row-major) within `tolerance` (absolute + relative).
public func expectClose(_ tensor: Tensor, _ expected: [Double], tolerance: Double = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let actual = tensor.scalars(as: Double.self)
    #expect(actual.count == expected.count, "count \(actual.count) vs \(expected.count)", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= tolerance * (1 + abs(e))) {
        Issue.record("element \(i): \(a) vs expected \(e)", sourceLocation: sourceLocation)
        return
    }
}

/// Expects gradcheck to pass for `f` at `inputs`.
public func expectGradients(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation, _ f: @escaping ([Tensor]) -> Tensor) {
    if let failure = gradcheck(inputs, f) {
        Issue.record("\(failure)", sourceLocation: sourceLocation)
    }
}

/// A seeded Float64 normal tensor.
public func randn(_ shape: [Int], seed: UInt64 = 1, scale: Double = 1) -> Tensor {
    Tensor.normal(shape, std: scale, dtype: .float64, generator: RandomGenerator(seed: seed))
}

/// Fixtures made by PyTorch (scripts/fixtures/*.py): case name → inputs and expected outputs.
public enum Fixtures {
    public struct Entry: Decodable {
        public let shape: [Int]
        public let data: [Double]
        let dtype: String?
        public var tensor: Tensor { Tensor(shape: shape, scalars: data, dtype: dtype == "int64" ? .int64 : .float64) }
    }
    public struct Case: Decodable {
        let inputs: [String: Entry]
        let outputs: [String: Entry]
        public func input(_ name: String) -> Tensor {
            guard let entry = inputs[name] else { fatalError("fixture input '\(name)' missing; have \(inputs.keys.sorted())") }
            return entry.tensor
        }
        public func output(_ name: String) -> Entry {
            guard let entry = outputs[name] else { fatalError("fixture output '\(name)' missing; have \(outputs.keys.sorted())") }
            return entry
        }
    }

    /// Loads `Tests/<target>/Fixtures/<name>.json`.
    public static func load(_ target: String, _ name: String) -> [String: Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("\(target)/Fixtures/\(name).json")
        guard let data = try? Data(contentsOf: url), let cases = try? JSONDecoder().decode([String: Case].self, from: data) else {
            fatalError("cannot read fixtures \(url.path)")
        }
        return cases
    }

    /// Path of a fixture file of a test target.
    public static func path(_ target: String, _ file: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("\(target)/Fixtures/\(file)")
    }

    public static let core = load("ApusTests", "core")
}
