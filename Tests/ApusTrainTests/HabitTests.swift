import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation
import Testing

/// A data set whose example 5 cannot be read.
private struct BrokenAtFive: Dataset {
    let count = 8
    func example(_ index: Int) throws -> Example {
        if index == 5 { throw DataError("5.png", "truncated") }
        return ["x": Tensor([Float(index)]), "label": Tensor(shape: [], scalars: [Int64(index % 2)])]
    }
}

/// What PyTorch and Keras users reach for first works as they expect.
@Suite struct HabitTests {
    @Test func forBatchInLoaderWithTypedAccessors() throws {
        let data = blobs(12, seed: 1)
        let loader = DataLoader(data, batchSize: 4, shuffle: true, seed: 3)
        var firstLoop: [[Int64]] = [], secondLoop: [[Int64]] = []
        for batch in loader {
            #expect(try batch.x.shape == [4, 2] && batch.count == 4 && batch.keys == ["label", "x"])
            firstLoop.append(try batch["label"].scalars(as: Int64.self))
        }
        for batch in loader { secondLoop.append(try batch.label.scalars(as: Int64.self)) }
        // Each loop is the next epoch, in the order `epoch(n)` gives.
        let epoch0 = loader.order(epoch: 0).map { Int64($0 % 2) }, epoch1 = loader.order(epoch: 1).map { Int64($0 % 2) }
        #expect(firstLoop.flatMap { $0 } == epoch0 && secondLoop.flatMap { $0 } == epoch1)
        let batch = try #require(Array(loader.epoch(0)).first)
        #expect(throws: DataError("<batch>", "no 'image' (the batch has [\"label\", \"x\"])")) { try batch.image }
        // A batch that fails to load throws its error from every accessor, and the loop ends.
        var seen = 0, failure: Error?
        for batch in DataLoader(BrokenAtFive(), batchSize: 2, workers: 0) {
            do { _ = try batch.x; seen += 1 } catch { failure = error }
        }
        #expect(seen == 2 && failure as? DataError == DataError("5.png", "truncated"))
        #expect(Tensor(shape: [], scalars: [Int64(7)]).item(as: Int.self) == 7)
    }

    @Test func lazyLayersInferTheirInputSize() throws {
        let x = Input("x", shape: [2, 4, 4])
        let features = LazyConv2d(3, kernelSize: 3, padding: 1, relu: true)(x)
        let output = LazyLinear(5)(Flatten()(features))
        #expect(features.shape == [3, 4, 4] && output.shape == [5])
        let model = try Model(inputs: [x], outputs: [output])
        #expect(model.namedParameters().map { "\($0.0) \($0.1.value.shape)" }
                == ["layers.0.weight [3, 2, 3, 3]", "layers.0.bias [3]", "layers.2.weight [5, 48]", "layers.2.bias [5]"])
        // Eagerly: weights appear on the first call, and hybridize waits for them.
        let net = Sequential(LazyLinear(3), ReLU(), LazyLinear(2))
        #expect(throws: HybridizeError.self) { try net.hybridize() }
        let y = net(Tensor.uniform([4, 7]))
        #expect(y.shape == [4, 2] && net.parameters().map(\.value.shape) == [[3, 7], [3], [2, 3], [2]])
        try net.hybridize()
        #expect(net(Tensor.uniform([4, 7])).shape == [4, 2])
        // Saved under Linear's names: a Linear model loads a LazyLinear checkpoint.
        let twin = Sequential(Linear(7, 3), ReLU(), Linear(3, 2))
        try twin.loadStateDict(net.stateDict())
    }

    @Test func fitOnTensorsWithAValidationSplit() throws {
        let data = blobs(40, seed: 2)
        let model = try classifier(8)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.05), loss: .crossEntropy,
                              metrics: [Accuracy()], target: "label")
        trainer.verbose = false
        let history = try trainer.fit(x: data.tensors["x"]!, y: data.tensors["label"]!, batchSize: 8, epochs: 3, validationSplit: 0.25)
        #expect(history.epochs == 3 && history.values["val_accuracy"]!.last! >= 0.9, "\(history.values)")
        let (train, validation) = Subset.split(data, validationFraction: 0.25)
        #expect(train.indices == Array(0..<30) && validation.indices == Array(30..<40))
        #expect(throws: TrainingError.self) { try trainer.fit(x: Tensor.zeros([3, 2]), y: Tensor.zeros([4]), epochs: 1) }
        #expect(throws: TrainingError.self) { try trainer.fit(x: Tensor.zeros([4, 2]), y: Tensor.zeros([4]), epochs: 1, validationSplit: 1) }
        let layer = Linear(2, 2)
        let custom = Trainer(module: layer, optimizer: SGD(parameters: layer.parameters(), learningRate: 0.1), loss: .crossEntropy,
                             target: "label", forward: { layer($0["x"]!) })
        #expect(throws: TrainingError.self) { try custom.fit(x: Tensor.zeros([4, 2]), y: Tensor.zeros([4]), epochs: 1) }
    }

    @Test func augmentationsDependOnTheEpochAndIndexOnly() throws {
        let images = TensorDataset(["image": Tensor.uniform([6, 1, 6, 6], generator: RandomGenerator(seed: 4)),
                                    "label": Tensor(shape: [6], scalars: (0..<6).map(Int64.init))])
        let augmented = TransformedDataset(images, transform: Compose([RandomCrop(height: 6, width: 6, padding: 2), RandomHorizontalFlip()]), seed: 9)
        let a = try augmented.example(3, epoch: 1)["image"]!, b = try augmented.example(3, epoch: 1)["image"]!
        #expect(a.scalars(as: Float.self) == b.scalars(as: Float.self))
        let epochs = try (0..<4).map { try augmented.example(3, epoch: $0)["image"]!.scalars(as: Float.self) }
        #expect(Set(epochs.map { $0.description }).count > 1)
        func batches(workers: Int) throws -> [[Float]] {
            let epoch = DataLoader(augmented, batchSize: 2, shuffle: true, seed: 1, workers: workers).epoch(2)
            var out: [[Float]] = []
            while let batch = try epoch.next() { out.append(batch["image"]!.scalars(as: Float.self)) }
            return out
        }
        #expect(try batches(workers: 0) == batches(workers: 2))
        let badCrop = TransformedDataset(images, transform: CenterCrop(height: 9, width: 9))
        #expect(throws: DataError.self) { try badCrop.example(0) }
    }
}
