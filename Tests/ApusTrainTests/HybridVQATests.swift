import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTestSupport
import ApusTrain
import Testing

/// The whole reference VQA model (conv + pool + LSTM + merge) hybridized against eager.
@Suite struct HybridVQATests {
    func batch(size: Int, image: Int, seed: UInt64) -> Example {
        let g = RandomGenerator(seed: seed)
        return ["image": Tensor.uniform([size, 3, image, image], generator: g),
                "question": Tensor(shape: [size, 12], scalars: (0..<size * 12).map { Int64(($0 * 5 + Int(seed)) % 30) }),
                "answer": Tensor(shape: [size], scalars: (0..<size).map { Int64($0 % 5) })]
    }

    func model(_ image: Int) throws -> Model {
        try ReferenceModels.visualQuestionAnswering(vocabularySize: 30, answers: 5, imageSize: image, generator: RandomGenerator(seed: 1))
    }

    /// |a − b| ≤ 1e-5 · max |b| element by element.
    func expectMatch(_ a: Tensor, _ b: Tensor, _ what: String) {
        let x = a.scalars(as: Double.self), y = b.scalars(as: Double.self)
        let scale = Swift.max(1e-6, y.map(Swift.abs).max() ?? 0)
        #expect(x.count == y.count)
        if let i = x.indices.first(where: { Swift.abs(x[$0] - y[$0]) > 1e-5 * scale }) {
            Issue.record("\(what): element \(i) hybridized \(x[i]) vs eager \(y[i])")
        }
    }

    @Test func forwardAndGradientsMatchOnSeveralShapes() throws {
        for (size, image) in [(2, 16), (3, 24)] {
            let eager = try model(image), hybrid = try model(image)
            try! hybrid.hybridize()
            let b = batch(size: size, image: image, seed: UInt64(size))
            let le = crossEntropy(logits: eager(b)[0], labels: b["answer"]!)
            let lh = crossEntropy(logits: hybrid(b)[0], labels: b["answer"]!)
            expectMatch(lh, le, "loss \(size)×\(image)")
            let ge = gradients(of: le, wrt: eager.parameters().map(\.value))
            let gh = gradients(of: lh, wrt: hybrid.parameters().map(\.value))
            for ((name, _), (a, b)) in zip(eager.namedParameters(), zip(gh, ge)) { expectMatch(a, b, "gradient of \(name)") }
        }
    }

    @Test func tenTrainingStepsMatch() throws {
        for (size, image) in [(4, 16), (2, 24)] {
            func train(hybridize: Bool) throws -> (Model, [Double]) {
                let m = try model(image)
                let trainer = Trainer(m, optimizer: Adam(parameters: m.parameters(), learningRate: 1e-3), loss: .crossEntropy, target: "answer")
                trainer.hybridize = hybridize
                let losses = try (0..<10).map { step in try trainer.trainStep(batch(size: size, image: image, seed: UInt64(step % 3)))["loss"]! }
                return (m, losses)
            }
            let (eager, eagerLosses) = try train(hybridize: false), (hybrid, hybridLosses) = try train(hybridize: true)
            expectMatch(Tensor(hybridLosses), Tensor(eagerLosses), "losses")
            for ((name, a), (_, b)) in zip(hybrid.namedParameters(), eager.namedParameters()) { expectMatch(a.value, b.value, "\(name) after 10 steps") }
        }
    }

    @Test func theStepGraphIsFusedAndPlanned() throws {
        let m = try model(16)
        let step = CompiledTrainingStep(module: m, optimizer: Adam(parameters: m.parameters())) { xs in
            [crossEntropy(logits: m(["image": xs[0], "question": xs[1]])[0], labels: xs[2])]
        }
        let b = batch(size: 4, image: 16, seed: 0), inputs = [b["image"]!, b["question"]!, b["answer"]!]
        let graph = try step.graph(for: inputs.map(\.spec))
        let names = graph.nodes.map(\.op.name)
        #expect(names.filter { $0 == "conv2dBiasReLUMaxPool" }.count == 3)   // convolution, ReLU and pooling in one op
        // Each convolution's backward pass is one op that expands the pooling's scatter per image
        // (the first layer's input needs no gradient: only its weight gradient).
        #expect(!names.contains { $0.hasPrefix("maxPool2dScatter") })
        #expect(names.filter { $0 == "conv2dBackwardFromPool" }.count == 2 && names.filter { $0 == "conv2dWeightGradFromPool" }.count == 1)   // each pool follows a ReLU convolution
        #expect(!names.contains("maxPool2dGrad"))
        #expect(names.contains { $0.hasPrefix("fused(") })
        #expect(names.last == "optimizerStep")
        // The step allocates nothing per op beyond its arena, which is far smaller than every intermediate at once.
        let arena = try step.arenaBytes(for: inputs.map(\.spec))
        let everything = graph.nodes.flatMap(\.outputs).reduce(0) { $0 + graph.values[$1].count * graph.values[$1].dtype.byteSize }
        #expect(arena > 0 && arena < everything / 2, "arena \(arena) of \(everything)")
        _ = try step(inputs)
        _ = try step(inputs)
        #expect(step.traceCount == 1)
    }
}
