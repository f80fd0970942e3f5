// apus — train, test and use models described by configuration files (the Caffe face).
//
// Exit codes: 0 success; 1 a runtime failure (data, training, NaN loss, a label out of range,
// I/O); 3 a configuration error; 4 a checkpoint problem; 5 the run folder already holds a run;
// 6 the model cannot be exported (an op with no ONNX mapping, a graph that depends on the batch
// size); 64 bad usage. `apus train solver.prototxt` runs a Caffe solver (docs/caffe.md). Under
// `mpirun -np N`, `train` and `resume` of a configuration train on N processes (docs/distributed.md).
import Apus
import ApusConfig
import ApusData
import ApusDistributed
import ApusExchange
import ApusNN
import ApusTrain
import ArgumentParser
import Foundation

/// Runs `body`, turning every error into one line on standard error and its exit code.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        let (message, code): (String, Int32)
        switch error {
        case let e as ConfigError: (message, code) = (e.description, 3)
        case let e as ShapeError: (message, code) = (e.description, 3)
        case let e as CheckpointError: (message, code) = (e.description, 4)
        case let e as RunFolderError: (message, code) = (e.description, 5)
        case let e as DataError: (message, code) = (e.description, 1)
        case let e as TrainingError: (message, code) = (e.description, 1)
        case let e as ONNXError: (message, code) = (e.description, e.kind == .io ? 1 : 6)
        case let e as CaffeError: (message, code) = (e.description, e.kind == .io ? 1 : 3)
        default: (message, code) = ("\(error)", 1)
        }
        if let world, world.rank != 0 {
            // Usually every process fails the same way (a configuration error): rank 0 says it
            // and stops the job first; a failure of this process alone is said a moment later.
            sleep(2)
        }
        FileHandle.standardError.write("apus: \(rankPrefix)\(message)\n".data(using: .utf8)!)
        throw ExitCode(code)
    }
}

struct Apus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apus",
        abstract: "Train, test and use models described by a configuration file.",
        discussion: "Exit codes: 0 success, 1 runtime failure (data, training, NaN loss), 3 configuration error, 4 checkpoint problem, 5 the run folder already holds a run, 6 the model cannot be exported to ONNX, 64 bad usage. See docs/config.md and docs/onnx.md.",
        subcommands: [Train.self, Resume.self, Test.self, Predict.self, Summary.self, GraphCommand.self, Export.self, Plot.self])
}

struct ConfigArgument: ParsableArguments {
    @Argument(help: "The configuration file (YAML).") var config: String
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration value (repeatable): --set solver.momentum=0.9, --set model.layers[3].out_features=64.", valueName: "key.path=value"))
    var assignments: [String] = []
    @Option(help: "Override solver.epochs.") var epochs: Int?
    @Option(help: "Override solver.batch_size.") var batchSize: Int?
    @Option(help: "Override solver.learning_rate.") var learningRate: Double?

    /// Every override as `key.path=value`, the shortcuts first.
    var overrides: [String] {
        [epochs.map { "solver.epochs=\($0)" }, batchSize.map { "solver.batch_size=\($0)" },
         learningRate.map { "solver.learning_rate=\($0)" }].compactMap { $0 } + assignments
    }

    /// The experiment of the configuration file with the overrides applied.
    func experiment(_ extra: [String] = []) throws -> Experiment { try Experiment(configPath: config, overrides: overrides + extra) }
}

/// Every process of the job when `mpirun` started this one (nil otherwise, or when MPI fails to
/// start: then the error is this process's).
let world: Communicator? = Communicator.isLaunchedByMPI ? try? Communicator.world() : nil

/// "rank 1 of 2: " before the messages of a process other than rank 0 under `mpirun`.
var rankPrefix: String { world.map { $0.rank == 0 ? "" : "rank \($0.rank) of \($0.size): " } ?? "" }

/// Writes `message` and a line break to standard error.
func printWarning(_ message: String) { FileHandle.standardError.write(Data((message + "\n").utf8)) }

