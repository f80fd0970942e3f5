import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTestSupport
import ApusTrain
import Foundation
import Testing

/// Two Gaussian blobs in 2-D: class 0 around (−1, −1), class 1 around (1, 1).
func blobs(_ n: Int, seed: UInt64) -> TensorDataset {
    let g = RandomGenerator(seed: seed)
    let labels = Tensor(shape: [n], scalars: (0..<n).map { Int64($0 % 2) })
    let centers = labels.cast(to: .float32).unsqueezed(axis: 1) * 2 - 1
    return TensorDataset(["x": centers + Tensor.normal([n, 2], std: 0.5, generator: g), "label": labels])
}

func classifier(_ seed: UInt64) throws -> Model {
    let g = RandomGenerator(seed: seed)
    let x = Input("x", shape: [2])
    return try Model(inputs: [x], outputs: [Linear(16, 2, generator: g)(ReLU()(Linear(2, 16, generator: g)(x)))])
}

/// Records the order of callback events.
final class Recorder: Callback {
    var events: [String] = []
    func trainBegin(_ trainer: Trainer) { events.append("trainBegin") }
    func epochBegin(_ epoch: Int, trainer: Trainer) { events.append("epochBegin \(epoch)") }
    func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) -> Bool {
        events.append("batch \(step)")
        return false
    }
    func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        events.append("epochEnd \(epoch) loss=\(logs["loss"]! < 10) val=\(logs["val_accuracy"] != nil)")
        return false
    }
    func trainEnd(_ trainer: Trainer) throws { events.append("trainEnd") }
}

