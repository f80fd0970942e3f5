import Apus
import ApusNN
import ApusOptimizers
import Foundation
import Testing

/// The README's PyTorch-style and low-level snippets, kept compiling and running.
@Suite struct ReadmeTests {
    @Test func pytorchStyleSnippet() throws {
        final class MLP: Module {
            let hidden = Linear(784, 128), output = Linear(128, 10)
            func callAsFunction(_ x: Tensor) -> Tensor { output(hidden(x).relu()) }
        }
        let model = MLP()
        let optimizer = Adam(parameters: model.parameters(), learningRate: 1e-3)
        let images = Tensor.uniform([64, 784]), labels = Tensor(Array(repeating: 3, count: 64))
        var first = 0.0, last = 0.0
        for i in 0..<10 {
            let loss = crossEntropy(logits: model(images), labels: labels)
            if i == 0 { first = loss.item() }
            last = loss.item()
            optimizer.zeroGrad(); loss.backward(); optimizer.step()
        }
        #expect(last < first)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-\(UUID().uuidString).safetensors")
        try model.save(to: url)
        #expect(FileManager.default.fileExists(atPath: url.path))
    }

    @Test func lowLevelSnippet() throws {
        let x = Tensor.normal([32, 784]), w = (Tensor.normal([784, 10]) * 0.01).requiringGrad()
        let (value, gradient) = valueAndGrad(at: Tensor([3.0, 4.0])) { ($0 * $0).sum() }   // 25, [6, 8]
        #expect(value.item() == 25 && gradient.scalars(as: Float.self) == [6, 8])
        let y = withoutGrad { x.matmul(w).softmax(axis: -1) }
        #expect(!y.requiresGrad && y.shape == [32, 10])
        let graph = try Graph.trace([TensorSpec([32, 784])]) { [($0[0].matmul(w)).relu()] }
        #expect(graph.nodes.map(\.op.name) == ["matmul", "relu"])
        let fast = compile { xs in [xs[0].matmul(w).relu()] }
        #expect(fast([x])[0].scalars(as: Float.self) == x.matmul(w).relu().scalars(as: Float.self))
    }
}
