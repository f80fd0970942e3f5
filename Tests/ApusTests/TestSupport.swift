import Foundation
import Testing
@testable import Apus

/// Expects `tensor` to hold `expected` (row-major) within `tolerance` (absolute + relative).
func expectClose(_ tensor: Tensor, _ expected: [Double], tolerance: Double = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let actual = tensor.scalars(as: Double.self)
    #expect(actual.count == expected.count, "count \(actual.count) vs \(expected.count)", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= tolerance * (1 + abs(e))) {
        Issue.record("element \(i): \(a) vs expected \(e)", sourceLocation: sourceLocation)
        return
    }
}

/// Expects gradcheck to pass for `f` at `inputs`.
func expectGradients(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation, _ f: @escaping ([Tensor]) -> Tensor) {
    if let failure = gradcheck(inputs, f) {
        Issue.record("\(failure)", sourceLocation: sourceLocation)
    }
}

/// A seeded Float64 normal tensor.
func randn(_ shape: [Int], seed: UInt64 = 1, scale: Double = 1) -> Tensor {
    Tensor.normal(shape, std: scale, dtype: .float64, generator: RandomGenerator(seed: seed))
}

/// Fixtures made by PyTorch (scripts/fixtures/core_fixtures.py).
struct Fixtures {
    struct Entry: Decodable {
        let shape: [Int]
        let data: [Double]
        let dtype: String?
        var tensor: Tensor { Tensor(shape: shape, scalars: data, dtype: dtype == "int64" ? .int64 : .float64) }
    }
    struct Case: Decodable {
        let inputs: [String: Entry]
        let outputs: [String: Entry]
        func input(_ name: String) -> Tensor { inputs[name]!.tensor }
        func output(_ name: String) -> Entry { outputs[name]! }
    }
    static let core: [String: Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/core.json")
        let data = try! Data(contentsOf: url)
        return try! JSONDecoder().decode([String: Case].self, from: data)
    }()
}
