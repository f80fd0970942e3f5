import ApusData

/// Each rank's share of every epoch, so that the ranks together see the data set once per epoch
/// (PyTorch's `DistributedSampler`).
///
/// Epoch `e`'s order is the one a `DataLoader` with the same `shuffle` and `seed` uses
/// (`DataLoader.shuffledOrder(count:seed:epoch:)`, or 0..<count unshuffled). Rank `r` of `N`
/// takes positions `r, r + N, r + 2N, …` of it, so batch `k` of every rank together is batch `k`
/// of one process with an `N`-times larger batch. When `N` does not divide the count, every rank
/// still gets the same number of examples (so the same number of batches, and no rank waits in a
/// collective the others never reach):
/// - `.pad` (the default, as PyTorch): the order is extended by repeating it from its start, so
///   every example is seen and `N·⌈count/N⌉ − count` of them twice;
/// - `.truncate`: the order's last `count mod N` examples are left out this epoch (a different
///   few each epoch when shuffled), so no example is seen twice;
/// - `.uneven`: ranks below `count mod N` get one example more, so every example is seen once;
///   for evaluation, where no collective runs per batch.
///
/// ```swift
/// let sampler = try DistributedSampler(count: 10, rank: 1, size: 4, shuffle: false)
/// sampler.indices(epoch: 0)   // [1, 5, 9]  (rank 2 gets [2, 6, 0]: 0 and 1 are repeated)
/// ```
public struct DistributedSampler: Sendable, Equatable {
    /// What to do with the `count mod size` examples that would give some ranks one more.
    public enum Remainder: Sendable, Equatable {
        /// Repeat examples from the start of the order until every rank has as many.
        case pad
        /// Leave the last ones of the order out.
        case truncate
        /// Give the first `count mod size` ranks one example more (evaluation).
        case uneven
    }

    /// Examples in the data set.
    public let count: Int
    /// This process's rank and the number of ranks.
    public let rank: Int, size: Int
    /// Whether each epoch's order is a seeded shuffle (else 0..<count).
    public let shuffle: Bool
    /// The shuffle's seed (the same on every rank).
    public let seed: UInt64
    /// Padding or truncation when `size` does not divide `count`.
    public let remainder: Remainder

    /// - Throws: `DistributedError` when `rank` is not in 0..<size or `count` is negative.
    public init(count: Int, rank: Int, size: Int, shuffle: Bool = true, seed: UInt64 = 0, remainder: Remainder = .pad) throws {
        guard size > 0, (0..<size).contains(rank), count >= 0 else {
            throw DistributedError("DistributedSampler: needs 0 ≤ rank < size and count ≥ 0 (got rank \(rank), size \(size), count \(count))")
        }
        (self.count, self.rank, self.size, self.shuffle, self.seed, self.remainder) = (count, rank, size, shuffle, seed, remainder)
    }

    /// The sampler of this process's rank in `communicator`.
    public init(count: Int, communicator: Communicator, shuffle: Bool = true, seed: UInt64 = 0, remainder: Remainder = .pad) throws {
        try self.init(count: count, rank: communicator.rank, size: communicator.size, shuffle: shuffle, seed: seed, remainder: remainder)
    }

    /// Examples this rank gets per epoch: ⌈count/size⌉ with `.pad`, ⌊count/size⌋ with
    /// `.truncate`, one of those two with `.uneven` (⌈count/size⌉ for ranks below `count mod size`).
    public var countPerRank: Int {
        switch remainder {
        case .pad: (count + size - 1) / size
        case .truncate: count / size
        case .uneven: count / size + (rank < count % size ? 1 : 0)
        }
    }

    /// This rank's examples of `epoch`, in order: `countPerRank` indices in 0..<count.
    public func indices(epoch: Int) -> [Int] {
        guard count > 0 else { return [] }
        let order = shuffle ? DataLoader.shuffledOrder(count: count, seed: seed, epoch: epoch) : Array(0..<count)
        return (0..<countPerRank).map { order[(rank + $0 * size) % count] }
    }
}

extension DataLoader {
    /// A loader over this rank's share of `dataset` each epoch, as `sampler` gives it (its
    /// `shuffle` and `seed` replace the loader's); see `DataLoader.init` for the other settings.
    ///
    /// ```swift
    /// let world = try Communicator.world()
    /// let sampler = try DistributedSampler(count: data.count, communicator: world, seed: 42)
    /// let loader = try DataLoader(data, batchSize: 32, sampler: sampler)   // batch 32 per rank
    /// ```
    /// - Throws: `DistributedError` when `sampler` was made for another count of examples.
    public convenience init(_ dataset: any Dataset, batchSize: Int, sampler: DistributedSampler, dropLast: Bool = false,
                            workers: Int = 2, prefetch: Int = 4, onBadExample: BadExamplePolicy = .stop) throws {
        guard sampler.count == dataset.count else {
            throw DistributedError("DataLoader: the DistributedSampler is for \(sampler.count) examples, the data set has \(dataset.count)")
        }
        self.init(dataset, batchSize: batchSize, dropLast: dropLast, workers: workers, prefetch: prefetch,
                  sampler: { sampler.indices(epoch: $0) }, samplerCount: sampler.countPerRank, onBadExample: onBadExample)
    }
}
