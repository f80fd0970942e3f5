import Apus
import ApusData
import ApusNN
import Foundation
import Testing

/// IDX bytes (MNIST's format): images [n, rows, cols] of UInt8, or labels [n].
private func idx(images: [[UInt8]], rows: Int, columns: Int) -> Data {
    func u32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8((v >> $0) & 0xFF) } }
    return Data([0, 0, 8, 3] + u32(images.count) + u32(rows) + u32(columns) + images.flatMap { $0 })
}

private func idx(labels: [UInt8]) -> Data { Data([0, 0, 8, 1] + [24, 16, 8, 0].map { UInt8((labels.count >> $0) & 0xFF) } + labels) }

/// A folder with 8×8 "digits" (digit d: a bright column at x = d % 8, row band by d / 8) as IDX
/// files at the paths of Examples/mnist/lenet.yaml, and that configuration.
private func digitsWorkspace() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-digits-\(UUID().uuidString)")
    let data = folder.appendingPathComponent("data/digits")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    func digit(_ d: Int, _ variant: Int) -> [UInt8] {
        (0..<64).map { p in (p % 8 == d % 8 || (d >= 8 && p / 8 == 7)) ? UInt8(200 + variant * 5) : UInt8(variant * 3) }
    }
    for (split, count) in [("train", 60), ("test", 20)] {
        let labels = (0..<count).map { UInt8($0 % 10) }
        try idx(images: labels.enumerated().map { digit(Int($1), $0 % 4) }, rows: 8, columns: 8)
            .write(to: data.appendingPathComponent("\(split)-images.idx.gz"))
        try idx(labels: labels).write(to: data.appendingPathComponent("\(split)-labels.idx.gz"))
    }
    let config = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/mnist/lenet.yaml"), encoding: .utf8)
    try config.write(to: folder.appendingPathComponent("lenet.yaml"), atomically: true, encoding: .utf8)
    return folder
}

/// The command line a Keras or Caffe user expects: overrides, TensorBoard, classification,
/// validation splits, augmentation.
@Suite(.serialized) struct CLIHabitTests {
    @Test func predictClassifiesAnImageWithTheDigitsLeNet() throws {
        let folder = try digitsWorkspace()
        let trained = try apus(["train", "lenet.yaml", "--epochs", "2", "--set", "solver.checkpoint.folder=run"], in: folder)
        #expect(trained.status == 0, "\(trained.error)")
        let digit = try Image(width: 8, height: 8, channels: 1, pixels: (0..<64).map { $0 % 8 == 3 ? 200 : 0 }).pngData()
        try digit.write(to: folder.appendingPathComponent("three.png"))
        let run = try apus(["predict", "lenet.yaml", "--set", "solver.checkpoint.folder=run", "--image", "three.png"], in: folder)
        #expect(run.status == 0 && run.error.isEmpty, "\(run.error)")
        let lines = run.output.split(separator: "\n")
        #expect(lines.count == 5 && lines.allSatisfy { $0.range(of: #"^\d \(\d+\.\d %\)$"#, options: .regularExpression) != nil }, "\(run.output)")
        let big = try Image(width: 16, height: 16, channels: 3, pixels: Array(repeating: 128, count: 16 * 16 * 3)).pngData()
        try big.write(to: folder.appendingPathComponent("big.png"))
        let resized = try apus(["predict", "lenet.yaml", "--set", "solver.checkpoint.folder=run", "--image", "big.png", "--top", "2"], in: folder)
        #expect(resized.status == 0 && resized.output.split(separator: "\n").count == 2, "\(resized.error)")
        #expect(resized.error == "apus: warning: big.png was converted from 3 to 1 channels and resized from 16×16 to 8×8 for the model's input 'image' [1, 8, 8]\n",
                "\(resized.error)")
    }

    @Test func overridesFromTheCommandLine() throws {
        let folder = try workspace()
        let run = try apus(["train", "vqa.yaml", "--epochs", "1", "--batch-size", "4", "--learning-rate", "0.02",
                            "--set", "model.layers[3].out_features=8", "--set", "model.layers[5].hidden_size=8", "--set", "solver.checkpoint={folder: other, keep: 2}"], in: folder)
        #expect(run.status == 0, "\(run.error)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("other/state.json"))) as! [String: Any]
        #expect(state["epoch"] as? Int == 1)
        let steps = try String(contentsOf: folder.appendingPathComponent("other/steps.csv"), encoding: .utf8).split(separator: "\n")
        #expect(steps.count == 1 + 2)                              // 8 examples in batches of 4
        let (tensors, _) = try SafeTensors.read(from: folder.appendingPathComponent("other/epoch-1-model.safetensors"))
        #expect(tensors.values.contains { $0.shape == [8, 64] })  // 'seen' has 8 features now
        for (assignment, message) in [("solver", "expected key.path=value"), ("model.layers[99].x=1", "index 99 is out of range"),
                                      ("loss.x=1", "'x' is inside something that is not a mapping"), ("solver.epochs=[", "not valid YAML")] {
            let bad = try apus(["train", "vqa.yaml", "--overwrite", "--set", assignment], in: folder)
            #expect(bad.status == 3 && bad.error.contains(message) && bad.error.contains("--set \(assignment)"), "\(bad.error)")
        }
    }

    @Test func tensorBoardEventsFromTheCommandLine() throws {
        let folder = try workspace()
        #expect(try apus(["train", "vqa.yaml", "--tensorboard"], in: folder).status == 0)
        let events = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("run/tensorboard").path)
        #expect(events.contains { $0.hasPrefix("events.out.tfevents.") }, "\(events)")
    }

    @Test func validationSplitAugmentationAndWarningsForQuestions() throws {
        let folder = try workspace()
        let config = validConfig.replacingOccurrences(of: "question_length: 5}", with: """
            question_length: 5, validation_split: 0.25,
                   augment: [{type: random_crop, size: 8, padding: 1}, {type: horizontal_flip}],
                   normalize: {mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
            """)
        try config.write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        let run = try apus(["train", "vqa.yaml"], in: folder)
        #expect(run.status == 0, "\(run.error)")
        let steps = try String(contentsOf: folder.appendingPathComponent("run/steps.csv"), encoding: .utf8).split(separator: "\n")
        #expect(steps.count == 1 + 2 * 3)                          // 6 of the 8 training examples, batches of 2, 2 epochs
        let log = try String(contentsOf: folder.appendingPathComponent("run/log.csv"), encoding: .utf8)
        #expect(log.hasPrefix("epoch,accuracy,loss,val_accuracy,val_loss\n"), "\(log)")
        let predicted = try apus(["predict", "vqa.yaml", "--image", "data/test/images/0.png", "--question", "what colour is the blob shape now?"], in: folder)
        #expect(predicted.status == 0, "\(predicted.error)")
        #expect(predicted.error.contains("'colour', 'blob' never occurred in the training questions")
                && predicted.error.contains("the question has 7 words; the model reads the first 5"), "\(predicted.error)")
        try config.replacingOccurrences(of: "type: horizontal_flip", with: "type: horizontal_flop")
            .write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        let refused = try apus(["train", "vqa.yaml", "--overwrite"], in: folder)
        #expect(refused.status == 3 && refused.error.contains("unknown augmentation 'horizontal_flop' (did you mean 'horizontal_flip'?)"), "\(refused.error)")
    }
}
