// A custom layer and a custom loss written with low-level ops, trained with `fit`.
//
//   swift run -c release custom-layer
//
// The layer is a gated residual block; the loss is a focal loss. Neither needs a gradient
// written by hand: both compose Apus ops, so autodiff (and graph tracing) handle them.
import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

/// y = x + σ(x·Wg + bg) ⊙ tanh(x·Wh + bh): a learned gate on a residual update. [B, F] → [B, F].
final class GatedResidual: Module, UnaryLayer {
    @Parameter var gateWeight: Tensor
    @Parameter var updateWeight: Tensor
    @Parameter var gateBias: Tensor
    @Parameter var updateBias: Tensor

    init(features: Int) {
        gateWeight = Initializer.xavierUniform(gain: 1).make([features, features])
        updateWeight = Initializer.xavierUniform(gain: 1).make([features, features])
        gateBias = Tensor.full([features], -1)    // start mostly closed
        updateBias = Tensor.zeros([features])
    }

    func forward(_ x: Tensor) -> Tensor {
        let gate = (x.matmul(gateWeight) + gateBias).sigmoid()
        return x + gate * (x.matmul(updateWeight) + updateBias).tanh()
    }
}

/// Focal loss (Lin et al.): cross-entropy that down-weights easy examples by (1 − p)^γ.
func focalLoss(gamma: Double) -> Loss {
    Loss(name: "focal") { logits, labels in
        let logProbabilities = logits.logSoftmax(axis: 1).gathered(axis: 1, index: labels.cast(to: .int64).unsqueezed(axis: 1))
        let p = logProbabilities.exp()
        return (-(1 - p).pow(gamma) * logProbabilities).mean()
    }
}

// Two interleaved spirals: a problem a linear model cannot solve.
Random.seed(1)
let n = 512
var points: [Float] = [], labels: [Int64] = []
for i in 0..<n {
    let label = i % 2, t = Double(i / 2) / Double(n / 2) * 3 * Double.pi
    let radius = 0.2 + t / (3 * Double.pi)
    let angle = t + Double(label) * Double.pi
    points += [Float(radius * Foundation.cos(angle)), Float(radius * Foundation.sin(angle))]
    labels.append(Int64(label))
}
let data = TensorDataset(["point": Tensor(shape: [n, 2], scalars: points) + Tensor.normal([n, 2], std: 0.02),
                          "label": Tensor(shape: [n], scalars: labels)])

let input = Input("point", shape: [2])
let features = GatedResidual(features: 32)(GatedResidual(features: 32)(Tanh()(Linear(2, 32)(input))))
let model = try Model(inputs: [input], outputs: [Linear(32, 2)(features)], name: "spirals")
print(model.summary())
let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.01),
                      loss: focalLoss(gamma: 2), metrics: [Accuracy()], target: "label")
do {
    let history = try trainer.fit(DataLoader(data, batchSize: 64, shuffle: true, seed: 0, workers: 0), epochs: 60)
    print(String(format: "training accuracy: %.1f %%", history.values["accuracy"]!.last! * 100))
} catch {
    FileHandle.standardError.write("custom-layer: \(error)\n".data(using: .utf8)!)
    exit(1)
}
