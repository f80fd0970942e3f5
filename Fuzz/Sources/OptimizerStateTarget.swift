import Apus
import ApusNN
import ApusOptimizers
import Foundation

/// Each optimizer over a small module's parameters.
func fuzzOptimizers() -> [(name: String, optimizer: Optimizer)] {
    let parameters = fuzzModule().parameters()
    return [("adam", Adam(parameters: parameters)), ("adamw", AdamW(parameters: parameters)),
            ("sgd", SGD(parameters: parameters, learningRate: 0.1, momentum: 0.9)), ("rmsprop", RMSprop(parameters: parameters)),
            ("adagrad", Adagrad(parameters: parameters))]
}

/// The optimizers every input loads into (a load replaces all their per-parameter state).
let loadingOptimizers = fuzzOptimizers().map(\.optimizer)

/// `Optimizer.load(from: Data)` into one of the optimizers, chosen by the input's length.
let optimizerStateTarget = FuzzTarget(name: "optimizer-state", run: { data in
    try loadingOptimizers[data.count % loadingOptimizers.count].load(from: data, source: "fuzz")
}, seeds: {
    var seeds: [String: Data] = [:]
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("apus-fuzz-optimizer-\(getpid()).safetensors")
    defer { try? FileManager.default.removeItem(at: file) }
    for (name, optimizer) in fuzzOptimizers() {
        for parameter in optimizer.parameters { parameter.grad = Tensor.ones(parameter.value.shape) }
        optimizer.step()
        try optimizer.save(to: file)
        seeds["\(name).safetensors"] = try Data(contentsOf: file)
    }
    return seeds
})
