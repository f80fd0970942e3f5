import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

/// Accuracy parity with the PyTorch reference from the same start:
///
///     apus-bench vqa-parity --start DIR [--data data/easy-vqa]
///
/// trains the reference VQA model on easy-VQA (hybridized, batch 32, Adam 1e-3) from the
/// initial weights (`DIR/weights.safetensors`, Apus parameter names) and the per-epoch example
/// orders (`DIR/order.safetensors`: "order", Int64 [epochs, train questions]) that
/// `Benchmarks/vqa/pytorch_reference.py --export-start DIR` wrote before its own training.
/// With initialisation and data order shared, any difference between the two runs comes from
/// the arithmetic alone. Prints one JSON line: per epoch the train loss, train and test
/// accuracy; and every step's loss.
enum VQAParity {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Records each training step's loss.
    final class StepLosses: Callback {
        var values: [Double] = []
        func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) -> Bool {
            values.append(logs["loss"] ?? .nan)
            return false
        }
    }

    static func run(peers _: [String: Any]) -> String {
        do {
            return try train()
        } catch {
            FileHandle.standardError.write("apus-bench vqa-parity: \(error)\n".data(using: .utf8)!)
            exit(1)
        }
    }

    static func train() throws -> String {
        guard let start = option("--start").map(URL.init(fileURLWithPath:)) else {
            throw Failure(description: "--start DIR is required (written by pytorch_reference.py --export-start DIR)")
        }
        let root = URL(fileURLWithPath: option("--data") ?? "data/easy-vqa")
        let train = try EasyVQA(root: root, split: "train")
        let test = try EasyVQA(root: root, split: "test", vocabulary: train.vocabulary)
        let model = try ReferenceModels.visualQuestionAnswering(vocabularySize: train.vocabulary.count, answers: train.answers.count)
        try model.load(from: start.appendingPathComponent("weights.safetensors"))

        let orderFile = start.appendingPathComponent("order.safetensors")
        guard let order = try SafeTensors.read(from: orderFile).tensors["order"], order.dtype == .int64, order.rank == 2,
              order.shape[1] == train.count else {
            throw Failure(description: "\(orderFile.path): expected \"order\", Int64 [epochs, \(train.count)]")
        }
        let flat = order.scalars(as: Int64.self).map(Int.init)
        let orders = (0..<order.shape[0]).map { Array(flat[($0 * train.count)..<(($0 + 1) * train.count)]) }
        guard orders.allSatisfy({ $0.sorted() == Array(0..<train.count) }) else {
            throw Failure(description: "\(orderFile.path): each epoch's order must be a permutation of 0..<\(train.count)")
        }

        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 1e-3),
                              loss: .crossEntropy, metrics: [Accuracy()], target: "answer")
        trainer.verbose = false
        let losses = StepLosses()
        let history = try trainer.fit(DataLoader(train, batchSize: 32, sampler: { orders[$0] }),
                                      validation: DataLoader(test, batchSize: 64), epochs: orders.count,
                                      callbacks: [losses], hybridize: true)
        let epochs = (0..<orders.count).map { e -> [String: Any] in
            ["epoch": e + 1, "train_loss": history.values["loss"]![e], "train_accuracy": history.values["accuracy"]![e],
             "test_accuracy": history.values["val_accuracy"]![e]]
        }
        let json: [String: Any] = ["framework": "apus", "mode": "hybridized", "epochs": epochs, "step_losses": losses.values]
        return String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
    }
}
