// Trains the CNN + LSTM visual question answering model of BENCHMARK.md on easy-VQA with the
// high-level API, then reports the test accuracy.
//
//   scripts/fetch-easy-vqa.sh && swift run -c release easy-vqa [data/easy-vqa] [epochs]
import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

do {
    let arguments = CommandLine.arguments.dropFirst()
    let root = URL(fileURLWithPath: arguments.first ?? "data/easy-vqa")
    let epochs = arguments.dropFirst().first.flatMap(Int.init) ?? 3
    let runs = URL(fileURLWithPath: "runs/easy-vqa")
    try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
    Random.seed(0)

    let train = try EasyVQA(root: root, split: "train")
    let test = try EasyVQA(root: root, split: "test", vocabulary: train.vocabulary)
    try train.vocabulary.save(to: runs.appendingPathComponent("vocabulary.json"))

    let model = try ReferenceModels.visualQuestionAnswering(vocabularySize: train.vocabulary.count, answers: train.answers.count)
    print(model.summary())
    let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 1e-3),
                          loss: .crossEntropy, metrics: [Accuracy()], target: "answer")
    let start = Date()
    try trainer.fit(DataLoader(train, batchSize: 32, shuffle: true, seed: 0),
                    validation: DataLoader(test, batchSize: 64), epochs: epochs,
                    callbacks: [CSVLogger(url: runs.appendingPathComponent("log.csv")),
                                ModelCheckpoint(path: runs.appendingPathComponent("best.safetensors").path,
                                                monitor: "val_accuracy", saveBestOnly: true),
                                TensorBoard(directory: runs.appendingPathComponent("tensorboard"))])
    let seconds = Date().timeIntervalSince(start)
    let csv = try String(contentsOf: runs.appendingPathComponent("log.csv"), encoding: .utf8)
    try TrainingCurves.svg(csv: csv, title: "easy-VQA").write(to: runs.appendingPathComponent("curves.svg"), atomically: true, encoding: .utf8)
    let accuracy = try trainer.evaluate(DataLoader(test, batchSize: 64))["accuracy"]!
    print(String(format: "test accuracy: %.2f %% after %d epochs (%.0f s per epoch); logs in %@", accuracy * 100, epochs,
                 seconds / Double(epochs), runs.path))
} catch {
    FileHandle.standardError.write("easy-vqa: \(error)\n".data(using: .utf8)!)
    exit(1)
}
