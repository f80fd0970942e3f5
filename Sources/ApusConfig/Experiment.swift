import Apus
import ApusData
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
    let data: DataSection
    let schedule: ((Int) -> Double)?
    /// Draws the initial weights, then (reseeded each epoch from the seed and the epoch) dropout
    /// masks, so a resumed run draws the same masks as an uninterrupted one.
    let generator: RandomGenerator

    /// Loads and checks `path`; any problem throws one `ConfigError` (file, place, what is wrong).
    public init(configPath path: String) throws {
        configPath = path
        let root = try ConfigNode.load(path)
        try root.checkKeys(["data", "model", "loss", "metrics", "solver"])
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let solver = try root.node("solver")
        try solver.checkKeys(["optimizer", "learning_rate", "momentum", "nesterov", "weight_decay", "epochs", "batch_size", "seed",
                              "schedule", "checkpoint", "hybridize", "clip_grad_norm", "clip_grad_value"])
        seed = UInt64(try solver.int("seed", default: 0, minimum: 0))
        Random.seed(seed)
        generator = RandomGenerator(seed: seed)
        data = try DataSection.build(try root.node("data"), relativeTo: base)
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
        try checkpoint?.checkKeys(["folder", "every"])
        let folderPath = try checkpoint?.string("folder", default: "runs/\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)")
            ?? "runs/\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)"
        folder = URL(fileURLWithPath: folderPath, relativeTo: base)
        checkpointEvery = try checkpoint?.int("every", default: 1, minimum: 1) ?? 1
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
        do {
            try withoutGrad {
                try Tensor.checking {
                    let prediction = model(batch)[0]
                    _ = trainer.loss.compute(prediction, try trainer.targetTensor(batch))
                }
            }
        } catch let error as ShapeError {
            throw ConfigError(file: configPath, location: "loss", message: "the model's output does not fit the loss '\(trainer.loss.name)' and target '\(data.target)': \(error)")
        }
    }

    var stateURL: URL { folder.appendingPathComponent("state.json") }
    var stepsURL: URL { folder.appendingPathComponent("steps.csv") }
    /// The per-epoch log (CSV: epoch, metrics, validation metrics).
    public var logURL: URL { folder.appendingPathComponent("log.csv") }

    /// The committed training state (`state.json` in the checkpoint folder): the epochs
    /// completed and the files of that checkpoint.
    public struct State: Codable {
        /// Epochs completed.
        public var epoch: Int
        /// The model's safetensors file, in the checkpoint folder.
        public var model: String
        /// The optimizer state's safetensors file, in the checkpoint folder.
        public var optimizer: String
        /// The configuration file trained.
        public var config: String
    }

    func committedState() throws -> State? {
        guard let data = FileManager.default.contents(atPath: stateURL.path) else { return nil }
        return try Experiment.decodeState(data, source: stateURL.path)
    }

    /// Parses the bytes of a `state.json`; anything else throws a `CheckpointError` naming `source`.
    public static func decodeState(_ data: Data, source: String) throws -> State {
        guard let state = try? JSONDecoder().decode(State.self, from: data), state.epoch >= 0 else {
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

    /// Trains from scratch (`resume: false`) or from the last checkpoint; returns the last epoch's logs.
    @discardableResult
    public func train(resume: Bool = false,
                      progress: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) throws -> Logs {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var start = 0
        if resume {
            guard let state = try committedState(), state.epoch > 0 else { throw CheckpointError("\(folder.path): no checkpoint to resume from (train first)") }
            start = state.epoch
            try model.load(from: folder.appendingPathComponent(state.model))
            try trainer.optimizer.load(from: folder.appendingPathComponent(state.optimizer))
            // Drop step losses logged after the checkpoint (a run stopped mid-epoch).
            if let text = try? String(contentsOf: stepsURL, encoding: .utf8) {
                let kept = text.split(separator: "\n").filter { line in Int(line.split(separator: ",").first ?? "").map { $0 <= start } ?? true }
                try AtomicFile.write(Data((kept.joined(separator: "\n") + "\n").utf8), to: stepsURL)
            }
        } else {
            for url in [stepsURL, logURL, stateURL] { try? FileManager.default.removeItem(at: url) }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix("epoch-") {
                try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            }
        }
        guard start < epochs else { throw TrainingError("training already finished (\(start) of \(epochs) epochs)") }
        if let vocabulary = data.vocabulary { try vocabulary.save(to: folder.appendingPathComponent("vocabulary.json")) }
        trainer.output = progress
        var stepLosses: [String] = []
        let recorder = EpochRecorder(experiment: self, stepLosses: { stepLosses.append($0) })
        let callbacks: [Callback] = [recorder] + (schedule.map { s in [LearningRateScheduler { epoch, _ in s(epoch) }] } ?? [])
        recorder.flushSteps = {
            let previous = (try? String(contentsOf: self.stepsURL, encoding: .utf8)) ?? "epoch,step,loss\n"
            try AtomicFile.write(Data((previous + stepLosses.joined()).utf8), to: self.stepsURL)
            stepLosses.removeAll()
        }
        let history = try trainer.fit(DataLoader(data.train, batchSize: batchSize, shuffle: true, seed: seed),
                                      validation: DataLoader(data.test, batchSize: 64), epochs: epochs - start, initialEpoch: start,
                                      callbacks: callbacks)
        return history.values.mapValues { $0.last ?? .nan }
    }

    /// Loss and metrics on the test set (from `checkpoint`, or the experiment's last checkpoint).
    public func test(checkpoint: URL? = nil) throws -> Logs {
        try model.load(from: try checkpoint ?? modelURL)
        return try trainer.evaluate(DataLoader(data.test, batchSize: 64))
    }

    /// For a visual-question model: the most likely answer (and its probability) for an image and a question.
    public func answer(image: URL, question: String, checkpoint: URL? = nil) throws -> (answer: String, probability: Double) {
        guard let answers = data.answers, let vocabulary = data.vocabulary, let length = data.questionLength else {
            throw TrainingError("predict --question needs a visual-question data reader (easy-vqa)")
        }
        try model.load(from: try checkpoint ?? modelURL)
        model.eval()
        var pixels = try Image.load(image, channels: 3).tensor()
        let size = model.inputs.first { $0.name == "image" }?.shape.last ?? pixels.shape[2]
        pixels = Resize(size)(pixels, generator: .global)
        let ids = Tensor(shape: [1, length], scalars: vocabulary.encode(question, length: length, padding: data.questionPadding).map(Int64.init))
        let probabilities = withoutGrad { model(["image": pixels.unsqueezed(axis: 0), "question": ids])[0].softmax(axis: -1) }[0]
        let best = Int(probabilities.argmax(axis: 0).item())
        return (answers[best], probabilities[best].item())
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
/// the end of each epoch (every file atomically), and refuses to go on after a NaN loss.
final class EpochRecorder: Callback {
    let experiment: Experiment
    let stepLosses: (String) -> Void
    var flushSteps: () throws -> Void = {}
    private var epoch = 0
    private var nanStep: Int?

    init(experiment: Experiment, stepLosses: @escaping (String) -> Void) {
        self.experiment = experiment
        self.stepLosses = stepLosses
    }

    func epochBegin(_ epoch: Int, trainer: Trainer) {
        self.epoch = epoch
        experiment.generator.reseed(experiment.seed &+ UInt64(epoch + 1) &* 0x9E37_79B9)
    }

    func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) -> Bool {
        let loss = logs["loss"] ?? .nan
        stepLosses("\(epoch + 1),\(step),\(loss)\n")
        if !loss.isFinite { nanStep = step }
        return !loss.isFinite
    }

    func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        if let nanStep {
            let last = (try? experiment.modelURL.path).map { "the last good checkpoint is \($0)" } ?? "no checkpoint was written"
            throw TrainingError("the loss became NaN at epoch \(epoch + 1), step \(nanStep + 1); \(last)")
        }
        try flushSteps()
        var lines = (try? String(contentsOf: experiment.logURL, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        let keys = logs.keys.sorted()
        if lines.isEmpty { lines = ["epoch," + keys.joined(separator: ",")] }
        lines = [lines[0]] + lines.dropFirst().filter { (Int($0.split(separator: ",").first ?? "") ?? 0) <= epoch }
        lines.append("\(epoch + 1)," + keys.map { String(logs[$0]!) }.joined(separator: ","))
        try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: experiment.logURL)
        if (epoch + 1) % experiment.checkpointEvery == 0 || epoch + 1 == experiment.epochs {
            // New files first, then state.json names them (the commit), then the old ones go: a
            // run killed at any moment leaves a complete, consistent checkpoint.
            let previous = try? experiment.committedState()
            let model = "epoch-\(epoch + 1)-model.safetensors", optimizer = "epoch-\(epoch + 1)-optimizer.safetensors"
            try trainer.model.save(to: experiment.folder.appendingPathComponent(model), metadata: ["epoch": String(epoch + 1), "config": experiment.configPath])
            try trainer.optimizer.save(to: experiment.folder.appendingPathComponent(optimizer))
            let state = Experiment.State(epoch: epoch + 1, model: model, optimizer: optimizer, config: experiment.configPath)
            try AtomicFile.write(try JSONEncoder().encode(state), to: experiment.stateURL)
            if let previous, previous.model != model {
                try? FileManager.default.removeItem(at: experiment.folder.appendingPathComponent(previous.model))
                try? FileManager.default.removeItem(at: experiment.folder.appendingPathComponent(previous.optimizer))
            }
        }
        return false
    }
}
