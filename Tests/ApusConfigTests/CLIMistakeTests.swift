import Apus
import ApusData
import ApusNN
import Foundation
import Testing

/// Writes `config` as the workspace's vqa.yaml.
private func write(_ config: String, in folder: URL) throws {
    try config.write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
}

/// Adds a fifth training image (`4.png`, a red square, or its first 60 bytes when `truncated`)
/// and (unless `questions` is false) two questions about it, at the end of the training split.
private func addFifthImage(to folder: URL, truncated: Bool, questions addQuestions: Bool = true) throws {
    let data = folder.appendingPathComponent("data/train")
    let png = try Image(width: 8, height: 8, channels: 3, pixels: Array(repeating: [220, 20, 20], count: 64).flatMap { $0 }).pngData()
    try (truncated ? png.prefix(60) : png).write(to: data.appendingPathComponent("images/4.png"))
    guard addQuestions else { return }
    let questions = data.appendingPathComponent("questions.json")
    let text = try String(contentsOf: questions, encoding: .utf8)
    try (String(text.dropLast()) + #", ["what color is the shape?", "red", 4], ["is the shape red?", "yes", 4]]"#)
        .write(to: questions, atomically: true, encoding: .utf8)
}

/// The tensors of a safetensors file, as bytes-exact Float arrays.
private func weights(_ url: URL) throws -> [String: [Float]] {
    try SafeTensors.read(from: url).tensors.mapValues { $0.scalars(as: Float.self) }
}

/// The user's mistakes on the command line: one line, a documented exit code, nothing earlier lost.
@Suite(.serialized) struct CLIMistakeTests {
    @Test func trainRefusesAFolderHoldingARunUnlessOverwriting() throws {
        let folder = try workspace()
        #expect(try apus(["train", "vqa.yaml"], in: folder).status == 0)
        let run = folder.appendingPathComponent("run")
        let before = try FileManager.default.contentsOfDirectory(atPath: run.path).sorted()
        let state = try Data(contentsOf: run.appendingPathComponent("state.json"))
        let again = try apus(["train", "vqa.yaml"], in: folder)
        #expect(again.status == 5)
        #expect(again.error.split(separator: "\n").count == 1 && again.error.contains("holds a run of 2 epochs")
                && again.error.contains("apus resume") && again.error.contains("--overwrite"), "\(again.error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path).sorted() == before)
        #expect(try Data(contentsOf: run.appendingPathComponent("state.json")) == state)
        let overwritten = try apus(["train", "vqa.yaml", "--overwrite"], in: folder)
        #expect(overwritten.status == 0, "\(overwritten.error)")
    }

    /// A class count that does not fit the data is a configuration error naming out_features,
    /// whether the first examples' labels show it (2 outputs) or only the data's last class (3).
    @Test(arguments: [2, 3]) func tooFewOutputClassesIsAConfigurationError(outputs: Int) throws {
        let folder = try workspace()
        try write(validConfig.replacingOccurrences(of: "out_features: classes", with: "out_features: \(outputs)"), in: folder)
        let run = try apus(["train", "vqa.yaml"], in: folder)
        #expect(run.status == 3)
        #expect(run.error == "apus: vqa.yaml: model: layer 'answer' gives \(outputs) classes (its out_features) but the data has 4 classes (labels 0..<4): set out_features: classes\n",
                "\(run.error)")
    }

    @Test func checkpointsKeepTheLatestAndTheBest() throws {
        let folder = try workspace()
        try write(validConfig.replacingOccurrences(of: "epochs: 2", with: "epochs: 4")
            .replacingOccurrences(of: "checkpoint: {folder: run}", with: "checkpoint: {folder: run, keep: 2, best: val_loss}"), in: folder)
        let result = try apus(["train", "vqa.yaml"], in: folder)
        #expect(result.status == 0, "\(result.error)")
        let run = folder.appendingPathComponent("run")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: run.path))
        #expect(files.isSuperset(of: ["epoch-3-model.safetensors", "epoch-3-optimizer.safetensors", "epoch-4-model.safetensors",
                                      "epoch-4-optimizer.safetensors", "best-model.safetensors"]))
        #expect(!files.contains("epoch-2-model.safetensors") && !files.contains("epoch-1-model.safetensors"))
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("state.json"))) as! [String: Any]
        let best = state["best"] as! [String: Any]
        let log = try String(contentsOf: run.appendingPathComponent("log.csv"), encoding: .utf8).split(separator: "\n")
        let column = log[0].split(separator: ",").firstIndex(of: "val_loss")!
        let losses = log.dropFirst().map { Double($0.split(separator: ",")[column])! }
        let value = (best["value"] as! NSNumber).doubleValue, lowest = losses.min()!
        #expect(Swift.abs(value - lowest) < 1e-12 && best["epoch"] as? Int == losses.firstIndex(of: lowest)! + 1, "\(best) \(losses)")
        let (_, metadata) = try SafeTensors.read(from: run.appendingPathComponent("best-model.safetensors"))
        #expect(metadata["epoch"] == String(best["epoch"] as! Int))
        let unknown = try workspace()
        try write(validConfig.replacingOccurrences(of: "checkpoint: {folder: run}", with: "checkpoint: {folder: run, best: val_acuracy}"), in: unknown)
        let refused = try apus(["train", "vqa.yaml"], in: unknown)
        #expect(refused.status == 3 && refused.error.contains("'val_acuracy' is not logged"), "\(refused.error)")
    }

    /// A truncated PNG stops training (exit 1, the file named) after a mid-epoch checkpoint; with
    /// the file repaired, `apus resume` ends with the weights and logs of a run never stopped.
    @Test func aCrashMidEpochLosesAtMostEveryStepsAndResumesExactly() throws {
        let config = validConfig.replacingOccurrences(of: "checkpoint: {folder: run}", with: "checkpoint: {folder: run, every_steps: 1}")
        let whole = try workspace(), crashed = try workspace()
        for folder in [whole, crashed] { try write(config, in: folder) }
        try addFifthImage(to: whole, truncated: false)
        try addFifthImage(to: crashed, truncated: true)
        #expect(try apus(["train", "vqa.yaml"], in: whole).status == 0)
        let failed = try apus(["train", "vqa.yaml"], in: crashed)
        #expect(failed.status == 1 && failed.error.split(separator: "\n").count == 1 && failed.error.contains("4.png"), "\(failed.error)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: crashed.appendingPathComponent("run/state.json"))) as! [String: Any]
        let progress = try #require(state["progress"] as? [String: Any], "no mid-epoch checkpoint before the bad image")
        #expect((progress["step"] as! Int) > 0 && state["epoch"] as? Int == 0)
        try addFifthImage(to: crashed, truncated: false, questions: false)   // repaired
        let resumed = try apus(["resume", "vqa.yaml"], in: crashed)
        #expect(resumed.status == 0, "\(resumed.error)")
        for file in ["run/epoch-2-model.safetensors", "run/epoch-2-optimizer.safetensors"] {
            #expect(try weights(crashed.appendingPathComponent(file)) == weights(whole.appendingPathComponent(file)), "\(file)")
        }
        for file in ["run/log.csv", "run/steps.csv"] {
            #expect(try String(contentsOf: crashed.appendingPathComponent(file), encoding: .utf8)
                    == String(contentsOf: whole.appendingPathComponent(file), encoding: .utf8), "\(file)")
        }
    }

    @Test func badExamplesAreSkippedAndNamedWhenAsked() throws {
        let folder = try workspace()
        try write(validConfig.replacingOccurrences(of: "question_length: 5}", with: "question_length: 5, on_bad_example: skip}"), in: folder)
        try addFifthImage(to: folder, truncated: true)
        let run = try apus(["train", "vqa.yaml"], in: folder)
        #expect(run.status == 0, "\(run.error)")
        let epochLines = run.output.split(separator: "\n").filter { $0.hasPrefix("Epoch ") }
        #expect(epochLines.count == 2 && epochLines.allSatisfy { $0.contains("skipped 2 bad examples:") && $0.contains("images/4.png") }, "\(run.output)")
        let log = try String(contentsOf: folder.appendingPathComponent("run/log.csv"), encoding: .utf8).split(separator: "\n")
        let header = log[0].split(separator: ","), row = log[1].split(separator: ",", omittingEmptySubsequences: false)
        #expect(row[header.firstIndex(of: "skipped")!] == "2.0")
        #expect(row[header.firstIndex(of: "skipped_files")!].contains("4.png"))
        try write(validConfig.replacingOccurrences(of: "question_length: 5}", with: "question_length: 5, on_bad_example: ignore}"), in: folder)
        let refused = try apus(["train", "vqa.yaml", "--overwrite"], in: folder)
        #expect(refused.status == 3 && refused.error.contains("on_bad_example: must be stop or skip, got 'ignore'"), "\(refused.error)")
    }

    @Test func divergingTrainingWarnsAndANonFiniteLossStopsAtOnce() throws {
        let folder = try workspace()
        try write(validConfig.replacingOccurrences(of: "learning_rate: 0.01", with: "learning_rate: 1000000"), in: folder)
        let warned = try apus(["train", "vqa.yaml"], in: folder)
        #expect(warned.error.components(separatedBy: "warning: the loss grew").count == 2, "\(warned.error)")
        let nan = try workspace()
        try write(validConfig.replacingOccurrences(of: "optimizer: adam, learning_rate: 0.01", with: "optimizer: sgd, learning_rate: 1e38"), in: nan)
        let stopped = try apus(["train", "vqa.yaml"], in: nan)
        #expect(stopped.status == 1, "\(stopped.error)")
        #expect(stopped.error.contains("the loss became") && stopped.error.contains("epoch 1, step"), "\(stopped.error)")
        #expect(!stopped.output.contains("Epoch 1/2 4/4"), "evaluated after a non-finite loss: \(stopped.output)")
    }
}
