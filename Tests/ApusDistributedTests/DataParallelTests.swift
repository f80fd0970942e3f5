import Apus
@testable import ApusDistributed
import ApusNN
import ApusOptimizers
import ApusTestSupport
import Testing

/// Two Linear layers: [B, 4] → [B, 3] (parameters first.weight [5, 4], first.bias [5],
/// second.weight [3, 5], second.bias [3]).
final class TwoLayers: Module {
    let first: Linear, second: Linear
    init(seed: UInt64) {
        let generator = RandomGenerator(seed: seed)
        first = Linear(4, 5, generator: generator)
        second = Linear(5, 3, generator: generator)
        super.init()
    }
    func callAsFunction(_ x: Tensor) -> Tensor { second(first(x).relu()) }
}

/// DataParallel in a world of one process: the bucket plan, gradients equal to plain backward,
/// and buckets that start while the backward pass still runs.
@Suite struct DataParallelTests {
    let x = Tensor.normal([6, 4], generator: RandomGenerator(seed: 3))
    let labels = Tensor([0, 2, 1, 1, 0, 2])

    @Test func bucketsHoldTrainableParametersInReverseOrder() throws {
        let world = try Communicator.world()
        let model = TwoLayers(seed: 1)
        #expect(try DataParallel(model, communicator: world).bucketNames == [["second.bias", "second.weight", "first.bias", "first.weight"]])
        // 60 bytes: second.weight (60 bytes) fills a bucket; first.weight (80 bytes) is larger than one.
        let small = try DataParallel(model, communicator: world, bucketCapacity: 60)
        #expect(small.bucketNames == [["second.bias"], ["second.weight"], ["first.bias"], ["first.weight"]])
        let medium = try DataParallel(model, communicator: world, bucketCapacity: 100)
        #expect(medium.bucketNames == [["second.bias", "second.weight", "first.bias"], ["first.weight"]])
        model.first.freeze()
        #expect(medium.bucketNames == [["second.bias", "second.weight"]])
        model.first.unfreeze()
        let large = try DataParallel(model, communicator: world, bucketCapacity: 1 << 20)
        #expect(large.bucketNames == [["second.bias", "second.weight", "first.bias", "first.weight"]])
        // Float64 parameters never share a bucket with Float32 ones.
        model.first.$weight.wrappedValue = model.first.weight.cast(to: .float64)
        #expect(large.bucketNames == [["second.bias", "second.weight", "first.bias"], ["first.weight"]])
    }

    @Test func averagedGradientsEqualPlainBackwardInOneProcess() throws {
        let world = try Communicator.world()
        let model = TwoLayers(seed: 1), plain = TwoLayers(seed: 1)
        let parallel = try DataParallel(model, communicator: world, bucketCapacity: 64)
        crossEntropy(logits: plain(x), labels: labels).backward()
        try parallel.backward(crossEntropy(logits: model(x), labels: labels))
        for (p, q) in zip(model.parameters(), plain.parameters()) { expectClose(p.grad!, q.grad!.scalars(as: Double.self), tolerance: 0) }
        model.zeroGrad()
        crossEntropy(logits: model(x), labels: labels).backward()
        try parallel.averageGradients()
        for (p, q) in zip(model.parameters(), plain.parameters()) { expectClose(p.grad!, q.grad!.scalars(as: Double.self), tolerance: 0) }
        // A parameter that got no gradient gets zeros; SGD then steps as usual.
        model.zeroGrad()
        try parallel.backward(crossEntropy(logits: model.second(x.matmul(Tensor.ones([4, 5]))), labels: labels))
        expectClose(model.first.weight.grad!, Array(repeating: 0, count: 20), tolerance: 0)
        SGD(parameters: model.parameters(), learningRate: 0.1).step()
    }

    @Test func bucketsStartWhileBackwardRuns() throws {
        let world = try Communicator.world()
        let model = TwoLayers(seed: 2)
        let parameters = model.parameters()
        let exchange = GradientExchange(communicator: world, parameters: parameters,
                                        buckets: GradientBucket.plan(parameters, capacity: 60))
        // Per report: buckets started so far, and whether first.weight (the last gradient) exists yet.
        var log: [(started: Int, firstWeightDone: Bool)] = []
        watchingGradients(of: exchange.watchedValues, { i in
            exchange.ready(i)
            log.append((exchange.started, model.first.weight.grad != nil))
        }) {
            crossEntropy(logits: model(x), labels: labels).backward()
        }
        #expect(log.count == 4 && exchange.started == 4)
        #expect(log[0].started >= 1 && !log[0].firstWeightDone)     // the first bucket left before the last gradient was made
        try exchange.finish()
        #expect(parameters.allSatisfy { $0.grad != nil })
    }
}
