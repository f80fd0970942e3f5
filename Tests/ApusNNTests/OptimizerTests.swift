import Apus
import ApusNN
import ApusOptimizers
import ApusTestSupport
import Foundation
import Testing

/// The fixtures' problem: loss = ((X·w + b − T)²).mean().
final class Affine: Module {
    @Parameter var w: Tensor
    @Parameter var b: Tensor
    init(_ w: Tensor, _ b: Tensor) {
        self.w = w
        self.b = b
    }
    func loss(_ x: Tensor, _ t: Tensor) -> Tensor { mse(x.matmul(w) + b, t) }
}

@Suite struct OptimizerTests {
    let c = nn["optimizers"]!

    func run(_ name: String, _ make: ([Parameter]) -> Optimizer) {
        let model = Affine(c.input("w0"), c.input("b0"))
        let optimizer = make(model.parameters())
        var ws: [Double] = [], bs: [Double] = []
        for _ in 0..<5 {
            optimizer.zeroGrad()
            model.loss(c.input("X"), c.input("T")).backward()
            optimizer.step()
            ws += model.w.scalars(as: Double.self)
            bs += model.b.scalars(as: Double.self)
        }
        expectClose(Tensor(shape: [ws.count], scalars: ws), c.output(name + "_w").data, tolerance: 1e-12)
        expectClose(Tensor(shape: [bs.count], scalars: bs), c.output(name + "_b").data, tolerance: 1e-12)
    }

    @Test func firstFiveStepsMatchPyTorch() {
        run("sgd") { SGD(parameters: $0, learningRate: 0.1) }
        run("sgd_nesterov") { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true) }
        run("sgd_dampening") { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.1) }
        run("adam") { Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
        run("adamw") { AdamW(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
        run("rmsprop") { RMSprop(parameters: $0, learningRate: 0.01) }
        run("rmsprop_centered") { RMSprop(parameters: $0, learningRate: 0.01, weightDecay: 0.01, momentum: 0.5, centered: true) }
        run("adagrad") { Adagrad(parameters: $0, learningRate: 0.1, learningRateDecay: 0.01, weightDecay: 0.01, initialAccumulator: 0.1) }
    }

    @Test func float32UpdatesInPlaceWithoutNewAllocations() {
        let model = Affine(c.input("w0").cast(to: .float32), c.input("b0").cast(to: .float32))
        let optimizer = Adam(parameters: model.parameters(), learningRate: 0.01)
        let x = c.input("X").cast(to: .float32), t = c.input("T").cast(to: .float32)
        func step() {
            optimizer.zeroGrad()
            model.loss(x, t).backward()
            optimizer.step()
        }
        step(); step()
        let before = CachingAllocator.shared.statistics.systemAllocations
        for _ in 0..<5 { step() }
        #expect(CachingAllocator.shared.statistics.systemAllocations == before)
        expectClose(model.w, Tensor(shape: [12], scalars: Array(c.output("adam_w").data.suffix(12))).scalars(as: Double.self), tolerance: 1)  // sanity: finite, nearby
    }

    @Test func schedulesMatchPyTorch() {
        let s = nn["schedules"]!
        func rates(_ make: (Optimizer) -> LearningRateSchedule) -> [Double] {
            let optimizer = SGD(parameters: [], learningRate: 0.1)
            let schedule = make(optimizer)
            return (0..<10).map { _ in defer { schedule.step() }; return optimizer.learningRate }
        }
        expectClose(Tensor(shape: [10], scalars: rates { .step($0, stepSize: 3, gamma: 0.5) }), s.output("step").data, tolerance: 1e-12)
        expectClose(Tensor(shape: [10], scalars: rates { .multiStep($0, milestones: [2, 5], gamma: 0.1) }), s.output("multistep").data, tolerance: 1e-12)
        expectClose(Tensor(shape: [10], scalars: rates { .exponential($0, gamma: 0.9) }), s.output("exponential").data, tolerance: 1e-12)
        let optimizer = SGD(parameters: [], learningRate: 0.1)
        let plateau = ReduceLearningRateOnPlateau(optimizer, factor: 0.5, patience: 1)
        var seen: [Double] = []
        for loss in s.input("plateau_losses").scalars(as: Double.self) {
            seen.append(optimizer.learningRate)
            plateau.step(loss)
        }
        expectClose(Tensor(shape: [10], scalars: seen), s.output("plateau").data, tolerance: 1e-12)
        let cosine = rates { .cosineWithWarmup($0, warmup: 2, total: 6, minimum: 0.01) }
        expectClose(Tensor(shape: [10], scalars: cosine),
                    [0, 0.05, 0.1, 0.01 + 0.09 * 0.5 * (1 + cos(Double.pi / 4)), 0.055, 0.01 + 0.09 * 0.5 * (1 + cos(3 * Double.pi / 4)), 0.01, 0.01, 0.01, 0.01],
                    tolerance: 1e-12)
    }

    @Test func clippingByNormAndValue() {
        let p = Parameter(wrappedValue: Tensor([0.0, 0.0], dtype: .float64))
        p.grad = Tensor([3.0, 4.0], dtype: .float64)
        #expect(Swift.abs(clipGradientNorm([p], maxNorm: 1) - 5) < 1e-12)
        expectClose(p.grad!, [0.6, 0.8], tolerance: 1e-6)
        p.grad = Tensor([3.0, -4.0], dtype: .float64)
        clipGradientValue([p], value: 2)
        expectClose(p.grad!, [2, -2])
    }

    @Test func savedStateResumesExactly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-opt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let x = c.input("X"), t = c.input("T")
        func train(_ model: Affine, _ optimizer: Optimizer, steps: Int) {
            for _ in 0..<steps {
                optimizer.zeroGrad()
                model.loss(x, t).backward()
                optimizer.step()
            }
        }
        let reference = Affine(c.input("w0"), c.input("b0"))
        let referenceOptimizer = Adam(parameters: reference.parameters(), learningRate: 0.01)
        train(reference, referenceOptimizer, steps: 6)

        let first = Affine(c.input("w0"), c.input("b0"))
        let firstOptimizer = Adam(parameters: first.parameters(), learningRate: 0.01)
        train(first, firstOptimizer, steps: 3)
        try first.save(to: folder.appendingPathComponent("model.safetensors"))
        try firstOptimizer.save(to: folder.appendingPathComponent("optimizer.safetensors"))

        let resumed = Affine(c.input("w0") * 0, c.input("b0") * 0)
        try resumed.load(from: folder.appendingPathComponent("model.safetensors"))
        let resumedOptimizer = Adam(parameters: resumed.parameters(), learningRate: 0.5)
        try resumedOptimizer.load(from: folder.appendingPathComponent("optimizer.safetensors"))
        #expect(resumedOptimizer.stepCount == 3 && resumedOptimizer.learningRate == 0.01)
        train(resumed, resumedOptimizer, steps: 3)
        #expect(resumed.w.scalars(as: Double.self) == reference.w.scalars(as: Double.self))
        #expect(resumed.b.scalars(as: Double.self) == reference.b.scalars(as: Double.self))

        let other = Adam(parameters: [Parameter(wrappedValue: Tensor.zeros([2]))])
        #expect(throws: CheckpointError.self) { try other.load(from: folder.appendingPathComponent("optimizer.safetensors")) }
    }
}
