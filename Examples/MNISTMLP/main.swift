// An MLP on MNIST-format (IDX) data with the high-level API.
//
//   swift run -c release mnist-mlp TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES TEST_LABELS [epochs]
//
// Works with MNIST / Fashion-MNIST files (gzipped or not). Without MNIST at hand,
// scripts/make-digits-idx.py writes scikit-learn's 8×8 handwritten digits in the same format
// (it needs scikit-learn: python3 -m pip install scikit-learn).
import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count >= 4 else {
        FileHandle.standardError.write("usage: mnist-mlp TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES TEST_LABELS [epochs]\n".data(using: .utf8)!)
        exit(2)
    }
    let url = { (i: Int) in URL(fileURLWithPath: arguments[i]) }
    let train = try MNIST(images: url(0), labels: url(1)), test = try MNIST(images: url(2), labels: url(3))
    Random.seed(0)
    let pixels = Input("image", shape: [1, train.rows, train.columns])
    let hidden = Dropout(0.2)(ReLU()(Linear(train.rows * train.columns, 256)(Flatten()(pixels))))
    let model = try Model(inputs: [pixels], outputs: [Linear(128, 10)(ReLU()(Linear(256, 128)(hidden)))], name: "mlp")
    print(model.summary())
    let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 1e-3),
                          loss: .crossEntropy, metrics: [Accuracy(), TopKAccuracy(k: 3)], target: "label")
    let epochs = arguments.count > 4 ? Int(arguments[4]) ?? 10 : 10
    try trainer.fit(DataLoader(train, batchSize: 64, shuffle: true, seed: 0), validation: DataLoader(test, batchSize: 256),
                    epochs: epochs, callbacks: [EarlyStopping(monitor: "val_loss", patience: 3)])
    print(String(format: "test accuracy: %.2f %%", try trainer.evaluate(DataLoader(test, batchSize: 256))["accuracy"]! * 100))
} catch {
    FileHandle.standardError.write("mnist-mlp: \(error)\n".data(using: .utf8)!)
    exit(1)
}
