import Apus
import ApusExchange
import ApusNN
import ApusTrain
import Foundation

let net = ResNet18(classes: 10, width: 16)
try net.exportONNX(to: URL(fileURLWithPath: "resnet18.onnx"), inputs: [ONNXInput("image", [1, 3, 32, 32])])

// Any forward function over a module's parameters, several inputs or outputs, another batch axis:
let lm = LSTMLanguageModel(vocabulary: 1000, width: 64, layers: 2)
try lm.exportONNX(to: URL(fileURLWithPath: "lm.onnx"), inputs: [ONNXInput("ids", [35, 1], dtype: .int64, batchAxis: 1)]) { [lm($0[0])] }

// A functional model: inputs named and shaped as the model's, outputs "output", "output_1", …
let vqa = try ReferenceModels.visualQuestionAnswering(vocabularySize: 1000, answers: 13)
try vqa.exportONNX(to: URL(fileURLWithPath: "vqa.onnx"))
