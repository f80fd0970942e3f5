import Apus
import ApusData
import ApusDistributed
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

/// Everything a configuration file describes, built and shape-checked: data, model, loss,
/// metrics and solver, plus the checkpoint folder. `train` runs it (writing a checkpoint,
/// the optimizer state and the logs every epoch), `resume` continues exactly where the last
/// checkpoint left off, `test` evaluates.
public final class Experiment {
    /// The configuration file.
    public let configPath: String
    /// The model of the `model` section.
    public let model: Model
    /// Optimizer, loss and metrics of the `solver`, `loss` and `metrics` sections.
    public let trainer: Trainer
    /// Epochs to train in all (`solver.epochs`).
    public let epochs: Int
    /// Examples per batch (`solver.batch_size`).
    public let batchSize: Int
    /// Seed of the weights, the data order and dropout (`solver.seed`).
    public let seed: UInt64
    /// Where checkpoints and logs go (`solver.checkpoint.folder`).
    public let folder: URL
    /// Epochs between checkpoints (`solver.checkpoint.every`).
    public let checkpointEvery: Int
    /// Steps between mid-epoch checkpoints (`solver.checkpoint.every_steps`; nil: none), so a
    /// crash loses at most that many steps.
    public let checkpointEverySteps: Int?
    /// Whether training also writes TensorBoard event files into `folder/tensorboard`
    /// (`solver.checkpoint.tensorboard`).
    public let tensorBoard: Bool
    /// How many of the latest checkpoints stay (`solver.checkpoint.keep`, default 1).
    public let checkpointsKept: Int
    /// The logged value whose best epoch is kept as `best-model.safetensors`
    /// (`solver.checkpoint.best`, e.g. val_accuracy; nil: none) and whether higher is better.
    public let bestMonitor: (name: String, higherIsBetter: Bool)?
    let data: DataSection
    let schedule: ((Int) -> Double)?
    /// Draws the initial weights, then (reseeded each epoch from the seed and the epoch) dropout
    /// masks, so a resumed run draws the same masks as an uninterrupted one.
    let generator: RandomGenerator

