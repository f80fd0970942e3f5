import Apus
import ApusNN
import ApusOptimizers
import Foundation

final class MLP: Module {
    let hidden = Linear(784, 128), output = Linear(128, 10)
    func callAsFunction(_ x: Tensor) -> Tensor { output(hidden(x).relu()) }
}
let model = MLP()
let optimizer = Adam(parameters: model.parameters(), learningRate: 1e-3)
let images = Tensor.uniform([64, 784]), labels = Tensor(Array(repeating: 3, count: 64))
for _ in 0..<10 {
    let loss = crossEntropy(logits: model(images), labels: labels)
    optimizer.zeroGrad(); loss.backward(); optimizer.step()
}
try model.save(to: URL(fileURLWithPath: "mlp.safetensors"))     // readable by Python's safetensors
