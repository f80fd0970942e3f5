import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation

let image = Input("image", shape: [3, 64, 64])
let question = Input("question", shape: [12], dtype: .int64)
var x = image
for (c, o) in [(3, 32), (32, 64), (64, 128)] { x = MaxPool2d(2)(ReLU()(Conv2d(c, o, kernelSize: 3, padding: 1)(x))) }
let pictured = ReLU()(Linear(128 * 8 * 8, 256)(Flatten()(x)))
let asked = LSTM(inputSize: 128, hiddenSize: 256, batchFirst: true, returnsSequences: false)(Embedding(28, 128)(question))
let merged = ReLU()(Linear(256, 256)(Multiply()([pictured, asked])))
let model = try Model(inputs: [image, question], outputs: [Linear(256, 13)(merged)])
print(model.summary())

let train = try EasyVQA(root: URL(fileURLWithPath: "data/easy-vqa"), split: "train")
let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters()), loss: .crossEntropy,
                      metrics: [Accuracy()], target: "answer")
try trainer.fit(DataLoader(train, batchSize: 32, shuffle: true), epochs: 3, callbacks: [CSVLogger(url: URL(fileURLWithPath: "log.csv"))])

for batch in DataLoader(train, batchSize: 4).epoch(0).prefix(1) {     // a DataLoader is a Sequence of batches
    let answers = try model(batch.tensors)[0].argmax(axis: -1)           // [4] class ids
    print(answers.scalars(as: Int.self), try batch.answer.scalars(as: Int.self))
}
