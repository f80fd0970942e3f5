import Apus
import ApusData
import ApusDistributed
import ApusNN
import ApusOptimizers
import ApusTrain

/// `Trainer.fit` with a `DataParallel` group, eager and in graph mode (`hybridize`: the
/// gradients averaged inside the compiled step), batch B per rank, against one process with
/// batch N·B: the same parameters after 10 steps (within 1e-5), the same epoch logs (loss and
/// accuracy over all ranks' examples, validation included), identical parameters on every rank.
func checkTrainer(_ world: Communicator) throws {
    for hybridize in [false, true] {
        let perRank = 4, steps = 10, seed: UInt64 = 11
        let count = perRank * world.size * steps
        let data = syntheticData(count: count), validation = syntheticData(count: 13)

        func trainer(_ model: SmallMLP) -> Trainer {
            let trainer = Trainer(module: model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.01), loss: .crossEntropy,
                                  metrics: [Accuracy()], target: "y") { model($0["x"]!) }
            trainer.verbose = false
            return trainer
        }
        let model = SmallMLP(seed: 1 + UInt64(world.rank))
        let distributed = trainer(model)
        distributed.group = try DataParallel(model, communicator: world, bucketCapacity: 256)
        let loader = try DataLoader(data, batchSize: perRank, sampler: DistributedSampler(count: count, communicator: world, seed: seed), workers: 0)
        let validationLoader = try DataLoader(validation, batchSize: 5,
                                              sampler: DistributedSampler(count: 13, communicator: world, shuffle: false, remainder: .uneven), workers: 0)
        let logs = try distributed.fit(loader, validation: validationLoader, epochs: 1, hybridize: hybridize).values.mapValues { $0[0] }
        try expect(distributed.compiledStep != nil || !hybridize, "hybridize: no compiled step ran")

        let mine = Tensor.concat(model.parameters().map { $0.value.reshaped([-1]) })
        let everyone = try world.allGather(mine).scalars(as: Double.self)
        for rank in 0..<world.size {
            try expectClose(Array(everyone[(rank * mine.count)..<((rank + 1) * mine.count)]), mine.scalars(as: Double.self), tolerance: 0,
                            "hybridize \(hybridize): rank \(rank)'s parameters against rank \(world.rank)'s")
        }

        let referenceModel = SmallMLP(seed: 1)
        let reference = trainer(referenceModel)
        let referenceLogs = try reference.fit(DataLoader(data, batchSize: perRank * world.size, shuffle: true, seed: seed, workers: 0),
                                              validation: DataLoader(validation, batchSize: 5, workers: 0), epochs: 1,
                                              hybridize: hybridize).values.mapValues { $0[0] }
        try expect(logs.keys.sorted() == referenceLogs.keys.sorted(), "hybridize \(hybridize): logs \(logs.keys.sorted())")
        for key in logs.keys.sorted() {
            try expectClose([logs[key]!], [referenceLogs[key]!], tolerance: 1e-5, "hybridize \(hybridize): \(key) against one process")
        }
        try expectClose(flatParameters(model), flatParameters(referenceModel), tolerance: 1e-5,
                        "hybridize \(hybridize): parameters after \(steps) steps against one process with batch \(perRank * world.size)")
    }
}
