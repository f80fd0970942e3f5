import Apus
import ApusNN
import ApusOptimizers
import ApusTestSupport
import Testing

/// Small seeded problems that a working stack must learn: an MLP, a CNN and an LSTM.
@Suite struct EndToEndTests {
    /// Accuracy of `logits` [N, C] against Int64 `labels` [N].
    func accuracy(_ logits: Tensor, _ labels: Tensor) -> Double {
        logits.argmax(axis: 1).equal(labels).cast(to: .float32).mean().item()
    }

    @Test func mlpLearnsQuadrants() {
        let g = RandomGenerator(seed: 11)
        let x = Tensor.uniform([256, 2], low: -1, high: 1, generator: g)
        let labels = (x[.all, 0] * x[.all, 1] .> 0).cast(to: .int64)          // XOR of the signs
        let model = Sequential(Linear(2, 32, generator: g), ReLU(), Linear(32, 2, generator: g))
        let optimizer = Adam(parameters: model.parameters(), learningRate: 0.03)
        var loss = Tensor(0.0)
        for _ in 0..<150 {
            optimizer.zeroGrad()
            loss = crossEntropy(logits: model(x), labels: labels)
            loss.backward()
            optimizer.step()
        }
        #expect(loss.item() < 0.15)
        #expect(accuracy(model(x), labels) > 0.95)
    }

    @Test func cnnLearnsBarOrientation() {
        let g = RandomGenerator(seed: 12)
        let n = 64
        var images = [Float](repeating: 0, count: n * 64), labels = [Int64](repeating: 0, count: n)
        for i in 0..<n {
            let vertical = i % 2 == 1, position = g.nextInt(below: 8)
            labels[i] = vertical ? 1 : 0
            for k in 0..<8 { images[i * 64 + (vertical ? k * 8 + position : position * 8 + k)] = 1 }
        }
        let x = Tensor(shape: [n, 1, 8, 8], scalars: images) + Tensor.normal([n, 1, 8, 8], std: 0.1, generator: g)
        let y = Tensor(shape: [n], scalars: labels)
        let model = Sequential(Conv2d(1, 4, kernelSize: 3, padding: 1, generator: g), ReLU(), MaxPool2d(2), Flatten(),
                               Linear(64, 2, generator: g))
        let optimizer = Adam(parameters: model.parameters(), learningRate: 0.02)
        var loss = Tensor(0.0)
        for _ in 0..<60 {
            optimizer.zeroGrad()
            loss = crossEntropy(logits: model(x), labels: y)
            loss.backward()
            optimizer.step()
        }
        #expect(loss.item() < 0.1)
        #expect(accuracy(model(x), y) == 1)
    }

    @Test func lstmLearnsToSumASequence() {
        let g = RandomGenerator(seed: 13)
        final class Summer: Module {
            let lstm: LSTM, head: Linear
            init(_ g: RandomGenerator) {
                lstm = LSTM(inputSize: 1, hiddenSize: 16, batchFirst: true, generator: g)
                head = Linear(16, 1, generator: g)
            }
            func callAsFunction(_ x: Tensor) -> Tensor { head(lstm(x).state.h[0]).squeezed(axis: 1) }
        }
        let model = Summer(g)
        let optimizer = Adam(parameters: model.parameters(), learningRate: 0.02)
        for _ in 0..<800 {
            let x = Tensor.uniform([32, 6, 1], generator: g)
            optimizer.zeroGrad()
            mse(model(x), x.sum(axes: [1, 2])).backward()
            optimizer.step()
        }
        let test = Tensor.uniform([200, 6, 1], generator: g)
        let error = (withoutGrad { model(test) } - test.sum(axes: [1, 2])).abs()
        let withinTolerance = (error .< 0.25).cast(to: .float32).mean().item()
        #expect(withinTolerance > 0.9, "fraction within 0.25 of the true sum: \(withinTolerance)")
    }
}