    /// Loads and checks `path` with `overrides` applied (`solver.epochs=3`: see
    /// `ConfigNode.overriding`); any problem throws one `ConfigError` (file, place, what is wrong).
    public init(configPath path: String, overrides: [String] = []) throws {
        configPath = path
        let root = try ConfigNode.load(path).overriding(overrides)
        try root.checkKeys(["data", "model", "loss", "metrics", "solver"])
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let solver = try root.node("solver")
        try solver.checkKeys(["optimizer", "learning_rate", "momentum", "nesterov", "weight_decay", "epochs", "batch_size", "seed",
                              "schedule", "checkpoint", "hybridize", "clip_grad_norm", "clip_grad_value"])
        seed = UInt64(try solver.int("seed", default: 0, minimum: 0))
        Random.seed(seed)
        generator = RandomGenerator(seed: seed)
        data = try DataSection.build(try root.node("data"), relativeTo: base, seed: seed)
        do {
            model = try ModelBuilder.build(try root.node("model"), facts: data.facts, generator: generator)
        } catch let error as ShapeError {
            throw ConfigError(file: path, location: "model", message: error.description)
        }
        let lossName = try root.string("loss", default: "cross_entropy")
        let losses: [String: Loss] = ["cross_entropy": .crossEntropy, "mse": .meanSquaredError, "binary_cross_entropy": .binaryCrossEntropy]
        guard let loss = losses[lossName] else {
            throw root.child("loss", lossName).error("unknown loss '\(lossName)'" + (nearest(lossName, in: Array(losses.keys)).map { " (did you mean '\($0)'?)" } ?? ""))
        }
        var metrics: [Metric] = []
        for name in try root.stringList("metrics") ?? ["accuracy"] {
            switch name {
            case "accuracy": metrics.append(Accuracy())
            case "top5_accuracy": metrics.append(TopKAccuracy(k: 5))
            case "mae": metrics.append(MeanAbsoluteError())
            default: throw root.child("metrics", name).error("unknown metric '\(name)' (accuracy, top5_accuracy, mae)")
            }
        }
        let learningRate = try solver.double("learning_rate", default: 1e-3)
        guard learningRate > 0 else { throw solver.error("learning_rate must be positive, got \(learningRate)") }
        let weightDecay = try solver.double("weight_decay", default: 0)
        let parameters = model.parameters()
        let optimizerName = try solver.string("optimizer", default: "adam")
        let optimizer: Optimizer
        switch optimizerName {
        case "adam": optimizer = Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
        case "adamw": optimizer = AdamW(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
        case "sgd":
            let momentum = try solver.double("momentum", default: 0), nesterov = try solver.bool("nesterov", default: false)
            if nesterov && momentum <= 0 { throw solver.error("nesterov needs a positive momentum") }
            optimizer = SGD(parameters: parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov)
        case "rmsprop": optimizer = RMSprop(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay,
                                            momentum: try solver.double("momentum", default: 0))
        case "adagrad": optimizer = Adagrad(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
        default:
            let known = ["adam", "adamw", "sgd", "rmsprop", "adagrad"]
            throw solver.child("optimizer", optimizerName).error("unknown optimizer '\(optimizerName)'" + (nearest(optimizerName, in: known).map { " (did you mean '\($0)'?)" } ?? ""))
        }
        epochs = try solver.int("epochs", default: 1, minimum: 1)
        batchSize = try solver.int("batch_size", default: 32, minimum: 1)
        if let s = solver.optionalNode("schedule") {
            try s.checkKeys(["type", "step_size", "gamma", "warmup"])
            let type = try s.string("type"), gamma = try s.double("gamma", default: 0.1)
            switch type {
            case "step":
                let stepSize = try s.int("step_size", minimum: 1)
                schedule = { learningRate * pow(gamma, Double($0 / stepSize)) }
            case "exponential": schedule = { learningRate * pow(gamma, Double($0)) }
            case "cosine":
                let warmup = try s.int("warmup", default: 0, minimum: 0), total = epochs
                schedule = { e in e < warmup ? learningRate * Double(e + 1) / Double(warmup + 1)
                                             : learningRate * 0.5 * (1 + cos(Double.pi * Double(e - warmup) / Double(Swift.max(1, total - warmup)))) }
            default: throw s.error("unknown schedule '\(type)' (step, exponential, cosine)")
            }
        } else {
            schedule = nil
        }
        let checkpoint = solver.optionalNode("checkpoint")
        try checkpoint?.checkKeys(["folder", "every", "every_steps", "keep", "best", "tensorboard"])
        tensorBoard = try checkpoint?.bool("tensorboard", default: false) ?? false
        let folderPath = try checkpoint?.string("folder", default: "runs/\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)")
            ?? "runs/\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)"
        folder = URL(fileURLWithPath: folderPath, relativeTo: base)
        checkpointEvery = try checkpoint?.int("every", default: 1, minimum: 1) ?? 1
        checkpointEverySteps = checkpoint?.has("every_steps") == true ? try checkpoint!.int("every_steps", minimum: 1) : nil
        checkpointsKept = try checkpoint?.int("keep", default: 1, minimum: 1) ?? 1
        if let best = try checkpoint.map({ try $0.string("best", default: "") }), !best.isEmpty {
            let logged = ["loss"] + metrics.map(\.name)
            guard logged.contains(best) || (best.hasPrefix("val_") && logged.contains(String(best.dropFirst(4)))) else {
                throw checkpoint!.child("best", best).error("'\(best)' is not logged (\((logged + logged.map { "val_" + $0 }).joined(separator: ", ")))")
            }
            bestMonitor = (best, best.contains("acc"))
        } else {
            bestMonitor = nil
        }
        trainer = Trainer(model, optimizer: optimizer, loss: loss, metrics: metrics, target: data.target)
        if solver.has("clip_grad_norm") && solver.has("clip_grad_value") {
            throw solver.error("give clip_grad_norm or clip_grad_value, not both")
        }
        for (key, clipping) in [("clip_grad_norm", GradientClipping.norm), ("clip_grad_value", GradientClipping.value)] where solver.has(key) {
            let limit = try solver.double(key)
            guard limit > 0 && limit.isFinite else { throw solver.error("\(key) must be a positive number, got \(limit)") }
            trainer.gradientClipping = clipping(limit)
        }
        // hybridize: auto (default) compiles each training step (every layer a config can name can).
        switch solver.map?["hybridize"] {
        case nil, "auto" as String:
            trainer.hybridize = true
        case let on as Bool:
            trainer.hybridize = on
        case let other?:
            throw solver.child("hybridize", other).error("expected true, false or auto, got \(solver.describe(other))")
        }
        try checkFirstBatch()
    }

    /// Runs the model, the loss and the metrics on a real batch of two training examples with
    /// shape errors thrown, and compares the test split's examples with the training ones, so a
    /// data/model/loss mismatch is reported before training starts.
    private func checkFirstBatch() throws {
        guard data.train.count > 0, data.test.count > 0 else {
            throw ConfigError(file: configPath, location: "data", message: "the \(data.train.count == 0 ? "training" : "test") set is empty")
        }
        let first = try data.train.example(0), testFirst = try data.test.example(0)
        for input in model.inputs {
            guard let value = first[input.name] else {
                throw ConfigError(file: configPath, location: "model.inputs.\(input.name)",
                                  message: "the data has no '\(input.name)' (it has \(first.keys.sorted().joined(separator: ", ")))")
            }
            guard value.shape == input.shape, value.dtype == input.dtype else {
                throw ConfigError(file: configPath, location: "model.inputs.\(input.name)",
                                  message: "declared \(input.shape) \(input.dtype) but the data gives \(value.shape) \(value.dtype)")
            }
        }
        for (key, value) in first where testFirst[key]?.spec != value.spec {
            throw ConfigError(file: configPath, location: "data", message: "the test split's '\(key)' differs from the training split's \(value.spec)")
        }
        let batch = try collate((0..<Swift.min(2, data.train.count)).map { try data.train.example($0) })
        func runLoss(_ batch: Example) throws {
            try withoutGrad {
                try Tensor.checking {
                    let prediction = model(batch)[0]
                    _ = trainer.loss.compute(prediction, try trainer.targetTensor(batch))
                }
            }
        }
        do {
            try runLoss(batch)
        } catch let error as ShapeError {
            throw ConfigError(file: configPath, location: "loss", message: "the model's output does not fit the loss '\(trainer.loss.name)' and target '\(data.target)': \(error)")
        } catch let error as IndexError {
            throw classCountError(error)
        }
        // The largest label the data declares must fit the model's output too (not only the
        // labels of the first examples).
        if trainer.loss.name == Loss.crossEntropy.name, let classes = data.facts.classes, let target = batch[data.target], target.dtype == .int64 {
            var largest = batch
            largest[data.target] = Tensor.full(target.shape, Double(classes - 1), dtype: .int64)
            do { try runLoss(largest) } catch let error as IndexError { throw classCountError(error, classes: classes) }
        }
    }

    /// The configuration error for a label the model's output has no class for.
    private func classCountError(_ error: IndexError, classes: Int? = nil) -> ConfigError {
        let output = model.outputs[0], classes = classes ?? data.facts.classes
        let dataClasses = classes.map { "the data has \($0) classes (labels 0..<\($0))" } ?? "the data has label \(error.value)"
        return ConfigError(file: configPath, location: "model",
                           message: "layer '\(output.name)' gives \(error.bound) classes (its out_features) but \(dataClasses): set out_features: classes")
    }

    var stateURL: URL { folder.appendingPathComponent("state.json") }
    var stepsURL: URL { folder.appendingPathComponent("steps.csv") }
    /// The per-epoch log (CSV: epoch, metrics, validation metrics).
    public var logURL: URL { folder.appendingPathComponent("log.csv") }
    /// The weights of the best epoch by `solver.checkpoint.best`.
    public var bestModelURL: URL { folder.appendingPathComponent("best-model.safetensors") }

    /// One saved checkpoint: the model and optimizer files after `epoch` epochs (and `step`
    /// steps of the next one, for a mid-epoch checkpoint).
    struct Saved: Codable, Equatable {
        var epoch: Int
        var step: Int?
        var model: String
        var optimizer: String
    }

    /// The best epoch so far by the monitored value.
    struct Best: Codable {
        var metric: String
        var value: Double
        var epoch: Int
    }

    /// The committed training state (`state.json`): the epochs completed and the files of that
    /// checkpoint; for a mid-epoch one, where the epoch under way stands and the dropout
    /// generator's position; the older checkpoints kept; the best epoch.
    struct State: Codable {
        var epoch: Int
        var model: String
        var optimizer: String
        var config: String
        var progress: EpochProgress?
        var generator: [UInt64]?
        var kept: [Saved]?
        var best: Best?
        /// The processes the run trained on (nil: one).
        var processes: Int?

        var latest: Saved { Saved(epoch: epoch, step: progress?.step, model: model, optimizer: optimizer) }
    }

    func committedState() throws -> State? {
        guard let data = FileManager.default.contents(atPath: stateURL.path) else { return nil }
        return try Experiment.decodeState(data, source: stateURL.path)
    }

    /// Checks the bytes of a `state.json` (what `resume`, `test` and `predict` read); returns the
    /// epochs completed, and throws a `CheckpointError` naming `source` for anything else.
    @discardableResult
    public static func checkState(_ data: Data, source: String) throws -> Int { try decodeState(data, source: source).epoch }

    /// Parses the bytes of a `state.json`; anything else throws a `CheckpointError` naming `source`.
    static func decodeState(_ data: Data, source: String) throws -> State {
        guard let state = try? JSONDecoder().decode(State.self, from: data), state.epoch >= 0,
              state.generator.map({ $0.count == 4 }) ?? true, state.processes.map({ $0 >= 2 }) ?? true, state.progress.map({ $0.epoch == state.epoch && $0.step > 0 }) ?? true else {
            throw CheckpointError("\(source): unreadable training state")
        }
        return state
    }

    /// The model file of the last committed checkpoint.
    public var modelURL: URL {
        get throws {
            guard let state = try committedState() else { throw CheckpointError("\(folder.path): no checkpoint yet (train first)") }
            return folder.appendingPathComponent(state.model)
        }
    }

    /// Epochs completed according to the checkpoint folder (0 when there is none).
    public func completedEpochs() throws -> Int { try committedState()?.epoch ?? 0 }

    /// Trains from scratch (`resume: false`) or from the last checkpoint (an epoch's end or a
    /// mid-epoch one: the result is the same as an uninterrupted run's); returns the last
    /// epoch's logs. A fresh start refuses a folder that holds a run (`RunFolderError`) unless
    /// `overwrite`.
    ///
    /// With a `communicator` of several processes (`mpirun -np N apus train`), every process
    /// runs this with the same configuration: the model starts from rank 0's weights
    /// (`DataParallel`), each process reads its share of every epoch (`solver.batch_size`
    /// examples per process and step), gradients and logs are averaged over the processes, and
    /// rank 0 alone prints and writes the run folder. A run resumes on as many processes as it
    /// was trained on (every process reads the run folder: a shared folder across machines).
    @discardableResult
    public func train(resume: Bool = false, overwrite: Bool = false, communicator: Communicator? = nil,
                      progress: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) throws -> Logs {
        let group = try communicator.flatMap { $0.size > 1 ? try DataParallel(model, communicator: $0) : nil }
        let writes = (group?.rank ?? 0) == 0, processes = group?.size ?? 1
        trainer.group = group
        if writes { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        var start = 0
        var resuming: (progress: EpochProgress, generator: [UInt64])?
        var previousState: State?
        if resume {
            guard let state = try committedState(), state.epoch > 0 || state.progress != nil else {
                throw CheckpointError("\(folder.path): no checkpoint to resume from (train first)")
            }
            guard (state.processes ?? 1) == processes else {
                throw CheckpointError("\(folder.path): the run trained on \(state.processes ?? 1) process\((state.processes ?? 1) == 1 ? "" : "es"), this is \(processes): resume it on as many (mpirun -np \(state.processes ?? 1)), which its data order depends on")
            }
            start = state.epoch
            try model.load(from: folder.appendingPathComponent(state.model))
            try trainer.optimizer.load(from: folder.appendingPathComponent(state.optimizer))
            if var progress = state.progress, let generator = state.generator {
                if !writes { progress.metrics = [:] }   // rank 0 holds the sums over every process
                resuming = (progress, generator)
            }
            previousState = state
            // Drop step losses logged after the checkpoint (a run stopped part-way).
            if writes, let text = try? String(contentsOf: stepsURL, encoding: .utf8) {
                let kept = text.split(separator: "\n").filter { line in
                    let cells = line.split(separator: ",")
                    guard let epoch = Int(cells.first ?? ""), cells.count > 1, let step = Int(cells[1]) else { return true }
                    return epoch <= start || (epoch == start + 1 && step < (state.progress?.step ?? 0))
                }
                try AtomicFile.write(Data((kept.joined(separator: "\n") + "\n").utf8), to: stepsURL)
            }
        } else {
            if let state = try? committedState(), !overwrite {
                let steps = state.progress.map { " and \($0.step) steps" } ?? ""
                throw RunFolderError("\(folder.path) holds a run of \(state.epoch) epoch\(state.epoch == 1 ? "" : "s")\(steps): `apus resume` continues it, `apus train --overwrite` starts over")
            }
            if writes {
                for url in [stepsURL, logURL, stateURL, bestModelURL] { try? FileManager.default.removeItem(at: url) }
                for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix("epoch-") {
                    try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
                }
            }
        }
        guard start < epochs else { throw TrainingError("training already finished (\(start) of \(epochs) epochs)") }
        if writes, let vocabulary = data.vocabulary { try vocabulary.save(to: folder.appendingPathComponent("vocabulary.json")) }
        trainer.output = progress
        var stepLosses: [String] = []
        let recorder = EpochRecorder(experiment: self, state: previousState, writes: writes, processes: processes,
                                     stepLosses: { stepLosses.append($0) })
        recorder.resumedGenerator = resuming?.generator
        var callbacks: [Callback] = [recorder] + (schedule.map { s in [LearningRateScheduler { epoch, _ in s(epoch) }] } ?? [])
        if tensorBoard && writes { callbacks.append(TensorBoard(directory: folder.appendingPathComponent("tensorboard"), updateFrequency: 10)) }
        recorder.flushSteps = {
            let previous = (try? String(contentsOf: self.stepsURL, encoding: .utf8)) ?? "epoch,step,loss\n"
            try AtomicFile.write(Data((previous + stepLosses.joined()).utf8), to: self.stepsURL)
            stepLosses.removeAll()
        }
        let history: History
        do {
            history = try trainer.fit(loader(data.train, shuffle: true), validation: loader(data.validation), epochs: epochs - start,
                                      initialEpoch: start, callbacks: callbacks, resuming: resuming?.progress)
        } catch let error as NonFiniteLossError {
            if writes { try recorder.flushSteps() }
            let last = (try? modelURL.path).map { "the last good checkpoint is \($0)" } ?? "no checkpoint was written"
            throw TrainingError("\(error.description); \(last)")
        }
        try group?.communicator.barrier()   // rank 0's last checkpoint is committed before any process reads it
        return history.values.mapValues { $0.last ?? .nan }
    }

    /// A loader of `dataset` with the experiment's batch size (64 for evaluation), seed and
    /// bad-example policy; in a group of processes, over this process's share (`DistributedSampler`:
    /// padded to equal shares for training, uneven for evaluation).
    func loader(_ dataset: any Dataset, shuffle: Bool = false) throws -> DataLoader {
        let batch = shuffle ? batchSize : 64
        guard let group = trainer.group else {
            return DataLoader(dataset, batchSize: batch, shuffle: shuffle, seed: seed, onBadExample: data.onBadExample)
        }
        let sampler = try DistributedSampler(count: dataset.count, rank: group.rank, size: group.size, shuffle: shuffle, seed: seed,
                                             remainder: shuffle ? .pad : .uneven)
        return try DataLoader(dataset, batchSize: batch, sampler: sampler, onBadExample: data.onBadExample)
    }

    /// Loss and metrics on the test set (from `checkpoint`, or the experiment's last checkpoint).
    public func test(checkpoint: URL? = nil) throws -> Logs {
        try model.load(from: try checkpoint ?? modelURL)
        return try trainer.evaluate(loader(data.test))
    }

    /// For a visual-question model: the most likely answer (and its probability) for an image
    /// and a question. Words the training questions never had (read as `<unk>`) and an image
    /// converted or resized to the model's input are reported through `warn`.
    public func answer(image: URL, question: String, checkpoint: URL? = nil,
                       warn: (String) -> Void = { _ in }) throws -> (answer: String, probability: Double) {
        guard let answers = data.classNames, let vocabulary = data.vocabulary, let length = data.questionLength,
              let imageInput = model.inputs.first(where: { $0.name == "image" }) else {
            throw TrainingError("predict --question needs a visual-question data reader (easy-vqa)")
        }
        try model.load(from: try checkpoint ?? modelURL)
        model.eval()
        let pixels = try modelImage(image, input: imageInput, warn: warn)
        let words = Tokenizer.words(question)
        let unknown = words.prefix(length).filter { vocabulary.id($0) == Vocabulary.unknownID }
        if !unknown.isEmpty {
            warn("apus: warning: \(unknown.map { "'\($0)'" }.joined(separator: ", ")) never occurred in the training questions (read as <unk>)")
        }
        if words.count > length { warn("apus: warning: the question has \(words.count) words; the model reads the first \(length)") }
        let ids = Tensor(shape: [1, length], scalars: vocabulary.encode(question, length: length, padding: data.questionPadding).map(Int64.init))
        let probabilities = withoutGrad { model(["image": pixels.unsqueezed(axis: 0), "question": ids])[0].softmax(axis: -1) }[0]
        let best = probabilities.argmax(axis: 0).item(as: Int.self)
        return (answers[best], probabilities[best].item())
    }

    /// For an image classifier (one input [C, H, W]): the `top` most likely classes of an image
    /// with their probabilities, most likely first. An image converted or resized to the model's
    /// input is reported through `warn`.
    public func classify(image: URL, top: Int = 5, checkpoint: URL? = nil,
                         warn: (String) -> Void = { _ in }) throws -> [(label: String, probability: Double)] {
        guard model.inputs.count == 1, let input = model.inputs.first, input.shape.count == 3, input.dtype.isFloatingPoint else {
            throw TrainingError("predict --image alone needs an image classifier (one input [C, H, W]); this model takes "
                                + model.inputs.map { "'\($0.name)' \($0.shape)" }.joined(separator: ", ")
                                + (data.vocabulary != nil ? " (add --question, or use --prompt)" : ""))
        }
        try model.load(from: try checkpoint ?? modelURL)
        model.eval()
        let pixels = try modelImage(image, input: input, warn: warn)
        let logits = withoutGrad { model([input.name: pixels.unsqueezed(axis: 0)])[0] }
        guard logits.rank == 2, logits.shape[0] == 1 else { throw TrainingError("predict --image: the model's output \(logits.shape) is not [1, classes]") }
        let probabilities = logits.softmax(axis: -1)[0].scalars(as: Double.self)
        let names = data.classNames.flatMap { $0.count == probabilities.count ? $0 : nil } ?? probabilities.indices.map(String.init)
        return probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(Swift.max(1, top)).map { (names[$0], probabilities[$0]) }
    }

    /// The image at `url` as the model input `input` takes it ([C, H, W], values in [0, 1] as
    /// the readers give): converted to its channels and resized to its size, each change reported.
    func modelImage(_ url: URL, input: Node, warn: (String) -> Void) throws -> Tensor {
        let (channels, height, width) = (input.shape[0], input.shape[1], input.shape[2])
        guard [1, 3, 4].contains(channels) else { throw TrainingError("the model's input '\(input.name)' \(input.shape) is not an image of 1, 3 or 4 channels") }
        let stored = try Image.load(url, channels: 0)
        var pixels = try Image.load(url, channels: channels).tensor()
        var changes: [String] = []
        if stored.channels != channels { changes.append("converted from \(stored.channels) to \(channels) channels") }
        if (stored.height, stored.width) != (height, width) {
            changes.append("resized from \(stored.width)×\(stored.height) to \(width)×\(height)")
            pixels = Resize(height: height, width: width)(pixels, generator: .global)
        }
        if !changes.isEmpty {
            warn("apus: warning: \(url.lastPathComponent) was \(changes.joined(separator: " and ")) for the model's input '\(input.name)' \(input.shape)")
        }
        if let normalize = data.normalize { pixels = try Tensor.checking { normalize(pixels, generator: .global) } }
        return pixels
    }
}

extension Experiment {
    /// For a character-level language model (reader `text`): `length` characters sampled after
    /// `prompt` at `temperature` (0 picks the most likely character).
    public func generate(prompt: String, length: Int, temperature: Double, seed: UInt64 = 0, checkpoint: URL? = nil) throws -> String {
        guard let vocabulary = data.vocabulary, let window = data.questionLength, data.target == "target",
              let input = model.inputs.first else {
            throw TrainingError("predict --prompt needs a character language model (data reader 'text')")
        }
        try model.load(from: try checkpoint ?? modelURL)
        model.eval()
        let generator = RandomGenerator(seed: seed)
        var ids = prompt.map { vocabulary.id(String($0)) }
        var text = prompt
        for _ in 0..<length {
            let context = Array(ids.suffix(window))
            let padded = Array(repeating: Vocabulary.paddingID, count: window - context.count) + context
            let logits = withoutGrad { model([input.name: Tensor(shape: [1, window], scalars: padded.map(Int64.init))])[0] }[0, window - 1]
            let next: Int
            if temperature <= 0 {
                next = Int(logits.argmax(axis: 0).item())
            } else {
                let probabilities = (logits.cast(to: .float64) * (1 / temperature)).softmax(axis: 0).scalars(as: Double.self)
                var u = Double(generator.nextInt(below: 1 << 30)) / Double(1 << 30), choice = probabilities.count - 1
                for (i, p) in probabilities.enumerated() { u -= p; if u <= 0 { choice = i; break } }
                next = choice
            }
            ids.append(next)
            text += vocabulary.tokens[next].hasPrefix("<") && vocabulary.tokens[next].count > 1 ? "" : vocabulary.tokens[next]
        }
        return text
    }
}

/// Writes the checkpoint, optimizer state, training state, per-epoch log and per-step losses at
/// the end of each epoch (every file atomically; `state.json` last, as the commit), a
/// mid-epoch checkpoint every `every_steps` steps, and the best epoch's weights.
final class EpochRecorder: Callback {
    let experiment: Experiment
    /// Whether this process writes the files (rank 0, or a process training alone).
    let writes: Bool
    /// Processes training together (recorded in `state.json`).
    let processes: Int
    let stepLosses: (String) -> Void
    var flushSteps: () throws -> Void = {}
    /// The dropout generator's position saved by the mid-epoch checkpoint being resumed.
    var resumedGenerator: [UInt64]?
    private var epoch = 0
    /// The committed state (nil before the first checkpoint).
    private var state: Experiment.State?
    /// The best epoch so far by `solver.checkpoint.best`.
    private var best: Experiment.Best?

    init(experiment: Experiment, state: Experiment.State?, writes: Bool, processes: Int, stepLosses: @escaping (String) -> Void) {
        (self.experiment, self.state, self.best, self.stepLosses) = (experiment, state, state?.best, stepLosses)
        (self.writes, self.processes) = (writes, processes)
    }

    func epochBegin(_ epoch: Int, trainer: Trainer) {
        self.epoch = epoch
        experiment.generator.reseed(experiment.seed &+ UInt64(epoch + 1) &* 0x9E37_79B9)
        if let resumedGenerator {
            experiment.generator.position = resumedGenerator
            self.resumedGenerator = nil
        }
    }

    func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        let loss = logs["loss"] ?? .nan
        stepLosses("\(epoch + 1),\(step),\(loss)\n")
        if let every = experiment.checkpointEverySteps, var progress = trainer.progress, loss.isFinite, progress.step % every == 0 {
            if let group = trainer.group {   // the metrics' sums over every process (a collective: every process is here)
                let names = progress.metrics.keys.sorted()
                for (name, sums) in zip(names, try group.sum(each: names.map { progress.metrics[$0]! })) { progress.metrics[name] = sums }
            }
            guard writes else { return false }
            try flushSteps()
            try commit(trainer, epochs: epoch, progress: progress)
        }
        return false
    }

    func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        guard writes else { return false }
        try flushSteps()
        var lines = (try? String(contentsOf: experiment.logURL, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        let keys = logs.keys.sorted()
        let skipped = trainer.skippedExamples.isEmpty && logs["skipped"] == nil ? nil
            : csvCell(trainer.skippedExamples.map(\.file).joined(separator: ";"))
        if lines.isEmpty { lines = ["epoch," + keys.joined(separator: ",") + (skipped == nil ? "" : ",skipped_files")] }
        lines = [lines[0]] + lines.dropFirst().filter { (Int($0.split(separator: ",").first ?? "") ?? 0) <= epoch }
        lines.append("\(epoch + 1)," + keys.map { String(logs[$0]!) }.joined(separator: ",") + (skipped.map { "," + $0 } ?? ""))
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: experiment.logURL)
        var improved = false
        if let monitor = experiment.bestMonitor, let value = logs[monitor.name], value.isFinite,
           best.map({ monitor.higherIsBetter ? value > $0.value : value < $0.value }) ?? true {
            try trainer.model.save(to: experiment.bestModelURL, metadata: ["epoch": String(epoch + 1), monitor.name: String(value)])
            (best, improved) = (Experiment.Best(metric: monitor.name, value: value, epoch: epoch + 1), true)
        }
        if (epoch + 1) % experiment.checkpointEvery == 0 || epoch + 1 == experiment.epochs {
            try commit(trainer, epochs: epoch + 1, progress: nil)
        } else if improved, var updated = state {
            updated.best = best
            try AtomicFile.write(try JSONEncoder().encode(updated), to: experiment.stateURL)
            state = updated
        }
        return false
    }

    /// Saves the model and optimizer (new files first), then `state.json` naming them (the
    /// commit), then removes the checkpoints beyond the `keep` latest: a run killed at any
    /// moment leaves a complete, consistent checkpoint.
    private func commit(_ trainer: Trainer, epochs: Int, progress: EpochProgress?) throws {
        let name = progress.map { "epoch-\(epochs + 1)-step-\($0.step)" } ?? "epoch-\(epochs)"
        let saved = Experiment.Saved(epoch: epochs, step: progress?.step, model: "\(name)-model.safetensors", optimizer: "\(name)-optimizer.safetensors")
        var metadata = ["epoch": String(epochs), "config": experiment.configPath]
        if let progress { metadata["step"] = String(progress.step) }
        try trainer.model.save(to: experiment.folder.appendingPathComponent(saved.model), metadata: metadata)
        try trainer.optimizer.save(to: experiment.folder.appendingPathComponent(saved.optimizer))
        let previous = state.map { ($0.kept ?? []) + [$0.latest] } ?? []
        let kept = Array((previous.filter { $0 != saved }).suffix(experiment.checkpointsKept - 1))
        let next = Experiment.State(epoch: epochs, model: saved.model, optimizer: saved.optimizer, config: experiment.configPath,
                                    progress: progress, generator: progress.map { _ in experiment.generator.position },
                                    kept: kept, best: best, processes: processes == 1 ? nil : processes)
        try AtomicFile.write(try JSONEncoder().encode(next), to: experiment.stateURL)
        state = next
        let live = Set((kept + [saved]).flatMap { [$0.model, $0.optimizer] })
        for old in previous where !live.contains(old.model) {
            try? FileManager.default.removeItem(at: experiment.folder.appendingPathComponent(old.model))
            try? FileManager.default.removeItem(at: experiment.folder.appendingPathComponent(old.optimizer))
        }
    }

    /// `text` as one CSV cell (quoted when it holds a comma, quote or line break).
    private func csvCell(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}

/// `apus train` over a folder that already holds a run: resume it, or overwrite it explicitly.
public struct RunFolderError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
