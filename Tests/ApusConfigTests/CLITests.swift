import Apus
import ApusData
import ApusNN
import ApusTestSupport
import Foundation
import Testing

/// The `apus` binary built next to the tests: beside the test runner (so any `--build-path`
/// works, such as `scripts/sanitize.sh`'s), else in `.build/debug`.
let apusBinary: URL = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("apus")
    if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/apus")
}()

struct Run {
    let status: Int32
    let output: String
    let error: String
}

/// Runs `apus arguments…` in `folder` and waits for it; with `ranks`, as that many processes
/// under `mpirun` (one compute thread each).
func apus(_ arguments: [String], in folder: URL, ranks: Int? = nil) throws -> Run {
    let process = Process()
    if let ranks, let mpirun {
        process.executableURL = mpirun
        process.arguments = mpirunOptions + ["-np", "\(ranks)", "-x", "APUS_NUM_THREADS=1", apusBinary.path] + arguments
        process.environment = mpirunEnvironment
    } else {
        process.executableURL = apusBinary
        process.arguments = arguments
    }
    process.currentDirectoryURL = folder
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile(), errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self), error: String(decoding: errData, as: UTF8.self))
}

/// A folder holding a tiny easy-VQA data set (8×8 images) and a valid config for it.
func workspace(answersInQuestions: [String] = ["red", "blue", "yes", "no"]) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-cli-\(UUID().uuidString)")
    let data = folder.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: data.appendingPathComponent("train/images"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: data.appendingPathComponent("test/images"), withIntermediateDirectories: true)
    try "red\nblue\nyes\nno\n".write(to: data.appendingPathComponent("answers.txt"), atomically: true, encoding: .utf8)
    var questions: [String] = []
    for id in 0..<4 {
        let red = id % 2 == 0
        var pixels: [UInt8] = []
        for _ in 0..<64 { pixels += red ? [220, 20, 20] : [20, 20, 220] }
        let png = try Image(width: 8, height: 8, channels: 3, pixels: pixels).pngData()
        for split in ["train", "test"] { try png.write(to: data.appendingPathComponent("\(split)/images/\(id).png")) }
        let color = answersInQuestions[red ? 0 : 1]
        questions += [#"["what color is the shape?", "\#(color)", \#(id)]"#, #"["is the shape red?", "\#(red ? "yes" : "no")", \#(id)]"#]
    }
    let json = "[" + questions.joined(separator: ", ") + "]"
    for split in ["train", "test"] { try json.write(to: data.appendingPathComponent("\(split)/questions.json"), atomically: true, encoding: .utf8) }
    try validConfig.write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
    return folder
}

let validConfig = """
data: {reader: easy-vqa, root: data, question_length: 5}
model:
  inputs:
    image: [3, 8, 8]
    question: {shape: [5], dtype: int64}
  layers:
    - {name: conv1, type: conv2d, input: image, out_channels: 4, kernel_size: 3, padding: 1, activation: relu}
    - {name: pool1, type: maxpool2d, kernel_size: 2}
    - {name: flat, type: flatten}
    - {name: seen, type: linear, out_features: 16, activation: relu}
    - {name: words, type: embedding, input: question, features: 8}
    - {name: asked, type: lstm, hidden_size: 16}
    - {name: merged, type: multiply, inputs: [seen, asked]}
    - {name: answer, type: linear, out_features: classes}
loss: cross_entropy
metrics: [accuracy]
solver: {optimizer: adam, learning_rate: 0.01, epochs: 2, batch_size: 2, seed: 3, checkpoint: {folder: run}}

"""

