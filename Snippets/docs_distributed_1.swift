import Apus
import ApusData
import ApusDistributed
import ApusNN
import ApusOptimizers
import ApusTrain

let world = try Communicator.world()
let generator = RandomGenerator(seed: 0)
func examples(_ count: Int) -> TensorDataset {   // 8 features, 3 classes
    TensorDataset(["x": Tensor.normal([count, 8], generator: generator),
                   "label": Tensor(shape: [count], scalars: (0..<count).map { Int64($0 % 3) })])
}
let (data, testData) = (examples(256), examples(100))

let input = Input("x", shape: [8])
let model = try Model(inputs: [input], outputs: [Linear(32, 3)(ReLU()(Linear(8, 32)(input)))])
let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters()), loss: .crossEntropy,
                      metrics: [Accuracy()], target: "label")
trainer.group = try DataParallel(model, communicator: world)   // rank 0's weights everywhere
let train = try DataLoader(data, batchSize: 16, sampler: DistributedSampler(count: data.count, communicator: world, seed: 1))
let test = try DataLoader(testData, batchSize: 64,
                          sampler: DistributedSampler(count: testData.count, communicator: world, shuffle: false, remainder: .uneven))
try trainer.fit(train, validation: test, epochs: 3, hybridize: true)   // rank 0 prints
