import ApusConfig
import Foundation

/// A run's `state.json` (`Experiment.checkState`), read by `apus train --resume`, `test` and `predict`.
let stateJSONTarget = FuzzTarget(name: "state-json", run: { data in
    try Experiment.checkState(data, source: "fuzz")
}, seeds: {
    ["state.json": Data(#"{"config":"Examples/mnist/mlp.yaml","epoch":3,"model":"epoch-3-model.safetensors","optimizer":"epoch-3-optimizer.safetensors"}"#.utf8)]
})
