import Apus
import ApusData
import ApusDistributed
import ApusNN
import ApusOptimizers

/// A two-layer perceptron: [B, 8] → [B, 3] logits.
final class SmallMLP: Module {
    let hidden: Linear, output: Linear

    init(seed: UInt64) {
        let generator = RandomGenerator(seed: seed)
        hidden = Linear(8, 16, generator: generator)
        output = Linear(16, 3, generator: generator)
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor { output(hidden(x).tanh()) }
}

/// `count` seeded examples: "x" [8] features, "y" a class in 0..<3.
func syntheticData(count: Int) -> TensorDataset {
    let generator = RandomGenerator(seed: 99)
    let x = Tensor.normal([count, 8], generator: generator)
    let y = Tensor(shape: [count], scalars: (0..<count).map { _ in Int64(generator.nextInt(below: 3)) })
    return TensorDataset(["x": x, "y": y])
}

/// All parameters of `model`, flattened into one Float64 list.
func flatParameters(_ model: Module) -> [Double] { model.parameters().flatMap { $0.value.scalars(as: Double.self) } }

/// Ten SGD (momentum) steps with batch B per rank through `DataParallel` and a
/// `DistributedSampler`, against one process taking the same steps with batch N·B: the
/// parameters agree within 1e-5, the loss averaged over ranks equals the big batch's loss, and
/// every rank ends with the same parameters. Even steps overlap the all-reduce with the backward
/// pass (`backward`), odd steps average afterwards (`averageGradients`).
func checkTraining(_ world: Communicator) throws {
    let perRank = 4, steps = 10, seed: UInt64 = 5
    let count = perRank * world.size * steps
    let data = syntheticData(count: count)
    let model = SmallMLP(seed: 1 + UInt64(world.rank))   // different weights until the broadcast
    // 256 bytes: the 512-byte hidden weight travels alone, the others share buckets.
    let parallel = try DataParallel(model, communicator: world, bucketCapacity: 256)
    try expect(parallel.bucketNames == [["output.bias", "output.weight"], ["hidden.bias"], ["hidden.weight"]],
               "buckets (reverse order, 256 bytes): \(parallel.bucketNames)")
    try expectClose(flatParameters(model), flatParameters(SmallMLP(seed: 1)), tolerance: 0, "parameters after the broadcast from rank 0")

    let optimizer = SGD(parameters: model.parameters(), learningRate: 0.1, momentum: 0.9)
    let sampler = try DistributedSampler(count: count, communicator: world, seed: seed)
    let loader = try DataLoader(data, batchSize: perRank, sampler: sampler, workers: 0)
    try expect(loader.batchCount == steps, "batches per rank: \(loader.batchCount)")
    var losses: [Double] = []
    let epoch = loader.epoch(0)
    while let batch = try epoch.next() {
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(batch["x"]!), labels: batch["y"]!)
        if losses.count % 2 == 0 {
            try parallel.backward(loss)
        } else {
            loss.backward()
            try parallel.averageGradients()
        }
        optimizer.step()
        losses.append(try world.averaged(["loss": loss.item()], weight: Double(perRank))["loss"]!)
    }
    try expect(losses.count == steps, "steps taken: \(losses.count)")

    // Every rank holds the same parameters.
    let mine = Tensor.concat(model.parameters().map { $0.value.reshaped([-1]) })
    let everyone = try world.allGather(mine).scalars(as: Double.self)
    let size = mine.count
    for rank in 0..<world.size {
        try expectClose(Array(everyone[(rank * size)..<((rank + 1) * size)]), mine.scalars(as: Double.self), tolerance: 0,
                        "rank \(rank)'s parameters against rank \(world.rank)'s")
    }

    // One process, batch N·B, the same seeded order: the same steps.
    guard world.rank == 0 else { return }
    let reference = SmallMLP(seed: 1)
    let referenceOptimizer = SGD(parameters: reference.parameters(), learningRate: 0.1, momentum: 0.9)
    let referenceLoader = DataLoader(data, batchSize: perRank * world.size, shuffle: true, seed: seed, workers: 0)
    var referenceLosses: [Double] = []
    let referenceEpoch = referenceLoader.epoch(0)
    while let batch = try referenceEpoch.next() {
        referenceOptimizer.zeroGrad()
        let loss = crossEntropy(logits: reference(batch["x"]!), labels: batch["y"]!)
        loss.backward()
        referenceOptimizer.step()
        referenceLosses.append(loss.item())
    }
    try expectClose(losses, referenceLosses, tolerance: 1e-5, "losses against one process with batch \(perRank * world.size)")
    try expectClose(flatParameters(model), flatParameters(reference), tolerance: 1e-5,
                    "parameters after \(steps) steps against one process with batch \(perRank * world.size)")
}
