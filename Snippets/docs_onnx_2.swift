import Apus
import ApusExchange
import ApusNN
import Foundation

// A file to import: here one Apus wrote; any ONNX file of the supported ops works the same.
let mlp = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
try mlp.exportONNX(to: URL(fileURLWithPath: "mlp.onnx"), inputs: [ONNXInput("x", [1, 4])])

let model = try ONNXModel(contentsOf: URL(fileURLWithPath: "mlp.onnx"))
print(model.inputNames, model.inputShapes)        // ["x"] [[nil, 4]]: nil is a dynamic dim
let x = Tensor.normal([2, 4]), labels = Tensor(shape: [2], scalars: [Int64(0), 2])
let loss = crossEntropy(logits: try model([x])[0], labels: labels)   // or model(["x": x]); throws ONNXError on a wrong input
loss.backward()                                     // gradients reach model.parameters()
print(model.parameters().allSatisfy { $0.grad != nil })   // true
