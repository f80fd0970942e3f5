import Apus
import ApusNN
import Foundation

/// A small module with parameters and buffers (Float32 and Int64) to load checkpoints into.
func fuzzModule() -> Module { Sequential(Linear(3, 2, generator: RandomGenerator(seed: 1)), BatchNorm1d(2)) }

/// The module every input loads into (a load that fits replaces values of the same shapes only).
let loadingModule = fuzzModule()

/// `SafeTensors.decode`, then `loadStateDict` into a small module, as `Module.load(from:)` does
/// (the tensors of a file made for another model are refused there, which is fine).
let safeTensorsTarget = FuzzTarget(name: "safetensors", run: { data in
    let (tensors, _) = try SafeTensors.decode(data, source: "fuzz")
    do { try loadingModule.loadStateDict(tensors, source: "fuzz") } catch is CheckpointError {}
}, seeds: {
    var seeds = [
        "module.safetensors": try SafeTensors.encode(fuzzModule().stateDict(), metadata: ["epoch": "1"]),
        "dtypes.safetensors": try SafeTensors.encode([
            "f64": Tensor(shape: [2], scalars: [1.5, -2.0]), "i32": Tensor(shape: [1, 2], scalars: [Int32(7), -1]),
            "i64": Tensor(shape: [], scalars: [Int64(1) << 40]), "bool": Tensor(shape: [3], scalars: [true, false, true]),
            "empty": Tensor(shape: [0, 4], scalars: [Float]()),
        ]),
    ]
    if let python = FileManager.default.contents(atPath: "Tests/ApusNNTests/Fixtures/python.safetensors") {
        seeds["python.safetensors"] = python
    }
    return seeds
})
