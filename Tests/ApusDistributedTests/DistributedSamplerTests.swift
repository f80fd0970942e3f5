import Apus
import ApusData
import ApusDistributed
import Testing

/// Every rank's share computed in one process (the sampler needs no communication).
@Suite struct DistributedSamplerTests {
    /// All ranks' shares of `epoch`, for `size` ranks.
    func shares(count: Int, size: Int, shuffle: Bool = true, remainder: DistributedSampler.Remainder, epoch: Int) throws -> [[Int]] {
        try (0..<size).map { try DistributedSampler(count: count, rank: $0, size: size, shuffle: shuffle, seed: 7, remainder: remainder).indices(epoch: epoch) }
    }

    @Test func sharesCoverEveryExampleOncePerEpoch() throws {
        for size in [1, 2, 3, 4, 8] {
            for count in [0, 1, 5, 12, 13, 100] {
                for epoch in 0..<3 {
                    let order = DataLoader.shuffledOrder(count: count, seed: 7, epoch: epoch)
                    let padded = try shares(count: count, size: size, remainder: .pad, epoch: epoch)
                    let perRank = (count + size - 1) / size
                    #expect(padded.allSatisfy { $0.count == perRank })
                    // Interleaved: position p of rank r is r + size·p of the order, repeated from its start.
                    for (rank, share) in padded.enumerated() {
                        #expect(share == (0..<perRank).map { order[(rank + $0 * size) % Swift.max(count, 1)] })
                    }
                    // Every example at least once; the padding repeats the order from its start.
                    var seen = [Int](repeating: 0, count: count)
                    for index in padded.joined() { seen[index] += 1 }
                    let total = perRank * size
                    #expect(seen.allSatisfy { $0 >= 1 } && seen.reduce(0, +) == total)
                    #expect(order.indices.allSatisfy { seen[order[$0]] == total / count + ($0 < total % count ? 1 : 0) })

                    let truncated = try shares(count: count, size: size, remainder: .truncate, epoch: epoch)
                    #expect(truncated.allSatisfy { $0.count == count / size })
                    let kept = Array(truncated.joined())
                    #expect(Set(kept).count == kept.count && Set(kept) == Set(order.prefix(size * (count / size))))
                }
            }
        }
    }

    @Test func unshuffledOrderAndDocumentedExample() throws {
        #expect(try DistributedSampler(count: 10, rank: 1, size: 4, shuffle: false).indices(epoch: 0) == [1, 5, 9])
        #expect(try DistributedSampler(count: 10, rank: 2, size: 4, shuffle: false).indices(epoch: 5) == [2, 6, 0])
        #expect(try DistributedSampler(count: 10, rank: 3, size: 4, shuffle: false, remainder: .truncate).indices(epoch: 0) == [3, 7])
        let sampler = try DistributedSampler(count: 10, rank: 0, size: 2)
        #expect(sampler.indices(epoch: 0) != sampler.indices(epoch: 1))     // a new shuffle each epoch
        #expect(throws: DistributedError.self) { _ = try DistributedSampler(count: 10, rank: 2, size: 2) }
        #expect(throws: DistributedError.self) { _ = try DistributedSampler(count: -1, rank: 0, size: 1) }
    }

    @Test func loaderIteratesTheShareWithEqualBatchCounts() throws {
        let data = TensorDataset(["i": Tensor(shape: [11], scalars: (0..<11).map(Int64.init))])
        var everything: [Int64] = []
        for rank in 0..<3 {
            let sampler = try DistributedSampler(count: 11, rank: rank, size: 3, seed: 2)
            let loader = try DataLoader(data, batchSize: 2, sampler: sampler, workers: rank % 2 * 2)
            #expect(loader.batchCount == 2 && loader.examplesPerEpoch == 4)
            let epoch = loader.epoch(1)
            var batches: [[Int64]] = []
            while let batch = try epoch.next() { batches.append(batch["i"]!.scalars(as: Int64.self)) }
            #expect(batches.map(\.count) == [2, 2])
            #expect(batches.flatMap { $0 } == sampler.indices(epoch: 1).map(Int64.init))
            everything += batches.joined()
        }
        #expect(Set(everything) == Set(0..<11))          // 12 slots: one example twice
        let wrong = try DistributedSampler(count: 12, rank: 0, size: 3)
        #expect(throws: DistributedError("DataLoader: the DistributedSampler is for 12 examples, the data set has 11")) {
            _ = try DataLoader(data, batchSize: 2, sampler: wrong)
        }
    }
}
