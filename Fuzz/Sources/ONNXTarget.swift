import Apus
import ApusExchange
import ApusNN
import Foundation

/// `ONNXModel(serializedData:)`: protobuf decoding, the checks, and one run of the graph on
/// zeros of its input shapes (so every importer op meets hostile attributes and shapes).
let onnxTarget = FuzzTarget(name: "onnx", run: { data in
    _ = try ONNXModel(serializedData: data)
}, seeds: {
    var seeds: [String: Data] = [:]
    for name in ["mlp", "cnn", "lstm", "gru", "transformer"] {
        if let bytes = FileManager.default.contents(atPath: "Tests/ApusExchangeTests/Fixtures/onnx/\(name).onnx") { seeds["\(name).onnx"] = bytes }
    }
    let g = RandomGenerator(seed: 1)
    let net = Sequential(Conv2d(1, 2, kernelSize: 3, padding: 1, generator: g), ReLU(), MaxPool2d(2), Flatten(), Linear(8, 3, generator: g))
    seeds["apus.onnx"] = try ONNXExport.data(ONNXExport.model(of: net, inputs: [ONNXInput("x", [1, 1, 4, 4])]) { [net($0[0])] })
    return seeds
})