/// The 8 step losses of an eager run and a hybridized one (each folder's `run/steps.csv`) agree
/// within 1e-4 relative.
private func expectSameStepLosses(_ eager: URL, _ hybrid: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    func losses(_ folder: URL) throws -> [Double] {
        try String(contentsOf: folder.appendingPathComponent("run/steps.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[2])! }
    }
    let a = try losses(eager), b = try losses(hybrid)
    #expect(a.count == 8 && b.count == 8, sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(Swift.abs(x - y) <= 1e-4 * Swift.max(1, Swift.abs(x)), "\(a) vs \(b)", sourceLocation: sourceLocation)
    }
}

@Suite(.serialized) struct CLITests {
    @Test func trainWritesACheckpointAndTestReadsIt() throws {
        let folder = try workspace()
        let train = try apus(["train", "vqa.yaml"], in: folder)
        #expect(train.status == 0, "\(train.error)")
        #expect(train.output.contains("test accuracy:"))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("run/epoch-2-model.safetensors").path))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("run/epoch-2-optimizer.safetensors").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("run/epoch-1-model.safetensors").path))
        let log = try String(contentsOf: folder.appendingPathComponent("run/log.csv"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 3)
        let test = try apus(["test", "vqa.yaml"], in: folder)
        #expect(test.status == 0 && test.output.contains("accuracy:"), "\(test.error)")
        let predict = try apus(["predict", "vqa.yaml", "--image", "data/test/images/0.png", "--question", "is the shape red?"], in: folder)
        #expect(predict.status == 0 && predict.output.contains("%"), "\(predict.error)")
        let plot = try apus(["plot", "run/log.csv", "-o", "curves.svg"], in: folder)
        #expect(plot.status == 0 && FileManager.default.fileExists(atPath: folder.appendingPathComponent("curves.svg").path))
        let curves = try String(contentsOf: folder.appendingPathComponent("curves.svg"), encoding: .utf8)
        #expect(curves.contains(#"id="panel-loss""#) && curves.contains(#"id="panel-accuracy""#))
        let steps = try apus(["plot", "run/steps.csv", "-o", "steps.svg"], in: folder)
        #expect(steps.status == 0, "\(steps.error)")
        let stepCurves = try String(contentsOf: folder.appendingPathComponent("steps.svg"), encoding: .utf8)
        #expect(stepCurves.contains("<title>loss</title>") && !stepCurves.contains("<title>step</title>") && !stepCurves.contains("<title>epoch</title>"))
        let notALog = try apus(["plot", "vqa.yaml", "-o", "bad.svg"], in: folder)
        #expect(notALog.status == 1 && notALog.error.hasPrefix("apus: vqa.yaml: ") && notALog.error.split(separator: "\n").count == 1, "\(notALog.error)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("bad.svg").path))
        let summary = try apus(["summary", "vqa.yaml"], in: folder)
        #expect(summary.output.contains("Total params:"))
    }

    @Test func characterLanguageModelTrainsAndSamples() throws {
        let folder = try workspace()
        try String(repeating: "the cat sat on the mat. ", count: 40).write(to: folder.appendingPathComponent("corpus.txt"), atomically: true, encoding: .utf8)
        try """
        data: {reader: text, path: corpus.txt, sequence_length: 10, test_fraction: 0.2}
        model:
          inputs: {input: {shape: [10], dtype: int64}}
          layers:
            - {type: embedding, features: 8}
            - {type: lstm, hidden_size: 32, return_sequences: true}
            - {type: linear, out_features: classes}
        solver: {optimizer: adam, learning_rate: 0.02, epochs: 30, batch_size: 8, checkpoint: {folder: lm}}
        """.write(to: folder.appendingPathComponent("lm.yaml"), atomically: true, encoding: .utf8)
        let train = try apus(["train", "lm.yaml"], in: folder)
        #expect(train.status == 0, "\(train.error)")
        let sample = try apus(["predict", "lm.yaml", "--prompt", "the cat ", "--length", "16", "--temperature", "0"], in: folder)
        #expect(sample.status == 0, "\(sample.error)")
        #expect(sample.output.hasPrefix("the cat sat on the"), "\(sample.output)")   // a repeated phrase is learnt
        #expect(try apus(["predict", "lm.yaml"], in: folder).status == 64)
    }

    @Test func resumeGivesTheSameStepLossesAsAnUninterruptedRun() throws {
        let whole = try workspace()
        #expect(try apus(["train", "vqa.yaml"], in: whole).status == 0)
        let split = try workspace()
        try validConfig.replacingOccurrences(of: "epochs: 2", with: "epochs: 1").write(to: split.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        #expect(try apus(["train", "vqa.yaml"], in: split).status == 0)
        try validConfig.write(to: split.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        let resumed = try apus(["resume", "vqa.yaml"], in: split)
        #expect(resumed.status == 0, "\(resumed.error)")
        let a = try String(contentsOf: whole.appendingPathComponent("run/steps.csv"), encoding: .utf8)
        let b = try String(contentsOf: split.appendingPathComponent("run/steps.csv"), encoding: .utf8)
        #expect(a.split(separator: "\n").count == 9)   // header + 2 epochs × 4 steps
        #expect(a == b)
        #expect(try apus(["resume", "vqa.yaml"], in: split).error.contains("training already finished"))
    }

    /// Each broken configuration gets its own one-line message and a non-zero exit.
    @Test(arguments: [
        ("", "cannot read the configuration file", "missing.yaml"),
        ("model: [unclosed", "malformed YAML", nil),
        ("modle: {}\n", "unknown option 'modle' (did you mean 'model'?)", nil),
        ("type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, activation: relu}", "model.layers[0] (conv1): unknown layer type 'conv3d' (did you mean 'conv2d'?)", "conv3d"),
        ("", "model.layers[0] (conv1): unknown option 'kernal_size' (did you mean 'kernel_size'?)", "kernal"),
        ("", "model.layers[0] (conv1).out_channels: expected an integer, got the text 'many'", "many"),
        ("", "model.layers[0] (conv1): input 'imgae' is neither a model input nor a layer (did you mean 'image'?)", "imgae"),
        ("", "wiring cycle: pool1 → flat → pool1", "cycle"),
        ("", "mul: got shapes [2, 16], [2, 8]; shapes must broadcast", "shapes"),
        ("", "data: data folder", "nodata"),
        ("", "answer 'purple' is not in answers.txt", "answer"),
        ("", "data.question_padding: must be pre or post, got 'left'", "padding"),
        ("", "solver.optimizer: unknown optimizer 'adma' (did you mean 'adam'?)", "adma"),
        ("", "solver: learning_rate must be positive, got -0.1", "lr"),
        ("", "model.inputs.image: declared [3, 16, 16] float32 but the data gives [3, 8, 8] float32", "size"),
        ("", "solver.epochs: expected an integer, got the text 'three'", "epochs"),
        ("", "solver.seed: must be at least 0, got -1", "seed"),
        ("", "model.layers[4] (asked): lstm needs float32 input (an embedding's output), got int64", "lstmints"),
        ("", "the model's output does not fit the loss 'mse'", "mse"),
        ("", "solver: give clip_grad_norm or clip_grad_value, not both", "clipboth"),
        ("", "solver: clip_grad_norm must be a positive number, got -1.0", "clipnegative"),
        ("", "solver.hybridize: expected true, false or auto, got the text 'sometimes'", "hybridwhat"),
    ] as [(String, String, String?)])
    func brokenConfigurations(_ extra: String, _ message: String, _ variant: String?) throws {
        let folder = try workspace(answersInQuestions: variant == "answer" ? ["purple", "blue"] : ["red", "blue", "yes", "no"])
        var config = validConfig
        switch variant {
        case "conv3d": config = config.replacingOccurrences(of: "type: conv2d", with: "type: conv3d")
        case "kernal": config = config.replacingOccurrences(of: "kernel_size: 3", with: "kernal_size: 3")
        case "many": config = config.replacingOccurrences(of: "out_channels: 4", with: "out_channels: many")
        case "imgae": config = config.replacingOccurrences(of: "input: image,", with: "input: imgae,")
        case "cycle": config = config.replacingOccurrences(of: "{name: pool1, type: maxpool2d,", with: "{name: pool1, type: maxpool2d, input: flat,")
        case "shapes": config = config.replacingOccurrences(of: "hidden_size: 16", with: "hidden_size: 8")
        case "padding": config = config.replacingOccurrences(of: "question_length: 5}", with: "question_length: 5, question_padding: left}")
        case "nodata": config = config.replacingOccurrences(of: "root: data", with: "root: nowhere")
        case "adma": config = config.replacingOccurrences(of: "optimizer: adam", with: "optimizer: adma")
        case "lr": config = config.replacingOccurrences(of: "learning_rate: 0.01", with: "learning_rate: -0.1")
        case "size": config = config.replacingOccurrences(of: "image: [3, 8, 8]", with: "image: [3, 16, 16]")
        case "epochs": config = config.replacingOccurrences(of: "epochs: 2", with: "epochs: three")
        case "seed": config = config.replacingOccurrences(of: "seed: 3", with: "seed: -1")
        case "lstmints": config = config.replacingOccurrences(of: "    - {name: words, type: embedding, input: question, features: 8}\n", with: "").replacingOccurrences(of: "{name: asked, type: lstm,", with: "{name: asked, type: lstm, input: question,").replacingOccurrences(of: "question: {shape: [5], dtype: int64}", with: "question: {shape: [5, 1], dtype: int64}")
        case "mse": config = config.replacingOccurrences(of: "loss: cross_entropy", with: "loss: mse")
        case "hybridwhat": config = config.replacingOccurrences(of: "seed: 3,", with: "seed: 3, hybridize: sometimes,")
        case "clipboth": config = config.replacingOccurrences(of: "seed: 3,", with: "seed: 3, clip_grad_norm: 1, clip_grad_value: 0.5,")
        case "clipnegative": config = config.replacingOccurrences(of: "seed: 3,", with: "seed: 3, clip_grad_norm: -1,")
        case nil: config = extra
        default: break
        }
        if variant != "missing.yaml" { try config.write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8) }
        let run = try apus(["train", variant == "missing.yaml" ? "missing.yaml" : "vqa.yaml"], in: folder)
        #expect(run.status != 0)
        let lines = run.error.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got: \(run.error)")
        #expect(run.error.hasPrefix("apus: "), "\(run.error)")
        #expect(run.error.contains(message), "expected '\(message)' in: \(run.error)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("run/state.json").path))
    }

    /// Training hybridized (the default, `hybridize: auto`) gives the same step losses as
    /// `hybridize: false`; `apus graph` draws the forward pass and the step.
    @Test func hybridizedTrainingAndGraphExport() throws {
        let eager = try workspace(), hybrid = try workspace()
        try validConfig.replacingOccurrences(of: "seed: 3,", with: "seed: 3, hybridize: false,")
            .write(to: eager.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        for folder in [eager, hybrid] { #expect(try apus(["train", "vqa.yaml"], in: folder).status == 0) }
        try expectSameStepLosses(eager, hybrid)

        let forward = try apus(["graph", "vqa.yaml", "-o", "model.dot"], in: hybrid)
        #expect(forward.status == 0, "\(forward.error)")
        let dot = try String(contentsOf: hybrid.appendingPathComponent("model.dot"), encoding: .utf8)
        #expect(dot.hasPrefix("digraph") && dot.contains("conv2dBiasReLU") && dot.contains("lstmSequence") && !dot.contains("optimizerStep"))
        // Inputs by batch key, parameters by module path.
        #expect(dot.contains(#"label="image\n[2, 3, 8, 8]"#) && dot.contains(#"label="question\n[2, 5]"#), "\(dot)")
        #expect(dot.contains(#"label="layers.0.weight\n[4, 3, 3, 3]"#) && dot.contains(#"label="layers.8.bias\n[4]"#), "\(dot)")
        #expect(!dot.contains("input 0") && !dot.contains("captured"), "\(dot)")
        let step = try apus(["graph", "vqa.yaml", "--step", "--batch", "4", "-o", "step.dot"], in: hybrid)
        #expect(step.status == 0, "\(step.error)")
        let stepDot = try String(contentsOf: hybrid.appendingPathComponent("step.dot"), encoding: .utf8)
        #expect(stepDot.contains("optimizerStep") && stepDot.contains("conv2dWeightGradFromPool") && stepDot.contains("[4, 3, 8, 8]"))
        // The step's inputs: the batch (target included), then the parameters.
        #expect(stepDot.contains(#"label="image\n[4, 3, 8, 8]"#) && stepDot.contains(#"label="question\n[4, 5]"#), "\(stepDot)")
        #expect(stepDot.contains(#"label="layers.0.weight\n[4, 3, 3, 3]"#) && !stepDot.contains("input "), "\(stepDot)")
        #expect(try apus(["graph", "vqa.yaml", "--batch", "0", "-o", "x.dot"], in: hybrid).status == 64)
    }

    /// Dropout, batch normalisation and gradient clipping train hybridized (the default) with the
    /// losses of `hybridize: false`: masks follow the seed, running statistics update in the graph.
    @Test func dropoutBatchNormAndClippingTrainHybridizedAsEagerly() throws {
        let config = validConfig
            .replacingOccurrences(of: "    - {name: words,", with: "    - {name: norm, type: batchnorm1d}\n    - {name: drop, type: dropout, p: 0.3}\n    - {name: words,")
            .replacingOccurrences(of: "inputs: [seen, asked]", with: "inputs: [drop, asked]")
            .replacingOccurrences(of: "seed: 3,", with: "seed: 3, clip_grad_norm: 0.5,")
        let eager = try workspace(), hybrid = try workspace()
        try config.replacingOccurrences(of: "seed: 3,", with: "seed: 3, hybridize: false,")
            .write(to: eager.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        try config.write(to: hybrid.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        for folder in [eager, hybrid] {
            let run = try apus(["train", "vqa.yaml"], in: folder)
            #expect(run.status == 0, "\(run.error)")
        }
        try expectSameStepLosses(eager, hybrid)
    }

    @Test func killingTheProcessWhileCheckpointingLeavesALoadableCheckpoint() throws {
        let folder = try workspace()
        try validConfig.replacingOccurrences(of: "epochs: 2", with: "epochs: 400").write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        let state = folder.appendingPathComponent("run/state.json")
        for attempt in 0..<3 {
            let process = Process()
            process.executableURL = apusBinary
            process.arguments = [attempt == 0 ? "train" : "resume", "vqa.yaml"]
            process.currentDirectoryURL = folder
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: state.path) && Date() < deadline { usleep(20_000) }
            usleep(useconds_t(50_000 + attempt * 37_000))       // land somewhere inside later epochs' writes
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // The committed state names a complete checkpoint of one epoch: model and optimizer agree.
            let committed = try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as! [String: Any]
            let epoch = committed["epoch"] as! Int
            let (tensors, metadata) = try SafeTensors.read(from: folder.appendingPathComponent("run/\(committed["model"] as! String)"))
            #expect(!tensors.isEmpty && metadata["epoch"] == String(epoch))
            let (_, optimizerScalars) = try SafeTensors.read(from: folder.appendingPathComponent("run/\(committed["optimizer"] as! String)"))
            #expect(Double(optimizerScalars["stepCount"] ?? "") == Double(epoch * 4))
        }
    }
}
