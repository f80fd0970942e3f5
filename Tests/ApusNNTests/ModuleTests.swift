import Apus
import ApusNN
import ApusTestSupport
import Testing

final class Encoder: Module {
    let embedding = Embedding(20, 4, generator: RandomGenerator(seed: 1))
    let lstm = LSTM(inputSize: 4, hiddenSize: 5, batchFirst: true, generator: RandomGenerator(seed: 2))
}

final class TwoTowers: Module {
    let encoder = Encoder()
    let heads = [Linear(5, 2, generator: RandomGenerator(seed: 3)), Linear(5, 3, bias: false, generator: RandomGenerator(seed: 4))]
    let norm = BatchNorm1d(5)
}

@Suite struct ModuleTests {
    @Test func parametersAreNamedByPath() {
        let model = TwoTowers()
        let names = model.namedParameters().map(\.0)
        #expect(names == ["encoder.embedding.weight", "encoder.lstm.cells.0.weightIH", "encoder.lstm.cells.0.weightHH",
                          "encoder.lstm.cells.0.biasIH", "encoder.lstm.cells.0.biasHH", "heads.0.weight", "heads.0.bias",
                          "heads.1.weight", "norm.weight", "norm.bias"])
        #expect(model.namedBuffers().map(\.0) == ["norm.runningMean", "norm.runningVar"])
        #expect(model.parameterCount == 20 * 4 + (20 * 4 + 20 * 5 + 20 + 20) + (10 + 2) + 15 + 10)
        #expect(model.namedModules().count == 8)   // itself, encoder, embedding, lstm, its cell, 2 heads, norm
    }

    @Test func trainEvalFreezeAndZeroGrad() {
        let model = TwoTowers()
        model.eval()
        #expect(model.namedModules().allSatisfy { !$0.1.isTraining })
        model.train()
        #expect(model.norm.isTraining)
        model.encoder.freeze()
        #expect(model.trainableParameters().count == 5)
        #expect(!model.encoder.embedding.weight.requiresGrad)
        model.unfreeze()
        #expect(model.trainableParameters().count == 10)
        let x = Tensor.normal([3, 5])
        model.heads[0](x).sum().backward()
        #expect(model.heads[0].$weight.grad != nil)
        model.zeroGrad()
        #expect(model.heads[0].$weight.grad == nil)
    }

    @Test func reusingAModuleSharesWeightsAndSumsGradients() {
        let shared = Linear(3, 3, bias: false, generator: RandomGenerator(seed: 9))
        shared.weight = Tensor([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]], dtype: .float64)
        final class Twice: Module {
            let layer: Linear
            init(_ layer: Linear) { self.layer = layer }
            func callAsFunction(_ x: Tensor) -> Tensor { layer(layer(x)) }
        }
        let model = Twice(shared)
        #expect(model.parameters().count == 1)
        let x = Tensor([[1.0, 1.0, 1.0]], dtype: .float64)
        model(x).sum().backward()
        // L = 1ᵀ·W·W·x: dL/dW = 1·(Wx)ᵀ + (Wᵀ1)·xᵀ, one term per use; with x = 1, W = diag(1, 2, 3):
        // row i = [1, 2, 3] + W_ii.
        expectClose(shared.weight.grad!, [2, 3, 4, 3, 4, 5, 4, 5, 6])
    }

    @Test func initializersFollowTheirDefinitions() {
        let g = RandomGenerator(seed: 5)
        let w = Initializer.kaimingUniform(a: 5.0.squareRoot()).make([64, 100], generator: g)
        #expect(w.abs().max().item() <= 0.1 + 1e-7)
        let x = Initializer.xavierNormal(gain: 1).make([200, 300], dtype: .float64, generator: g)
        #expect(Swift.abs(x.variance().item() - 2.0 / 500) < 2e-4)
        let q = Initializer.orthogonal(gain: 1).make([4, 6], dtype: .float64, generator: g)
        expectClose(q.matmul(q.transposed()), Tensor.eye(4).scalars(as: Double.self), tolerance: 1e-10)
        let tall = Initializer.orthogonal(gain: 2).make([6, 3], dtype: .float64, generator: g)
        expectClose(tall.transposed().matmul(tall), (Tensor.eye(3, dtype: .float64) * 4).scalars(as: Double.self), tolerance: 1e-10)
        #expect(Initializer.fans([32, 3, 3, 3]) == (27, 288))
        expectClose(Initializer.zeros.make([2]), [0, 0])
    }
}

@Suite struct LossTests {
    @Test func lossesMatchPyTorch() {
        let c = nn["losses"]!
        let x = c.input("x"), labels = c.input("labels"), targets = c.input("targets"), y2 = c.input("y2"), p = c.input("p")
        let cases: [(String, (Tensor) -> Tensor)] = [
            ("nll", { nllLoss(logProbabilities: $0.logSoftmax(axis: 1), labels: labels) }),
            ("bce_with_logits", { binaryCrossEntropyWithLogits($0, targets, positiveWeight: c.input("pos_weight")) }),
            ("mse", { mse($0, y2) }),
            ("l1", { l1Loss($0, y2) }),
            ("smooth_l1", { smoothL1Loss($0, y2, beta: 1) }),
            ("kl_div", { klDivergence(logInput: $0.logSoftmax(axis: 1), target: p) }),
        ]
        for (name, loss) in cases {
            expectClose(loss(x), c.output(name).data, tolerance: 1e-12)
            expectClose(grad(at: x, of: loss), c.output("grad_x_" + name).data, tolerance: 1e-11)
        }
        expectClose(CrossEntropyLoss()(x, labels), crossEntropy(logits: x, labels: labels).scalars(as: Double.self))
        expectClose(NLLLoss(ignoreIndex: 1)(x.logSoftmax(axis: 1), labels),
                    nllLoss(logProbabilities: x.logSoftmax(axis: 1), labels: labels, ignoreIndex: 1).scalars(as: Double.self))
        expectClose(L1Loss(reduction: .sum)(x, y2), l1Loss(x, y2, reduction: .sum).scalars(as: Double.self))
        #expect(MSELoss(reduction: .none)(x, y2).shape == [4, 3])
        expectClose(KLDivLoss(reduction: .sum)(x.logSoftmax(axis: 1), p), klDivergence(logInput: x.logSoftmax(axis: 1), target: p, reduction: .sum).scalars(as: Double.self))
        expectGradients([x, targets]) { binaryCrossEntropyWithLogits($0[0], $0[1]) }
        expectGradients([x, y2]) { smoothL1Loss($0[0], $0[1], beta: 0.5) }
    }
}
