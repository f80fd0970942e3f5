import Apus
import ApusNN
import ApusOptimizers
import ApusTrain
import Testing

/// The breadth benchmark's four workloads, small: ten training steps in graph mode (one compiled
/// step: forward, loss, gradients, clipping, update) match ten eager steps from the same start —
/// every loss, then every parameter and buffer (BatchNorm's running statistics).
@Suite struct BreadthModelTests {
    /// |a − b| ≤ tolerance · max(|b|) over the tensor.
    private func close(_ a: Tensor, _ b: Tensor, _ tolerance: Double, _ what: String) {
        let x = a.scalars(as: Double.self), y = b.scalars(as: Double.self)
        let scale = Swift.max(1e-6, y.map(Swift.abs).max() ?? 0)
        let worst = zip(x, y).map { Swift.abs($0 - $1) }.max() ?? 0
        #expect(a.shape == b.shape && worst <= tolerance * scale, "\(what): largest difference \(worst), scale \(scale)")
    }

    private func expectGraphMatchesEager(_ make: () -> Module, optimizer: ([Parameter]) -> Optimizer, clipping: GradientClipping? = nil,
                                         batch: [Tensor], tolerance: Double = 1e-4, _ loss: @escaping (Module, [Tensor]) -> Tensor) throws {
        let eager = make(), graph = make()
        let eagerOptimizer = optimizer(eager.parameters())
        let step = CompiledTrainingStep(module: graph, optimizer: optimizer(graph.parameters()), clipping: clipping) { [loss(graph, $0)] }
        for n in 0..<10 {
            eagerOptimizer.zeroGrad()
            let value = loss(eager, batch)
            value.backward()
            clipping?.clip(eager.parameters())
            eagerOptimizer.step()
            let compiled = try step(batch)[0].item()
            #expect(Swift.abs(compiled - value.item()) <= tolerance * Swift.max(1, Swift.abs(value.item())),
                    "\(type(of: eager)) step \(n): graph loss \(compiled), eager \(value.item())")
        }
        #expect(step.traceCount == 1)
        for ((path, a), (_, b)) in zip(graph.namedParameters(), eager.namedParameters()) { close(a.value, b.value, 10 * tolerance, path) }
        for ((path, a), (_, b)) in zip(graph.namedBuffers(), eager.namedBuffers()) { close(a.value, b.value, 10 * tolerance, path) }
    }

    private func ids(_ shape: [Int], below bound: Int, seed: UInt64) -> Tensor {
        let g = RandomGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int64(g.nextInt(below: bound)) })
    }

    @Test func resNet() throws {
        let images = Tensor.uniform([4, 3, 16, 16], generator: RandomGenerator(seed: 1))
        try expectGraphMatchesEager({ ResNet18(classes: 5, width: 4, generator: RandomGenerator(seed: 2)) },
                                    optimizer: { SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4) },
                                    batch: [images, ids([4], below: 5, seed: 3)]) { net, b in
            crossEntropy(logits: (net as! ResNet18)(b[0]), labels: b[1])
        }
    }

    @Test func transformerLanguageModelWithDropout() throws {
        try expectGraphMatchesEager({
            TransformerLanguageModel(vocabulary: 30, maxLength: 8, modelWidth: 16, heads: 2, feedForward: 32, layers: 2, dropout: 0.1,
                                     generator: RandomGenerator(seed: 4))
        }, optimizer: { AdamW(parameters: $0, learningRate: 1e-3) }, batch: [ids([3, 8], below: 30, seed: 5), ids([3, 8], below: 30, seed: 6)]) { net, b in
            crossEntropy(logits: (net as! TransformerLanguageModel)(b[0]).reshaped([-1, 30]), labels: b[1].reshaped([-1]))
        }
    }

    /// A sequence longer than the learned positions is a catchable shape error, not a crash.
    @Test func transformerLanguageModelRejectsTooLongSequences() {
        let lm = TransformerLanguageModel(vocabulary: 30, maxLength: 8, modelWidth: 16, heads: 2, feedForward: 32, layers: 1)
        #expect(throws: ShapeError.self) { try Tensor.checking { lm(ids([2, 9], below: 30, seed: 1)) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { lm(ids([18], below: 30, seed: 1)) } }
    }

    @Test func multilayerPerceptron() throws {
        let g = RandomGenerator(seed: 7)
        let x = Tensor.uniform([16, 20], generator: g)
        try expectGraphMatchesEager({
            let g = RandomGenerator(seed: 8)
            return Sequential(Linear(20, 32, generator: g), ReLU(), Linear(32, 32, generator: g), ReLU(), Linear(32, 4, generator: g))
        }, optimizer: { Adam(parameters: $0, learningRate: 1e-3) }, batch: [x, ids([16], below: 4, seed: 9)]) { net, b in
            crossEntropy(logits: (net as! Sequential)(b[0]), labels: b[1])
        }
    }

    @Test func lstmLanguageModelWithClipping() throws {
        try expectGraphMatchesEager({ LSTMLanguageModel(vocabulary: 40, width: 12, layers: 2, generator: RandomGenerator(seed: 10)) },
                                    optimizer: { SGD(parameters: $0, learningRate: 1) }, clipping: .norm(0.25),
                                    batch: [ids([6, 3], below: 40, seed: 11), ids([6, 3], below: 40, seed: 12)]) { net, b in
            crossEntropy(logits: (net as! LSTMLanguageModel)(b[0]).reshaped([-1, 40]), labels: b[1].reshaped([-1]))
        }
    }
}
