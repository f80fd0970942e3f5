import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain

let x = Tensor.normal([32, 784]), w = Tensor.normal([784, 10]) * 0.01, b = Tensor.zeros([10])
let images = Tensor.uniform([32, 784]), labels = Tensor(shape: [32], scalars: (0..<32).map { Int64($0 % 10) })

// 1. Any function of tensors (JAX's jit, MXNet's hybridize for a function).
let f = compile { xs in [(xs[0].matmul(w) + b).relu()] }
let y = f([x])[0]                               // traced on the first call for this shape

// 2. A module (MXNet's HybridBlock.hybridize()): forward and backward both compiled.
let net = Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
try net.hybridize()                             // throws for a module whose forward is not hybrid
let loss = crossEntropy(logits: net(images), labels: labels)
loss.backward()                                 // runs the compiled backward graph

// 3. A whole training step: forward, loss, gradients and the optimizer update in one graph.
let adam = Adam(parameters: net.parameters(), learningRate: 1e-3)
let step = CompiledTrainingStep(module: net, optimizer: adam, clipping: .norm(1)) { xs in
    [crossEntropy(logits: net(xs[0]), labels: xs[1])]
}
let stepLoss = try step([images, labels])[0]

// 4. Keras face and config files.
let input = Input("image", shape: [784])
let model = try Model(inputs: [input], outputs: [Linear(10, 10)(ReLU()(LazyLinear(10)(input)))])
let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters()), loss: .crossEntropy, target: "label")
let loader = DataLoader(TensorDataset(["image": images, "label": labels]), batchSize: 8, shuffle: true)
try trainer.fit(loader, epochs: 3, hybridize: true)   // or trainer.hybridize = true
//   solver: {optimizer: adam, …, hybridize: true}    (YAML; the default, auto, hybridizes)
