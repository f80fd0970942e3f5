import Apus
@testable import ApusConfig
import ApusNN
import ApusTrain
import Testing

/// The model section's pooling and GELU options, built in-process (no `apus` run).
@Suite struct ModelBuilderTests {
    func build(_ layers: String) throws -> Model {
        let yaml = "model:\n  inputs: {image: [2, 6, 6]}\n  layers:\n" + layers
        let section = try ConfigNode.parse(yaml, file: "model.yaml").node("model")
        return try ModelBuilder.build(section, facts: DataFacts(), generator: RandomGenerator(seed: 1))
    }

    /// `ceil_mode`, `count_include_pad` and `approximate` reach the layers: the model computes
    /// what the functional calls with those options compute.
    @Test func poolingAndGELUOptions() throws {
        let model = try build("""
                - {type: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
                - {type: avgpool2d, kernel_size: 2, padding: 1, ceil_mode: true, count_include_pad: false}
                - {type: gelu, approximate: tanh}

            """)
        #expect(model.outputs[0].shape == [2, 2, 2])
        let x = Tensor.normal([3, 2, 6, 6], generator: RandomGenerator(seed: 2))
        let pooled = maxPool2d(x, kernel: (3, 3), stride: (2, 2), ceilMode: true)
        let expected = avgPool2d(pooled, kernel: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false).gelu(approximate: .tanh)
        #expect(model(["image": x])[0].scalars(as: Float.self) == expected.scalars(as: Float.self))
    }

    /// Options PyTorch rejects are clear configuration errors naming the layer, never a crash.
    @Test(arguments: [
        ("- {type: maxpool2d, kernel_size: 3, padding: 2}", "padding (2, 2) must be non-negative and at most half the kernel 3×3"),
        ("- {type: avgpool2d, kernel_size: 2, padding: -1}", "must be at least 0"),
        ("- {type: avgpool2d, count_include_pad: maybe}", "expected true or false"),
        ("- {type: maxpool2d, count_include_pad: false}", "unknown option 'count_include_pad'"),
        ("- {type: gelu, approximate: erf}", "gelu approximate must be 'none' or 'tanh', got 'erf'"),
    ])
    func badOptions(_ layer: String, _ message: String) throws {
        do {
            _ = try build("    " + layer + "\n")
            Issue.record("expected an error for \(layer)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