/// Trains `config` (from scratch or resuming; on every process of the job under `mpirun`),
/// then prints the test accuracy (and, for a fresh run, the checkpoint it comes from).
func trainThenTest(_ options: ConfigArgument, resume: Bool, overwrite: Bool = false, tensorBoard: Bool = false) throws {
    if options.config.hasSuffix(".prototxt") {
        try trainCaffe(options, resume: resume, tensorBoard: tensorBoard)
        return
    }
    try guarded {
        if Communicator.isLaunchedByMPI { _ = try Communicator.world() }   // MPI's own failure to start, as an error
        let experiment = try options.experiment(tensorBoard ? ["solver.checkpoint.tensorboard=true"] : [])
        try experiment.train(resume: resume, overwrite: overwrite, communicator: world)
        let accuracy = String(format: "test accuracy: %.2f %%", (try experiment.test()["accuracy"] ?? .nan) * 100)
        guard (world?.rank ?? 0) == 0 else { return }
        print(resume ? accuracy : "\(accuracy) (checkpoint \(try experiment.modelURL.path))")
    }
}

/// `apus train solver.prototxt`: a Caffe solver and its network, run by `CaffeSolver` (docs/caffe.md).
func trainCaffe(_ options: ConfigArgument, resume: Bool, tensorBoard: Bool) throws {
    try guarded {
        guard !resume && !tensorBoard && options.overrides.isEmpty else {
            throw CaffeError(.unsupported, "\(options.config): a Caffe solver takes no overrides, --tensorboard or resume (edit the solver)")
        }
        let outcome = try CaffeSolver(contentsOf: URL(fileURLWithPath: options.config)).train { print($0) }
        print(String(format: "test accuracy: %.2f %%", outcome.accuracy * 100) + (outcome.snapshots.last.map { " (snapshot \($0.path))" } ?? ""))
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the configuration, then train from scratch, checkpointing every epoch (or run a Caffe solver.prototxt: docs/caffe.md).")
    @OptionGroup var options: ConfigArgument
    @Flag(help: "Start over in a run folder that holds a run (its checkpoints and logs are deleted).") var overwrite = false
    @Flag(help: "Also write TensorBoard event files into the run folder's tensorboard/ (solver.checkpoint.tensorboard).") var tensorboard = false
    func run() throws { try trainThenTest(options, resume: false, overwrite: overwrite, tensorBoard: tensorboard) }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue training from the last checkpoint: same weights, optimizer state, epoch and data order.")
    @OptionGroup var options: ConfigArgument
    @Flag(help: "Also write TensorBoard event files into the run folder's tensorboard/ (solver.checkpoint.tensorboard).") var tensorboard = false
    func run() throws { try trainThenTest(options, resume: true, tensorBoard: tensorboard) }
}

struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate the last (or a given) checkpoint on the test set.")
    @OptionGroup var options: ConfigArgument
    @Option(help: "A checkpoint file (default: the configuration's last checkpoint).") var checkpoint: String?
    func run() throws {
        try guarded {
            let experiment = try options.experiment()
            let logs = try experiment.test(checkpoint: checkpoint.map { URL(fileURLWithPath: $0) })
            for key in logs.keys.sorted() { print(String(format: "%@: %.4f", key, logs[key]!)) }
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Use a trained model: classify an image (--image), answer a question about it (--image, --question), or sample text (--prompt).")
    @OptionGroup var options: ConfigArgument
    @Option(help: "An image file (PNG or JPEG): classified by an image classifier, or asked about with --question.") var image: String?
    @Option(help: "The question about the image, for a visual-question model.") var question: String?
    @Option(help: "Classes to list for --image alone, most likely first.") var top = 5
    @Option(help: "Text to continue, for a character language model.") var prompt: String?
    @Option(help: "Characters to sample after the prompt.") var length = 200
    @Option(help: "Sampling temperature (0: always the most likely character).") var temperature = 0.8
    @Option(help: "A checkpoint file (default: the configuration's last checkpoint).") var checkpoint: String?

    func validate() throws {
        guard (image != nil) != (prompt != nil), question == nil || image != nil else {
            throw ValidationError("give --image (with --question for a visual-question model), or --prompt")
        }
        guard top > 0 else { throw ValidationError("--top must be positive") }
    }

    func run() throws {
        try guarded {
            let experiment = try options.experiment()
            let file = checkpoint.map { URL(fileURLWithPath: $0) }
            if let prompt {
                print(try experiment.generate(prompt: prompt, length: length, temperature: temperature, checkpoint: file))
            } else if let image, let question {
                let (answer, probability) = try experiment.answer(image: URL(fileURLWithPath: image), question: question,
                                                                  checkpoint: file, warn: printWarning)
                print(String(format: "%@ (%.1f %%)", answer, probability * 100))
            } else if let image {
                for (label, probability) in try experiment.classify(image: URL(fileURLWithPath: image), top: top, checkpoint: file, warn: printWarning) {
                    print(String(format: "%@ (%.1f %%)", label, probability * 100))
                }
            }
        }
    }
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the configuration and print the model's layers, shapes and parameter counts.")
    @OptionGroup var options: ConfigArgument
    func run() throws {
        try guarded { print(try options.experiment().model.summary()) }
    }
}

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Write the model's optimised graph as Graphviz DOT (and SVG next to it when `dot` is installed).")
    @OptionGroup var options: ConfigArgument
    @Option(name: .shortAndLong, help: "The DOT file to write.") var output: String
    @Option(help: "Examples per batch in the traced graph.") var batch = 2
    @Flag(help: "The whole training step (forward, loss, backward, optimizer update) instead of the forward pass.") var step = false

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() throws {
        try guarded {
            let experiment = try options.experiment()
            let graph = try experiment.graph(batch: batch, trainingStep: step)
            let names = try experiment.graphNames(trainingStep: step)
            let url = URL(fileURLWithPath: output)
            let text = graph.dot(name: experiment.model.name, inputNames: names.inputs, capturedNames: names.captured)
            try AtomicFile.write(Data(text.utf8), to: url)
            print("wrote \(output) (\(graph.nodes.count) ops)")
            let svg = url.deletingPathExtension().appendingPathExtension("svg")
            let dot = Process()
            dot.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            dot.arguments = ["dot", "-Tsvg", url.path, "-o", svg.path]
            dot.standardError = FileHandle.nullDevice
            if (try? dot.run()) != nil {
                dot.waitUntilExit()
                if dot.terminationStatus == 0 { print("wrote \(svg.path)") }
            }
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the model's inference graph as an ONNX file (opset 17, dynamic batch); see docs/onnx.md.",
        discussion: "The weights come from --checkpoint, else the configuration's last checkpoint, else (with a warning) the initial weights.")
    @OptionGroup var options: ConfigArgument
    @Option(help: "The ONNX file to write.") var onnx: String
    @Option(help: "A checkpoint file (default: the configuration's last checkpoint).") var checkpoint: String?
    @Option(help: "Examples per batch when tracing (the file's batch axis is dynamic).") var batch = 1

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() throws {
        try guarded {
            let experiment = try options.experiment()
            if let checkpoint {
                try experiment.model.load(from: URL(fileURLWithPath: checkpoint))
            } else if let last = try? experiment.modelURL {
                try experiment.model.load(from: last)
            } else {
                printWarning("apus: no checkpoint in \(experiment.folder.path): exporting the initial (untrained) weights")
            }
            try experiment.model.exportONNX(to: URL(fileURLWithPath: onnx), batchSize: batch)
            print("wrote \(onnx) (inputs: \(experiment.model.onnxInputs().map { "\($0.name) [batch, \($0.shape.dropFirst().map(String.init).joined(separator: ", "))] \($0.dtype)" }.joined(separator: "; ")))")
        }
    }
}

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the training curves of a CSV log as SVG: losses above, the other metrics below.",
        discussion: "LOG is a run's log.csv (one row per epoch) or steps.csv (the loss of every training step).")
    @Argument(help: "A log.csv or steps.csv written by train.") var log: String
    @Option(name: .shortAndLong, help: "The SVG file to write.") var output: String
    func run() throws {
        try guarded {
            guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { throw DataError(log, "cannot read the log") }
            let url = URL(fileURLWithPath: log)   // titled by run folder and file: easy-vqa-config/log.csv
            let title = "Training curves: " + url.deletingLastPathComponent().lastPathComponent + "/" + url.lastPathComponent
            let svg: String
            do {
                svg = try TrainingCurves.svg(csv: text, title: title)
            } catch let error as TrainingError {
                throw TrainingError("\(log): \(error.description)")
            }
            try AtomicFile.write(Data(svg.utf8), to: URL(fileURLWithPath: output))
            print("wrote \(output)")
        }
    }
}

Apus.main()