@Suite struct FitTests {
    @Test func fitLearnsASyntheticProblem() throws {
        let model = try classifier(1)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.05), loss: .crossEntropy,
                              metrics: [Accuracy(), TopKAccuracy(k: 1)], target: "label")
        var printed = ""
        trainer.output = { printed += $0 }
        let train = DataLoader(blobs(256, seed: 2), batchSize: 32, shuffle: true, seed: 3, workers: 0)
        let test = DataLoader(blobs(128, seed: 4), batchSize: 64, workers: 0)
        let history = try trainer.fit(train, validation: test, epochs: 5)
        #expect(history.epochs == 5)
        #expect(history.values["val_accuracy"]!.last! >= 0.95)
        #expect(history.values["loss"]!.last! < history.values["loss"]!.first!)
        #expect(history.values["top1_accuracy"]!.last! == history.values["accuracy"]!.last!)
        #expect(printed.contains("Epoch 5/5 8/8"), "\(printed)")
        #expect(try trainer.evaluate(test)["accuracy"]! >= 0.95)
        let predictions = try trainer.predict(test)
        #expect(predictions.shape == [128, 2])
    }

    @Test func hybridizedTrainingMatchesEager() throws {
        func run(hybridize: Bool) throws -> [Double] {
            let model = try classifier(21)
            let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.05), loss: .crossEntropy,
                                  metrics: [Accuracy()], target: "label")
            trainer.verbose = false
            trainer.hybridize = hybridize
            return try trainer.fit(DataLoader(blobs(70, seed: 2), batchSize: 16, shuffle: true, seed: 1, workers: 0), epochs: 3).values["loss"]!
        }
        let eager = try run(hybridize: false), hybrid = try run(hybridize: true)
        for (a, b) in zip(eager, hybrid) { #expect(Swift.abs(a - b) <= 1e-5 * Swift.max(1, Swift.abs(a)), "\(eager) vs \(hybrid)") }
        // Dropout trains hybridized too: its masks come from its own generator, as eagerly.
        func dropped(hybridize: Bool) throws -> [Double] {
            let g = RandomGenerator(seed: 3), x = Input("x", shape: [2])
            let model = try Model(inputs: [x], outputs: [Linear(4, 2, generator: g)(Dropout(0.5, generator: RandomGenerator(seed: 5))(Linear(2, 4, generator: g)(x)))])
            let trainer = Trainer(model, optimizer: SGD(parameters: model.parameters(), learningRate: 0.1), loss: .crossEntropy, target: "label")
            (trainer.verbose, trainer.hybridize, trainer.gradientClipping) = (false, hybridize, .norm(0.1))
            return try trainer.fit(DataLoader(blobs(8, seed: 1), batchSize: 4, workers: 0), epochs: 2).values["loss"]!
        }
        let eagerDropped = try dropped(hybridize: false), hybridDropped = try dropped(hybridize: true)
        for (a, b) in zip(eagerDropped, hybridDropped) { #expect(Swift.abs(a - b) <= 1e-5 * Swift.max(1, Swift.abs(a)), "\(eagerDropped) vs \(hybridDropped)") }
    }

    @Test func callbacksFireInOrder() throws {
        let model = try classifier(5)
        let trainer = Trainer(model, optimizer: SGD(parameters: model.parameters(), learningRate: 0.1), loss: .crossEntropy,
                              metrics: [Accuracy()], target: "label")
        trainer.verbose = false
        let recorder = Recorder()
        try trainer.fit(DataLoader(blobs(8, seed: 1), batchSize: 4, workers: 0), validation: DataLoader(blobs(4, seed: 2), batchSize: 4, workers: 0),
                        epochs: 2, callbacks: [recorder])
        #expect(recorder.events == ["trainBegin", "epochBegin 0", "batch 0", "batch 1", "epochEnd 0 loss=true val=true",
                                    "epochBegin 1", "batch 0", "batch 1", "epochEnd 1 loss=true val=true", "trainEnd"])
    }

    @Test func earlyStoppingAndBestCheckpoint() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-fit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The monitored value: scripted per epoch through a custom metric fed by a custom step.
        final class Script: Metric {
            let values: [Double]
            var epoch = -1
            init(_ values: [Double]) { self.values = values }
            var name: String { "score" }
            func reset() { epoch += 1 }
            func update(prediction: Tensor, target: Tensor) {}
            var value: Double { values[Swift.min(epoch, values.count - 1)] }
        }
        let script = Script([0.5, 0.7, 0.6, 0.65, 0.9, 0.95])
        let model = try classifier(7)
        let trainer = Trainer(model, optimizer: SGD(parameters: model.parameters(), learningRate: 0.01), loss: .crossEntropy,
                              metrics: [script], target: "label")
        trainer.verbose = false
        let stopping = EarlyStopping(monitor: "score", patience: 1, mode: .maximize)
        let checkpoint = ModelCheckpoint(path: folder.appendingPathComponent("best.safetensors").path, monitor: "score", mode: .maximize, saveBestOnly: true)
        let every = ModelCheckpoint(path: folder.appendingPathComponent("epoch-{epoch}.safetensors").path, every: 2)
        let history = try trainer.fit(DataLoader(blobs(8, seed: 1), batchSize: 8, workers: 0), epochs: 6, callbacks: [stopping, checkpoint, every])
        // 0.5, 0.7 (best), 0.6 (wait 1), 0.65 (wait 2 > patience 1): stop after epoch index 3.
        #expect(stopping.stoppedEpoch == 4 && history.epochs == 4)   // numbered from 1, as printed
        #expect(checkpoint.savedEpochs == [1, 2] && checkpoint.best == 0.7)
        #expect(every.savedEpochs == [2, 4])
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("epoch-4.safetensors").path))
        let restored = try classifier(99)
        let metadata = try restored.load(from: folder.appendingPathComponent("best.safetensors"))
        #expect(metadata["epoch"] == "2")
        #expect(throws: TrainingError.self) {
            try trainer.fit(DataLoader(blobs(8, seed: 1), batchSize: 8, workers: 0), epochs: 1, callbacks: [EarlyStopping(monitor: "val_loss")])
        }
    }

    @Test func terminateOnNaNAndCustomSteps() throws {
        let model = try classifier(3)
        let trainer = Trainer(model, optimizer: SGD(parameters: model.parameters(), learningRate: 0.1), loss: .crossEntropy, target: "label")
        trainer.verbose = false
        var steps = 0
        trainer.customStep = { _, _ in
            steps += 1
            return ["loss": steps == 3 ? .nan : 1.0]
        }
        let nan = TerminateOnNaN()
        let history = try trainer.fit(DataLoader(blobs(40, seed: 1), batchSize: 4, workers: 0), epochs: 3, callbacks: [nan])
        #expect(nan.stoppedAtStep == 2 && steps == 3 && history.epochs == 1)
        let schedule = LearningRateScheduler { epoch, _ in 0.1 / Double(epoch + 1) }
        trainer.customStep = { _, _ in ["loss": 0] }
        try trainer.fit(DataLoader(blobs(4, seed: 1), batchSize: 4, workers: 0), epochs: 3, callbacks: [schedule])
        #expect(Swift.abs(trainer.optimizer.learningRate - 0.1 / 3) < 1e-12)
    }

    @Test func metrics() {
        let logits = Tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 2.0, 0.5]])
        let labels = Tensor([0, 1, 1])
        let accuracy = Accuracy(), top2 = TopKAccuracy(k: 2), confusion = ConfusionMatrix(classes: 3), mae = MeanAbsoluteError()
        for m in [accuracy, top2, confusion] as [Metric] { m.update(prediction: logits, target: labels) }
        #expect(Swift.abs(accuracy.value - 2.0 / 3) < 1e-12)
        #expect(top2.value == 1)
        #expect(confusion.counts == [[1, 0, 0], [0, 1, 1], [0, 0, 0]])
        mae.update(prediction: Tensor([1.0, 2.0]), target: Tensor([1.5, 1.0]))
        #expect(Swift.abs(mae.value - 0.75) < 1e-7)
        accuracy.reset()
        #expect(accuracy.value == 0)
    }
}
