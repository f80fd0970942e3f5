import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation
import Testing

/// The parameters' values, to check that a failed step changed nothing.
private func snapshot(_ module: Module) -> [[Float]] { module.parameters().map { $0.value.scalars(as: Float.self) } }

/// A data set whose example `bad` cannot be read (as a truncated PNG would be).
private struct OneBadExample: Dataset {
    let base: TensorDataset
    let bad: Int
    var count: Int { base.count }
    func example(_ index: Int) throws -> Example {
        if index == bad { throw DataError("images/\(index).png", "truncated PNG") }
        return try base.example(index)
    }
}

/// A data set that records that it was read (to show validation did not run).
private final class Watched: Dataset, @unchecked Sendable {
    let base: TensorDataset
    var reads = 0
    init(_ base: TensorDataset) { self.base = base }
    var count: Int { base.count }
    func example(_ index: Int) throws -> Example {
        reads += 1
        return try base.example(index)
    }
}

/// Every mistake a user's data or code can make reaches them as a thrown, typed error through
/// the throwing APIs, and a failed step changes no weight.
@Suite struct MistakeTests {
    @Test func labelsAndIndicesOutOfRangeThrowInsideChecking() throws {
        let logits = Tensor.zeros([2, 5]), labels = Tensor(shape: [2], scalars: [Int64(1), 7])
        #expect(throws: IndexError(op: "crossEntropy", kind: "label", value: 7, bound: 5)) {
            try Tensor.checking { crossEntropy(logits: logits, labels: labels) }
        }
        let error = try #require(throws: IndexError.self) { try Tensor.checking { crossEntropy(logits: logits, labels: labels).item() } }
        #expect(error.description == "crossEntropy: label 7 is out of range for 5 classes (0..<5)")
        let embedding = Embedding(10, 4)
        #expect(throws: IndexError(op: "indexSelect", value: 12, bound: 10)) {
            try Tensor.checking { embedding(Tensor(shape: [1, 2], scalars: [Int64(3), 12])) }
        }
        #expect(throws: IndexError.self) { try Tensor.checking { Tensor.zeros([3]).gathered(axis: 0, index: Tensor([Int64(-1)])) } }
        #expect(throws: IndexError(op: "subscript", value: 5, bound: 2)) { try Tensor.checking { Tensor.zeros([2, 3])[5] } }
        #expect(throws: ShapeError.self) { try Tensor.checking { Tensor.zeros([2, 3]).squeezed(axis: 4).split(count: 2, axis: 7) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { Tensor.zeros([2, 3])[0, 1, 2] } }
        // The checks cost nothing when the indices are fine.
        #expect(try Tensor.checking { crossEntropy(logits: logits, labels: Tensor([Int64(0), 4])).item() } > 0)
    }

    @Test func compiledGraphsStopAtABadIndex() throws {
        let table = Tensor.uniform([4, 3])
        let lookup = compile { xs in [table.indexSelect(axis: 0, index: xs[0]).sum()] }
        #expect(try lookup.run([Tensor([Int64(0), 3])])[0].item() > 0)
        #expect(throws: IndexError(op: "indexSelect", value: 4, bound: 4)) { try lookup.run([Tensor([Int64(0), 4])]) }
        // Called as a function, the error goes to the enclosing `checking` like an eager op's.
        #expect(throws: IndexError.self) { try Tensor.checking { lookup([Tensor([Int64(9), 0])])[0].item() } }
    }

    @Test func functionalWiringErrorsAreThrownByModel() throws {
        let x = Input("x", shape: [1, 8, 8])
        let flat = Flatten()(x)                                   // 64 features
        let wrong = Linear(100, 10)(flat)
        #expect(wrong.failure != nil && wrong.shape == [])
        let output = Linear(10, 2)(ReLU()(wrong))                 // failures flow downstream
        let error = try #require(throws: ShapeError.self) { try Model(inputs: [x], outputs: [output]) }
        #expect(error.description.contains("Linear(100 → 10)") && error.description.contains("[B, 64]"), "\(error)")
        let other = Input("y", shape: [64])
        #expect(throws: TrainingError.self) { try Model(inputs: [x], outputs: [Linear(64, 2)(other)]) }
    }

    @Test(arguments: [false, true]) func fitThrowsBeforeUpdatingOnABadBatch(hybridize: Bool) throws {
        let model = try classifier(4)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters()), loss: .crossEntropy, target: "label")
        (trainer.verbose, trainer.hybridize) = (false, hybridize)
        let before = snapshot(model)
        let base = blobs(8, seed: 1)
        let badLabels = TensorDataset(["x": base.tensors["x"]!, "label": Tensor(shape: [8], scalars: (0..<8).map { Int64($0 == 5 ? 7 : $0 % 2) })])
        #expect(throws: IndexError(op: "crossEntropy", kind: "label", value: 7, bound: 2)) {
            try trainer.fit(DataLoader(badLabels, batchSize: 8, workers: 0), epochs: 1)
        }
        #expect(snapshot(model) == before)
        let wrongKey = TensorDataset(["pixels": base.tensors["x"]!, "label": base.tensors["label"]!])
        let missing = try #require(throws: ShapeError.self) { try trainer.fit(DataLoader(wrongKey, batchSize: 8, workers: 0), epochs: 1) }
        #expect(missing.description.contains("input 'x'") && missing.description.contains("pixels"), "\(missing)")
        let wrongShape = TensorDataset(["x": Tensor.zeros([8, 3]), "label": base.tensors["label"]!])
        #expect(throws: ShapeError.self) { try trainer.fit(DataLoader(wrongShape, batchSize: 8, workers: 0), epochs: 1) }
        #expect(snapshot(model) == before)
        #expect(throws: IndexError.self) { try trainer.evaluate(DataLoader(badLabels, batchSize: 4, workers: 0)) }
        #expect(throws: ShapeError.self) { try trainer.predict(DataLoader(wrongKey, batchSize: 4, workers: 0)) }
        // The trainer is still usable after the errors.
        try trainer.fit(DataLoader(base, batchSize: 8, workers: 0), epochs: 1)
        #expect(snapshot(model) != before)
    }

    @Test func layerArgumentChecksAreThrownThroughFit() throws {
        let norm = LayerNorm([5]), lstm = LSTM(inputSize: 3, hiddenSize: 4, batchFirst: true)
        for (module, forward) in [(norm as Module, { (b: Example) in norm(b["x"]!) }),
                                  (lstm, { (b: Example) in lstm.forward(b["x"]!.unsqueezed(axis: 1)) })] {
            let trainer = Trainer(module: module, optimizer: SGD(parameters: module.parameters(), learningRate: 0.1),
                                  loss: .crossEntropy, target: "label", forward: forward)
            trainer.verbose = false
            let error = try #require(throws: ShapeError.self) { try trainer.fit(DataLoader(blobs(4, seed: 2), batchSize: 4, workers: 0), epochs: 1) }
            #expect(error.shapes.contains([4, 2]) || error.shapes.contains([4, 1, 2]), "\(error)")
        }
    }

    @Test func aLossThatStopsBeingFiniteEndsTrainingAtOnce() throws {
        let x = Input("x", shape: [2])
        let model = try Model(inputs: [x], outputs: [Linear(2, 1, generator: RandomGenerator(seed: 1))(x)])
        let data = TensorDataset(["x": Tensor.normal([64, 2], generator: RandomGenerator(seed: 2)) * 100,
                                  "y": Tensor.normal([64, 1], generator: RandomGenerator(seed: 3))])
        let trainer = Trainer(model, optimizer: SGD(parameters: model.parameters(), learningRate: 1e6), loss: .meanSquaredError, target: "y")
        var warnings: [String] = []
        (trainer.verbose, trainer.warn) = (false, { warnings.append($0) })
        let validation = Watched(TensorDataset(["x": Tensor.zeros([4, 2]), "y": Tensor.zeros([4, 1])]))
        let error = try #require(throws: NonFiniteLossError.self) {
            try trainer.fit(DataLoader(data, batchSize: 4, workers: 0), validation: DataLoader(validation, batchSize: 4, workers: 0), epochs: 5)
        }
        #expect(!error.loss.isFinite && error.epoch == 0 && error.step > 0 && error.history.epochs == 0)
        #expect(validation.reads == 0)                             // stopped before evaluation
        #expect(warnings.count == 1 && warnings[0].contains("more than 1000×"), "\(warnings)")
        #expect(model.parameters().allSatisfy { $0.value.scalars(as: Float.self).allSatisfy(\.isFinite) })
    }

    @Test func badExamplesStopOrAreSkippedAndNamed() throws {
        let data = OneBadExample(base: blobs(8, seed: 1), bad: 3)
        let model = try classifier(5)
        let trainer = Trainer(model, optimizer: SGD(parameters: model.parameters(), learningRate: 0.1), loss: .crossEntropy, target: "label")
        var lines: [String] = []
        trainer.output = { lines.append($0) }
        #expect(throws: DataError("images/3.png", "truncated PNG")) { try trainer.fit(DataLoader(data, batchSize: 4), epochs: 1) }
        for workers in [0, 2] {
            lines = []
            let history = try trainer.fit(DataLoader(data, batchSize: 4, workers: workers, onBadExample: .skip), epochs: 2)
            #expect(history.values["skipped"] == [1, 1])
            #expect(trainer.skippedExamples == [DataError("images/3.png", "truncated PNG")])
            #expect(lines.filter { $0.contains("skipped 1 bad example: images/3.png: truncated PNG") }.count == 2, "\(lines)")
        }
        // A batch of only bad examples is left out; the epoch goes on.
        let allBad = OneBadExample(base: blobs(2, seed: 1), bad: 0)
        let loader = DataLoader(allBad, batchSize: 1, workers: 0, onBadExample: .skip)
        let epoch = loader.epoch(0)
        var batches = 0
        while try epoch.next() != nil { batches += 1 }
        #expect(batches == 1 && epoch.skipped.count == 1 && epoch.position == 2)
    }

    @Test func earlyStoppingRestoresTheBestWeights() throws {
        let layer = Linear(1, 1, bias: false)
        layer.weight = Tensor([[Float(0)]])
        let losses = [3.0, 1.0, 2.0, 2.0, 2.0, 2.0]
        var epoch = 0
        let trainer = Trainer(module: layer, optimizer: SGD(parameters: layer.parameters(), learningRate: 0.1), loss: .meanSquaredError,
                              target: "y", forward: { layer($0["x"]!) })
        trainer.verbose = false
        trainer.customStep = { _, _ in
            layer.weight = Tensor([[Float(epoch + 1)]])         // the weight names the epoch that wrote it
            defer { epoch += 1 }
            return ["loss": losses[epoch]]
        }
        let stopping = EarlyStopping(monitor: "loss", patience: 1, restoreBestWeights: true)
        let history = try trainer.fit(DataLoader(TensorDataset(["x": Tensor.zeros([1, 1]), "y": Tensor.zeros([1, 1])]), batchSize: 1, workers: 0),
                                      epochs: 6, callbacks: [stopping])
        #expect(history.epochs == 4 && stopping.bestEpoch == 2 && stopping.stoppedEpoch == 4)
        #expect(layer.weight.scalars(as: Float.self) == [2])
    }

    @Test func resumingPartWayThroughAnEpochIsExact() throws {
        func run(interruptAfter: Int?) throws -> (weights: [[Float]], history: History) {
            let model = try classifier(6)
            let data = DataLoader(blobs(24, seed: 3), batchSize: 4, shuffle: true, seed: 9, workers: 0)
            let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.05), loss: .crossEntropy,
                                  metrics: [Accuracy()], target: "label")
            trainer.verbose = false
            guard let interruptAfter else {
                let history = try trainer.fit(data, epochs: 2)
                return (snapshot(model), history)
            }
            // Stop after `interruptAfter` steps of the second epoch, keeping what a checkpoint keeps.
            final class Stop: Callback {
                let after: Int
                var saved: (EpochProgress, [String: Tensor], OptimizerState)?
                init(after: Int) { self.after = after }
                func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) throws -> Bool {
                    guard let progress = trainer.progress, progress.epoch == 1, progress.step == after else { return false }
                    saved = (progress, withoutGrad { trainer.model.stateDict().mapValues { $0.copied() } }, trainer.optimizer.state())
                    return true
                }
            }
            let stop = Stop(after: interruptAfter)
            try trainer.fit(data, epochs: 2, callbacks: [stop])
            let (progress, weights, optimizerState) = try #require(stop.saved)
            let restored = try classifier(99)
            try restored.loadStateDict(weights)
            let optimizer = Adam(parameters: restored.parameters(), learningRate: 0.05)
            try optimizer.load(optimizerState)
            let resumed = Trainer(restored, optimizer: optimizer, loss: .crossEntropy, metrics: [Accuracy()], target: "label")
            resumed.verbose = false
            let history = try resumed.fit(data, epochs: 1, initialEpoch: 1, resuming: progress)
            return (snapshot(restored), history)
        }
        let whole = try run(interruptAfter: nil), resumed = try run(interruptAfter: 2)
        #expect(resumed.weights == whole.weights)
        #expect(resumed.history.values["loss"] == whole.history.values["loss"].map { [$0[1]] })
        #expect(resumed.history.values["accuracy"] == whole.history.values["accuracy"].map { [$0[1]] })
    }
}
