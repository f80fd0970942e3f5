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

    /// Absurd sizes are configuration errors before anything is allocated or any shape
    /// arithmetic overflows (fuzzing found each of these allocating terabytes or trapping).
    @Test(arguments: [
        ("- {type: linear, out_features: 2000000000}", "out_features: must be at most 16777216, got 2000000000"),
        ("- {type: flatten}\n    - {type: linear, out_features: 16777216}", "this layer's 1224736768 parameters would take the model past the limit of 268435456"),
        ("- {type: conv2d, out_channels: 16777216, kernel_size: 64}", "this layer's 137455730688 parameters would take the model past"),
        ("- {type: conv2d, out_channels: 1, kernel_size: 1, padding: 4611686018427387904}", "must be at most 16777216"),
        ("- {type: conv2d, out_channels: 1048576, kernel_size: 1, padding: 16777216}", "an output that fits in memory, not [2, 1048576, 33554438, 33554438]"),
        ("- {name: a, type: relu}\n    - {type: concatenate, inputs: [a, image], axis: 9223372036854775807}", "axis: must be at most 16777216"),
    ])
    func absurdSizes(_ layers: String, _ message: String) throws {
        do {
            _ = try build("    " + layers + "\n")
            Issue.record("expected an error for \(layers)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    /// A GRU unrolls one step at a time: fuzzing found one over 88885 steps taking seconds to build.
    @Test func recurrentLayersThatUnrollTooFarAreRefused() throws {
        func build(_ input: String, _ layer: String) throws -> Model {
            let yaml = "model:\n  inputs: {x: \(input)}\n  layers: [\(layer)]\n"
            return try ModelBuilder.build(try ConfigNode.parse(yaml, file: "m.yaml").node("model"), facts: DataFacts(), generator: RandomGenerator(seed: 1))
        }
        #expect(throws: ConfigError(file: "m.yaml", location: "model.layers[0]",
                                    message: "gru of 10000 steps × 1 layers × 2 directions runs its cell 20000 times, more than 16384 (an lstm runs a whole sequence at once)")) {
            try build("[10000, 1]", "{type: gru, hidden_size: 1, bidirectional: true}")
        }
        #expect(throws: ConfigError(file: "m.yaml", location: "model.layers[0]",
                                    message: "lstm of 20000 layers × 1 directions runs its cell 20000 times, more than 16384")) {
            try build("[10000, 1]", "{type: lstm, hidden_size: 1, num_layers: 20000}")
        }
        #expect(try build("[10000, 1]", "{type: lstm, hidden_size: 1, bidirectional: true}").outputs[0].shape == [2])
    }

    @Test func absurdInputsAreRefused() throws {
        let yaml = "model:\n  inputs: {x: [16777216, 16777216]}\n  layers: [{type: relu}]\n"
        #expect(throws: ConfigError(file: "m.yaml", location: "model.inputs.x", message: "an input of shape [16777216, 16777216] holds more than 268435456 values per example")) {
            try ModelBuilder.build(try ConfigNode.parse(yaml, file: "m.yaml").node("model"), facts: DataFacts(), generator: RandomGenerator(seed: 1))
        }
    }
}
