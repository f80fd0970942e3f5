import Apus
import ApusData
import ApusNN
import ApusOptimizers
import Foundation

/// A loss: its name in logs and how it scores a batch.
public struct Loss {
    public let name: String
    public let compute: (_ prediction: Tensor, _ target: Tensor) -> Tensor
    public init(name: String, _ compute: @escaping (Tensor, Tensor) -> Tensor) { (self.name, self.compute) = (name, compute) }

    /// Softmax cross-entropy of logits [B, C] against class ids [B] (or [B, L, C] against [B, L]:
    /// every position of a sequence).
    public static let crossEntropy = Loss(name: "cross_entropy") { logits, labels in
        let classes = logits.shape.last ?? 1
        return Apus.crossEntropy(logits: logits.reshaped([-1, classes]), labels: labels.reshaped([-1]))
    }
    /// Mean squared error.
    public static let meanSquaredError = Loss(name: "mse") { Apus.mse($0, $1.cast(to: $0.dtype)) }
    /// Binary cross-entropy on logits.
    public static let binaryCrossEntropy = Loss(name: "binary_cross_entropy") { binaryCrossEntropyWithLogits($0, $1.cast(to: $0.dtype)) }
}

/// Where an epoch under way stands: its number, the batches done, and what its running logs
/// have accumulated (saved with a mid-epoch checkpoint; see `Trainer.fit(…, resuming:)`).
public struct EpochProgress: Codable, Equatable, Sendable {
    /// The epoch (from 0).
    public var epoch: Int
    /// Batches of the epoch done (or skipped).
    public var step = 0
    /// Sum of the batch losses weighted by batch size, and the examples seen.
    public var lossSum = 0.0
    public var seen = 0
    /// Each metric's `accumulated` numbers, by name.
    public var metrics: [String: [Double]] = [:]

    public init(epoch: Int) { self.epoch = epoch }
}

/// Training stopped because the loss stopped being a finite number (too high a learning rate,
/// bad data): the step that met it updated nothing.
public struct NonFiniteLossError: Error, CustomStringConvertible {
    /// The epoch (from 0) and the step within it (from 0).
    public let epoch: Int
    public let step: Int
    /// The loss (NaN or ±infinity).
    public let loss: Double
    /// The logs of the epochs completed before.
    public let history: History

    public var description: String {
        "the loss became \(loss) at epoch \(epoch + 1), step \(step + 1) (that step updated nothing); lower the learning rate or check the data"
    }
}

/// Per-epoch logs of a `fit`.
public struct History {
    /// Values by name, one per completed epoch.
    public internal(set) var values: [String: [Double]] = [:]
    public var epochs: Int { values.values.first?.count ?? 0 }
}

