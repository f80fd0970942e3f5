import Apus
import ApusData
import ApusDistributed

/// A data set whose example i is "index": i.
struct Indices: Dataset {
    let count: Int
    func example(_ index: Int) throws -> Example { ["index": Tensor(shape: [], scalars: [Int64(index)])] }
}

/// Over all ranks, every epoch's shares hold each example once (plus, with `.pad`, the first
/// few of the epoch's order once more; with `.truncate`, minus the last few), every rank gets
/// the same number (with `.uneven`, the first `count mod N` ranks one more), and position p of
/// rank r is position r + N·p of the loader's own order.
func checkSampler(_ world: Communicator) throws {
    for count in [80, 11, 3] {
        for remainder in [DistributedSampler.Remainder.pad, .truncate, .uneven] {
            let sampler = try DistributedSampler(count: count, communicator: world, seed: 3, remainder: remainder)
            for epoch in 0..<3 {
                let mine = sampler.indices(epoch: epoch)
                try expect(mine.count == sampler.countPerRank, "count \(count), \(remainder): \(mine.count) indices, expected \(sampler.countPerRank)")
                // Every rank's share, padded with -1 to the longest (uneven shares differ by one).
                let longest = (count + world.size - 1) / world.size
                guard longest > 0 else { continue }
                let padded = mine.map(Double.init) + Array(repeating: -1, count: longest - mine.count)
                let shares = try world.allGather(Tensor(shape: [longest], scalars: padded, dtype: .float64)).scalars(as: Double.self).map { Int($0) }
                // Undo the interleaving: position p of rank r is r + N·p in the epoch's order.
                var seen = [Int](repeating: -1, count: shares.count)
                for (i, index) in shares.enumerated() { seen[(i % longest) * world.size + i / longest] = index }
                seen = Array(seen.prefix { $0 >= 0 })
                let order = DataLoader.shuffledOrder(count: count, seed: 3, epoch: epoch)
                let expected = (0..<seen.count).map { order[$0 % count] }
                try expect(seen == expected, "count \(count), \(remainder), epoch \(epoch): shares \(seen) are not the order \(expected)")
                let distinct = Set(seen).count
                switch remainder {
                case .pad: try expect(distinct == count && seen.count == world.size * ((count + world.size - 1) / world.size),
                                      "count \(count), pad: \(distinct) distinct of \(seen.count)")
                case .truncate: try expect(distinct == seen.count && seen.count == world.size * (count / world.size),
                                           "count \(count), truncate: \(distinct) distinct of \(seen.count)")
                case .uneven: try expect(distinct == count && seen.count == count, "count \(count), uneven: \(distinct) distinct of \(seen.count)")
                }
            }
        }
    }
    // Through a DataLoader: with N dividing the count, the epoch's batches of all ranks hold each example exactly once.
    let count = 12 * world.size
    let loader = try DataLoader(Indices(count: count), batchSize: 5, sampler: DistributedSampler(count: count, communicator: world, seed: 8))
    for epoch in 0..<2 {
        let batches = loader.epoch(epoch)
        var mine: [Double] = []
        while let batch = try batches.next() { mine += batch["index"]!.scalars(as: Double.self) }
        let everyone = try world.allGather(Tensor(shape: [mine.count], scalars: mine, dtype: .float64)).scalars(as: Double.self)
        try expect(everyone.map { Int($0) }.sorted() == Array(0..<count), "epoch \(epoch): the ranks' batches do not hold each example once")
    }
}
