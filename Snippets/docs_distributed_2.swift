import Apus
import ApusData
import ApusDistributed
import ApusNN
import ApusOptimizers

let world = try Communicator.world()            // rank 0 of 1 without mpirun

// The same synthetic data on every rank: 256 examples of 8 features, 3 classes.
let generator = RandomGenerator(seed: 0)
let data = TensorDataset(["x": Tensor.normal([256, 8], generator: generator),
                          "y": Tensor(shape: [256], scalars: (0..<256).map { Int64($0 % 3) })])

let model = Sequential(Linear(8, 32), ReLU(), Linear(32, 3))
let parallel = try DataParallel(model, communicator: world)   // every rank starts from rank 0's weights
let optimizer = SGD(parameters: model.parameters(), learningRate: 0.1, momentum: 0.9)
let sampler = try DistributedSampler(count: data.count, communicator: world, seed: 42)
let loader = try DataLoader(data, batchSize: 16, sampler: sampler)   // 16 per rank

for epoch in 0..<3 {
    let batches = loader.epoch(epoch)
    var lossSum = 0.0, seen = 0
    while let batch = try batches.next() {
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(batch["x"]!), labels: batch["y"]!)
        try parallel.backward(loss)            // gradients averaged over the ranks
        optimizer.step()                       // the same step on every rank
        let examples = batch["y"]!.shape[0]
        lossSum += loss.item() * Double(examples)
        seen += examples
    }
    let logs = try world.averaged(["loss": lossSum / Double(seen)], weight: Double(seen))
    if world.rank == 0 { print("epoch \(epoch + 1): loss \(logs["loss"]!)") }
}