/// Keras' compiled model: a model with its optimizer, loss and metrics, and `fit`, `evaluate`
/// and `predict`. Batches are `Example`s: the model reads its inputs by name and the loss
/// compares its first output with `batch[target]`.
///
/// ```swift
/// let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters()), loss: .crossEntropy,
///                       metrics: [Accuracy()], target: "answer")
/// let history = try trainer.fit(trainLoader, validation: testLoader, epochs: 3)
/// ```
public final class Trainer {
    public let model: Module
    public let optimizer: Optimizer
    public let loss: Loss
    public let metrics: [Metric]
    public let target: String
    let forward: (Example) -> Tensor
    /// A custom training step replacing forward/loss/backward/update: returns the batch's logs.
    public var customStep: ((Trainer, Example) -> Logs)?
    /// Run each training step as one compiled graph (forward, loss, gradients and the optimizer
    /// update traced once per batch shape; see `CompiledTrainingStep`), MXNet's hybridize.
    /// Dropout draws a new mask on every step and BatchNorm updates its running statistics,
    /// as eagerly.
    public var hybridize = false
    /// How gradients are clipped before each update (PyTorch's `clip_grad_norm_` /
    /// `clip_grad_value_` between `backward()` and `step()`), eagerly and in a compiled step.
    /// Changing it recompiles the hybridized step.
    public var gradientClipping: GradientClipping? { didSet { compiledStep = nil } }
    /// The processes training this model together (data parallelism, e.g.
    /// `ApusDistributed.DataParallel`); nil: this process alone. See `TrainingGroup`.
    public var group: TrainingGroup? { didSet { compiledStep = nil } }
    /// The compiled training step once a hybridized step has run (its graph, arena size).
    public private(set) var compiledStep: CompiledTrainingStep?
    private var stepKeys: [String] = []
    /// Print progress (a bar on a terminal, a line per epoch otherwise).
    public var verbose = true
    /// Where progress goes (standard output by default).
    public var output: (String) -> Void = { FileHandle.standardOutput.write($0.data(using: .utf8)!) }
    /// Where warnings go, one line each (standard error by default; rank 0 alone in a `group`).
    public var warn: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }
    /// Whether this process prints: alone, or rank 0 of its group.
    var isLeader: Bool { (group?.rank ?? 0) == 0 }
    /// Where the epoch under way stands (nil between epochs): what a mid-epoch checkpoint saves
    /// so `fit(…, resuming:)` can go on exactly from it. Set before the callbacks' `batchEnd`.
    public private(set) var progress: EpochProgress?
    /// The examples the last epoch skipped (a loader with `onBadExample: .skip`), with their errors.
    public private(set) var skippedExamples: [DataError] = []

    /// A trainer for a functional `Model` (its first output is the prediction).
    public convenience init(_ model: Model, optimizer: Optimizer, loss: Loss, metrics: [Metric] = [], target: String) {
        self.init(module: model, optimizer: optimizer, loss: loss, metrics: metrics, target: target) { model($0)[0] }
    }

    /// A trainer for any module with a forward function from a batch to the prediction.
    public init(module: Module, optimizer: Optimizer, loss: Loss, metrics: [Metric] = [], target: String,
                forward: @escaping (Example) -> Tensor) {
        (self.model, self.optimizer, self.loss, self.metrics, self.target, self.forward) = (module, optimizer, loss, metrics, target, forward)
    }

    /// The target of `batch` (throws when the batch lacks it).
    public func targetTensor(_ batch: Example) throws -> Tensor {
        guard let t = batch[target] else { throw TrainingError("the batch has no target '\(target)' (it has \(batch.keys.sorted()))") }
        return t
    }

    /// The compiled training step for batches holding `keys` (sorted), built on first use (and
    /// again for batches with other keys):
    /// forward, loss, gradients and the optimizer update traced into one graph, whose inputs are
    /// the batch and the parameters.
    private func compiledStep(keys: [String]) throws -> CompiledTrainingStep {
        if let compiledStep, keys == stepKeys { return compiledStep }
        let forward = self.forward, loss = self.loss, target = self.target
        let step = CompiledTrainingStep(module: model, optimizer: optimizer, clipping: gradientClipping,
                                        averaging: group.map { $0.averaged(loss:gradients:) }) { tensors in
            let example = Dictionary(uniqueKeysWithValues: zip(keys, tensors))
            let prediction = forward(example)
            return [loss.compute(prediction, example[target]!), prediction]
        }
        (compiledStep, stepKeys) = (step, keys)
        return step
    }

    /// One training step as a compiled graph (retraced for a new batch shape). A label out of
    /// range stops the graph before the update and is thrown.
    func hybridizedStep(_ batch: Example) throws -> (Logs, Tensor, Tensor) {
        let target = try targetTensor(batch)
        let keys = batch.keys.sorted()
        let outputs = try compiledStep(keys: keys)(keys.map { batch[$0]! })
        return (["loss": outputs[0].item()], outputs[1], target)
    }

    /// The optimised graph of one hybridized training step (forward, loss, gradients, optimizer
    /// update) for batches of these specs, by example key (inputs and target, batch dimension
    /// included): what `hybridize` runs.
    public func trainingStepGraph(for batch: [String: TensorSpec]) throws -> Graph {
        let keys = batch.keys.sorted()
        return try compiledStep(keys: keys).graph(for: keys.map { batch[$0]! })
    }

    /// The names of `trainingStepGraph(for: batch)`'s inputs, in order: the batch keys (sorted),
    /// then the model's parameter paths, then its buffer paths (for `Graph.dot(inputNames:)`).
    public func trainingStepInputNames(for batch: [String: TensorSpec]) -> [String] {
        batch.keys.sorted() + ModuleState(model).names
    }

    /// One training step on `batch` (forward, loss, gradients, optimizer update; compiled when
    /// `hybridize` is on); returns its logs. A mistake in the batch or the model (a missing key,
    /// a shape that does not fit, a label out of range) is thrown before anything is updated.
    @discardableResult
    public func trainStep(_ batch: Example) throws -> Logs { try standardStep(batch).0 }

    /// One ordinary training step: forward, loss, backward, optimizer update (skipped when the
    /// loss is not finite).
    func standardStep(_ batch: Example) throws -> (Logs, Tensor, Tensor) {
        if hybridize { return try hybridizedStep(batch) }
        optimizer.zeroGrad()
        let target = try targetTensor(batch)
        let (prediction, value) = try Tensor.checking { () -> (Tensor, Tensor) in
            let prediction = forward(batch)
            return (prediction, loss.compute(prediction, target))
        }
        var lossValue = value.item()
        if let group { lossValue = try group.sum([lossValue])[0] / Double(group.size) }   // non-finite anywhere: skipped everywhere
        if lossValue.isFinite {
            if let group { try group.backward(value) } else { value.backward() }
            gradientClipping?.clip(optimizer.parameters)
            optimizer.step()
        }
        return (["loss": lossValue], prediction.detached(), target)
    }

    /// Trains for `epochs` epochs (numbered from `initialEpoch`), evaluating on `validation`
    /// after each; returns the per-epoch logs. `hybridize` (when given) sets `self.hybridize`:
    /// each step then runs as one compiled graph. `resuming` (the `progress` saved by a
    /// mid-epoch checkpoint of epoch `initialEpoch`) goes on from where that epoch stopped.
    ///
    /// Throws every mistake as an error before the step that meets it updates anything: a shape
    /// that does not fit (`ShapeError`), a label out of range (`IndexError`), a missing batch key,
    /// a bad file (`DataError`, unless the loader skips bad examples). A loss that stops being
    /// finite ends training at once with `NonFiniteLossError` (before evaluation; that step
    /// updated nothing) unless a callback (`TerminateOnNaN`) asks to stop after that batch; a loss that grows
    /// to 1000× its first value prints one warning through `warn`.
    @discardableResult
    public func fit(_ data: DataLoader, validation: DataLoader? = nil, epochs: Int, initialEpoch: Int = 0,
                    callbacks: [Callback] = [], hybridize: Bool? = nil, resuming: EpochProgress? = nil) throws -> History {
        if let hybridize { self.hybridize = hybridize }
        if let resuming, resuming.epoch != initialEpoch {
            throw TrainingError("fit: resuming epoch \(resuming.epoch + 1) but initialEpoch is \(initialEpoch)")
        }
        var history = History()
        var firstLoss: Double?, warned = false
        callbacks.forEach { $0.trainBegin(self) }
        training: for epoch in initialEpoch..<(initialEpoch + epochs) {
            callbacks.forEach { $0.epochBegin(epoch, trainer: self) }
            model.train()
            metrics.forEach { $0.reset() }
            var current = EpochProgress(epoch: epoch)
            if let resuming, epoch == initialEpoch {
                current = resuming
                for m in metrics { m.accumulated = resuming.metrics[m.name] ?? [] }
            }
            let progressBar = ProgressBar(total: data.batchCount, title: "Epoch \(epoch + 1)/\(initialEpoch + epochs)", enabled: verbose && isLeader, output: output)
            var stop = false
            let batches = data.epoch(epoch, from: current.step)
            while let batch = try batches.next() {
                var logs: Logs
                if let customStep {
                    logs = try Tensor.checking { customStep(self, batch) }
                } else {
                    let (stepLogs, prediction, target) = try standardStep(batch)
                    logs = stepLogs
                    try Tensor.checking { metrics.forEach { $0.update(prediction: prediction, target: target) } }
                }
                let count = batch.values.first.map { $0.shape.first ?? 1 } ?? 1
                current.lossSum += (logs["loss"] ?? 0) * Double(count)
                current.seen += count
                current.step = batches.position
                for m in metrics { current.metrics[m.name] = m.accumulated }
                progress = current
                var running = ["loss": current.lossSum / Double(Swift.max(current.seen, 1))]
                for m in metrics { running[m.name] = m.value }
                progressBar.update(step: current.step, logs: running)
                for callback in callbacks where try callback.batchEnd(current.step - 1, logs: logs, trainer: self) { stop = true }
                if let loss = logs["loss"] {
                    if !loss.isFinite && !stop {   // a callback (TerminateOnNaN) may end the epoch instead
                        throw NonFiniteLossError(epoch: epoch, step: current.step - 1, loss: loss, history: history)
                    }
                    if let first = firstLoss, !warned, isLeader, first > 0, loss > 1000 * first {
                        warned = true
                        warn(String(format: "apus: warning: the loss grew from %.4g to %.4g (more than 1000×) by epoch %d, step %d; the learning rate (%.4g) may be too high",
                                    first, loss, epoch + 1, current.step, optimizer.learningRate))
                    }
                    if firstLoss == nil { firstLoss = loss }
                }
                if stop { break }
            }
            var logs: Logs = ["loss": current.lossSum / Double(Swift.max(current.seen, 1))]
            if let group {
                try sumMetricsOverGroup()
                try group.synchronizeBuffers()
            }
            for m in metrics { logs[m.name] = m.value }
            skippedExamples = batches.skipped
            if data.onBadExample == .skip { logs["skipped"] = Double(skippedExamples.count) }
            if let validation {
                for (key, value) in try evaluate(validation) { logs["val_" + key] = value }
            }
            progressBar.finish(logs: logs.filter { $0.key != "skipped" }, note: skippedExamples.isEmpty ? nil
                : "skipped \(skippedExamples.count) bad example\(skippedExamples.count == 1 ? "" : "s"): \(skippedExamples.map(\.description).joined(separator: "; "))")
            progress = nil
            for (key, value) in logs { history.values[key, default: []].append(value) }
            for callback in callbacks where try callback.epochEnd(epoch, logs: logs, trainer: self) { stop = true }
            if stop { break training }
        }
        try callbacks.forEach { try $0.trainEnd(self) }
        return history
    }

    /// Keras' `fit(x, y, …)` on tensors in memory: `x` [N, …] is the input of a functional
    /// `Model` with one input, `y` [N, …] the target; `validationSplit` holds out the last
    /// fraction of the examples (before shuffling, as Keras) and logs `val_` metrics on them.
    @discardableResult
    public func fit(x: Tensor, y: Tensor, batchSize: Int = 32, epochs: Int, validationSplit: Double = 0, shuffle: Bool = true,
                    seed: UInt64 = 0, callbacks: [Callback] = []) throws -> History {
        guard let functional = model as? Model, functional.inputs.count == 1 else {
            throw TrainingError("fit(x:y:) needs a functional Model with one input; pass the inputs by name: fit(x: [\"name\": tensor], y:)")
        }
        return try fit(x: [functional.inputs[0].name: x], y: y, batchSize: batchSize, epochs: epochs, validationSplit: validationSplit,
                       shuffle: shuffle, seed: seed, callbacks: callbacks)
    }

    /// `fit(x:y:…)` for a model with several inputs: `x` holds each input by name, all [N, …].
    @discardableResult
    public func fit(x: [String: Tensor], y: Tensor, batchSize: Int = 32, epochs: Int, validationSplit: Double = 0, shuffle: Bool = true,
                    seed: UInt64 = 0, callbacks: [Callback] = []) throws -> History {
        guard (0..<1).contains(validationSplit) else { throw TrainingError("fit: validationSplit must be in [0, 1), got \(validationSplit)") }
        guard batchSize > 0 else { throw TrainingError("fit: batchSize must be positive, got \(batchSize)") }
        var tensors = x
        guard tensors[target] == nil else { throw TrainingError("fit: x has a tensor named '\(target)', the target's name") }
        tensors[target] = y
        let counts = Set(tensors.values.map { $0.shape.first ?? 0 })
        guard counts.count == 1, let count = counts.first, count > 0 else {
            throw TrainingError("fit: x and y must hold the same number of examples (first dimension), got \(tensors.mapValues(\.shape))")
        }
        let all = TensorDataset(tensors)
        let (train, held) = Subset.split(all, validationFraction: validationSplit)
        guard train.count > 0 else { throw TrainingError("fit: validationSplit \(validationSplit) leaves no example of \(count) to train on") }
        return try fit(DataLoader(train, batchSize: batchSize, shuffle: shuffle, seed: seed, workers: 0),
                       validation: held.count > 0 ? DataLoader(held, batchSize: batchSize, workers: 0) : nil,
                       epochs: epochs, callbacks: callbacks)
    }

    /// Loss and metrics over `data` in evaluation mode, without gradients.
    public func evaluate(_ data: DataLoader) throws -> Logs {
        model.eval()
        defer { model.train() }
        metrics.forEach { $0.reset() }
        var lossSum = 0.0, seen = 0
        let batches = data.epoch(0)
        try withoutGrad {
            while let batch = try batches.next() {
                let target = try targetTensor(batch)
                let count = target.shape.first ?? 1
                lossSum += try Tensor.checking { () -> Double in
                    let prediction = forward(batch)
                    metrics.forEach { $0.update(prediction: prediction, target: target) }
                    return loss.compute(prediction, target).item()
                } * Double(count)
                seen += count
            }
        }
        if let group {
            let sums = try group.sum([lossSum, Double(seen)])
            (lossSum, seen) = (sums[0], Int(sums[1]))
            try sumMetricsOverGroup()
        }
        var logs: Logs = ["loss": lossSum / Double(Swift.max(seen, 1))]
        for m in metrics { logs[m.name] = m.value }
        return logs
    }

    /// Every metric's `accumulated` sums, added up over the group's processes (one exchange).
    private func sumMetricsOverGroup() throws {
        guard let group, !metrics.isEmpty else { return }
        for (m, sums) in zip(metrics, try group.sum(each: metrics.map(\.accumulated))) { m.accumulated = sums }
    }

    /// The model's predictions for every example of `data`, concatenated along the batch dimension.
    public func predict(_ data: DataLoader) throws -> Tensor {
        model.eval()
        defer { model.train() }
        var parts: [Tensor] = []
        let batches = data.epoch(0)
        try withoutGrad { while let batch = try batches.next() { parts.append(try Tensor.checking { forward(batch) }) } }
        guard !parts.isEmpty else { throw TrainingError("predict: the data has no examples") }
        return Tensor.concat(parts, axis: 0)
    }
}
