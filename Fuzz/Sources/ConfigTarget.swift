import Apus
import ApusConfig
import Foundation

/// A configuration file: `ConfigNode.parse` (YAML), the top-level keys, then `ModelBuilder.build`
/// on the `model` section (building and shape-checking every layer), as `Experiment` does before
/// it touches the data files. The model's budget is 2^20 values instead of 2^28, so that no
/// input spends long drawing weights; the checks are the same.
let configTarget = FuzzTarget(name: "config", run: { data in
    guard let text = String(data: data, encoding: .utf8) else { return }   // ConfigNode.load refuses non-UTF-8 text
    let root = try ConfigNode.parse(text, file: "fuzz.yaml")
    try root.checkKeys(["data", "model", "loss", "metrics", "solver"])
    _ = try ModelBuilder.build(try root.node("model"), facts: DataFacts(classes: 4, vocabularySize: 16),
                               generator: RandomGenerator(seed: 1), maximumValues: 1 << 20)
}, seeds: {
    var seeds: [String: Data] = [:]
    for path in ["Examples/mnist/mlp.yaml", "Examples/mnist/lenet.yaml", "Examples/text/char-lstm.yaml", "Examples/easy-vqa/vqa.yaml"] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CocoaError(.fileReadNoSuchFile) }
        // (easy-VQA's images shrunk to 16 × 16, within the budget above)
        seeds[URL(fileURLWithPath: path).lastPathComponent] = Data(text.replacingOccurrences(of: "[3, 64, 64]", with: "[3, 16, 16]").utf8)
    }
    seeds["layers.yaml"] = Data("""
        model:
          inputs: {image: [2, 6, 6], ids: {shape: [5], dtype: int64}}
          layers:
            - {name: conv, type: conv2d, input: image, out_channels: 3, kernel_size: 3, padding: same, activation: tanh}
            - {type: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
            - {type: avgpool2d, kernel_size: 2, padding: 1, count_include_pad: false}
            - {type: batchnorm2d}
            - {type: flatten}
            - {name: image_features, type: linear, out_features: 8, activation: gelu}
            - {name: embed, type: embedding, input: ids, features: 4, padding_index: 0}
            - {type: gru, hidden_size: 8, bidirectional: true}
            - {type: layernorm}
            - {type: dropout, p: 0.25}
            - {name: text_features, type: linear, out_features: 8}
            - {name: both, type: concatenate, inputs: [image_features, text_features]}
            - {type: leaky_relu, negative_slope: 0.1}
            - {type: linear, out_features: classes}
            - {type: softmax, axis: -1}
          output: softmax_14
        loss: cross_entropy
        solver: {optimizer: sgd, momentum: 0.9, epochs: 2}

        """.utf8)
    return seeds
})
