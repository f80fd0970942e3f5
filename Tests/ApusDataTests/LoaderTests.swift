import Apus
import ApusData
import Testing

/// A data set whose example i holds the value i (and fails at `failAt`).
struct Counting: Dataset {
    let count: Int
    var failAt: Int? = nil
    func example(_ index: Int) throws -> Example {
        if index == failAt { throw DataError("example-\(index).png", "corrupt") }
        return ["x": Tensor(shape: [2], scalars: [Float(index), Float(-index)]), "y": Tensor(shape: [], scalars: [Int64(index)])]
    }
}

func drain(_ loader: DataLoader, epoch: Int) throws -> [[Int64]] {
    let e = loader.epoch(epoch)
    var batches: [[Int64]] = []
    while let batch = try e.next() { batches.append(batch["y"]!.scalars(as: Int64.self)) }
    return batches
}

@Suite struct LoaderTests {
    @Test func orderIsSeededAndCoversEverySampleOnce() throws {
        let data = Counting(count: 103)
        let loader = DataLoader(data, batchSize: 10, shuffle: true, seed: 7, workers: 0)
        let first = try drain(loader, epoch: 0)
        #expect(first.count == 11 && first.last!.count == 3)
        #expect(first.flatMap { $0 }.sorted() == (0..<103).map(Int64.init))
        #expect(try drain(DataLoader(data, batchSize: 10, shuffle: true, seed: 7, workers: 0), epoch: 0) == first)
        #expect(try drain(loader, epoch: 1) != first)
        #expect(try drain(DataLoader(data, batchSize: 10, shuffle: true, seed: 8, workers: 0), epoch: 0) != first)
        let dropped = DataLoader(data, batchSize: 10, dropLast: true, workers: 0)
        #expect(try drain(dropped, epoch: 0).count == 10 && dropped.batchCount == 10)
        #expect(try drain(DataLoader(data, batchSize: 10, workers: 0), epoch: 0)[0] == Array(0..<10))
    }

    @Test func samplerSetsEachEpochsOrder() throws {
        let data = Counting(count: 5)
        let orders = [[4, 2, 0, 1, 3], [1, 0, 3, 4, 2]]
        for workers in [0, 2] {
            let loader = DataLoader(data, batchSize: 2, shuffle: true, workers: workers, sampler: { orders[$0] })
            #expect(try drain(loader, epoch: 0) == [[4, 2], [0, 1], [3]])
            #expect(try drain(loader, epoch: 1) == [[1, 0], [3, 4], [2]])
        }
    }

    @Test func samplerMayReturnAShareOfTheDataSet() throws {
        let data = Counting(count: 7)
        let shares = [[6, 1, 6], [0, 2, 4]]          // repeats allowed, the rest left out
        for workers in [0, 2] {
            let loader = DataLoader(data, batchSize: 2, workers: workers, sampler: { shares[$0] }, samplerCount: 3)
            #expect(loader.examplesPerEpoch == 3 && loader.batchCount == 2)
            #expect(try drain(loader, epoch: 0) == [[6, 1], [6]])
            #expect(try drain(loader, epoch: 1) == [[0, 2], [4]])
            let dropping = DataLoader(data, batchSize: 2, dropLast: true, workers: workers, sampler: { shares[$0] }, samplerCount: 3)
            #expect(dropping.batchCount == 1)
            #expect(try drain(dropping, epoch: 1) == [[0, 2]])
        }
        // The shuffle a sampler can reuse is the loader's own.
        let shuffled = DataLoader(data, batchSize: 7, shuffle: true, seed: 11, workers: 0)
        for epoch in 0..<3 {
            #expect(DataLoader.shuffledOrder(count: 7, seed: 11, epoch: epoch) == shuffled.order(epoch: epoch))
        }
    }

    @Test func prefetchingGivesTheSynchronousBatches() throws {
        let data = Counting(count: 257)
        for workers in [1, 2, 3] {
            let background = DataLoader(data, batchSize: 16, shuffle: true, seed: 3, workers: workers, prefetch: 2)
            let synchronous = DataLoader(data, batchSize: 16, shuffle: true, seed: 3, workers: 0)
            #expect(try drain(background, epoch: 2) == drain(synchronous, epoch: 2))
        }
        let e = DataLoader(data, batchSize: 4, workers: 2).epoch(0)
        let batch = try e.next()!
        #expect(batch["x"]!.shape == [4, 2] && batch["y"]!.shape == [4])
        #expect(batch["x"]!.scalars(as: Float.self) == [0, 0, 1, -1, 2, -2, 3, -3])
    }

    @Test func loadingErrorsReachTheConsumer() {
        for workers in [0, 2] {
            let loader = DataLoader(Counting(count: 20, failAt: 13), batchSize: 4, workers: workers)
            #expect(throws: DataError("example-13.png", "corrupt")) { _ = try drain(loader, epoch: 0) }
        }
    }

    @Test func tensorDatasetAndCollateChecks() throws {
        let d = TensorDataset(["a": Tensor.arange(0, 6, dtype: .float32).reshaped([3, 2]), "b": Tensor([1, 2, 3])])
        #expect(d.count == 3)
        #expect(try d.example(1)["a"]!.scalars(as: Float.self) == [2, 3])
        #expect(throws: DataError.self) { try collate([["a": Tensor([1.0])], ["a": Tensor([1.0, 2.0])]]) }
    }
}
