import Apus
import Foundation

/// What a loader does with an example whose file cannot be read (a truncated PNG, say).
public enum BadExamplePolicy: String, Sendable {
    /// The epoch stops with the example's `DataError`.
    case stop
    /// The example is left out of its batch (a batch of only bad examples is left out) and
    /// its error is listed in `DataLoader.Epoch.skipped`.
    case skip
}

/// Batches of a `Dataset`: seeded shuffling (the order depends only on the seed and the epoch),
/// optional drop-last, collation, and background prefetch on worker threads so the next batches
/// are ready while the model trains. Prefetching yields exactly the batches of the synchronous path.
///
/// ```swift
/// let loader = DataLoader(dataset, batchSize: 32, shuffle: true, seed: 0)
/// for batch in loader { … try batch.image … }        // each loop is the next epoch
/// let epoch = loader.epoch(0)                         // or one epoch, errors thrown at once
/// while let batch = try epoch.next() { … batch["image"]! … }
/// ```
public final class DataLoader: @unchecked Sendable {
    public let dataset: any Dataset
    public let batchSize: Int, shuffle: Bool, seed: UInt64, dropLast: Bool
    /// Worker threads loading batches ahead (0: load on the calling thread).
    public let workers: Int
    /// How many batches may be ready ahead of the consumer.
    public let prefetch: Int
    /// The example order of each epoch, when given (PyTorch's `sampler`): called with the epoch
    /// number, it returns a permutation of 0..<dataset.count or, with `samplerCount`, that many
    /// indices in 0..<dataset.count (a share of the data set, repeats allowed: one rank's share
    /// in distributed training). `shuffle` and `seed` are then unused.
    public let sampler: ((Int) -> [Int])?
    /// How many indices `sampler` returns each epoch when it returns a share of the data set;
    /// nil when it returns a permutation of all of it.
    public let samplerCount: Int?
    /// Stop at a bad example (the default) or skip it.
    public let onBadExample: BadExamplePolicy
    /// Epochs started by `for batch in loader` (each loop is the next epoch).
    private var loops = 0
    private let loopsLock = NSLock()

    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                workers: Int = 2, prefetch: Int = 4, sampler: ((Int) -> [Int])? = nil, samplerCount: Int? = nil,
                onBadExample: BadExamplePolicy = .stop) {
        precondition(batchSize > 0, "DataLoader: batch size must be positive")
        precondition(samplerCount == nil || (sampler != nil && samplerCount! >= 0), "DataLoader: samplerCount needs a sampler and must not be negative")
        (self.dataset, self.batchSize, self.shuffle, self.seed, self.dropLast) = (dataset, batchSize, shuffle, seed, dropLast)
        (self.workers, self.prefetch, self.sampler, self.onBadExample) = (workers, Swift.max(1, prefetch), sampler, onBadExample)
        self.samplerCount = samplerCount
    }

    /// The epoch number of the next `for batch in loader` loop (counting from 0).
    func nextEpoch() -> Int {
        loopsLock.lock()
        defer { loopsLock.unlock() }
        loops += 1
        return loops - 1
    }

    /// Examples per epoch: `samplerCount` when set, else the data set's count.
    public var examplesPerEpoch: Int { samplerCount ?? dataset.count }

    /// Batches per epoch.
    public var batchCount: Int { dropLast ? examplesPerEpoch / batchSize : (examplesPerEpoch + batchSize - 1) / batchSize }

    /// The example order of `epoch`: the sampler's, a seeded Fisher–Yates shuffle, or 0..<count.
    public func order(epoch: Int) -> [Int] {
        if let sampler {
            let indices = sampler(epoch)
            if let samplerCount {
                precondition(indices.count == samplerCount && indices.allSatisfy { (0..<dataset.count).contains($0) },
                             "DataLoader: the sampler's order for epoch \(epoch) is not \(samplerCount) indices in 0..<\(dataset.count)")
            } else {
                precondition(indices.sorted() == Array(0..<dataset.count),
                             "DataLoader: the sampler's order for epoch \(epoch) is not a permutation of 0..<\(dataset.count)")
            }
            return indices
        }
        return shuffle ? DataLoader.shuffledOrder(count: dataset.count, seed: seed, epoch: epoch) : Array(0..<dataset.count)
    }

    /// The seeded shuffle of 0..<count that a loader with `shuffle: true` and `seed` uses in
    /// `epoch` (a Fisher–Yates shuffle; it depends only on the three numbers), for samplers that
    /// derive their order from it (`DistributedSampler`).
    public static func shuffledOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var indices = Array(0..<count)
        let generator = RandomGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        for i in stride(from: indices.count - 1, to: 0, by: -1) { indices.swapAt(i, generator.nextInt(below: i + 1)) }
        return indices
    }

    /// The batches of one epoch, in order, from batch `start` on (the earlier ones are neither
    /// loaded nor returned: resuming an epoch part-way).
    public func epoch(_ number: Int, from start: Int = 0) -> Epoch {
        let indices = order(epoch: number)
        let batches = (Swift.min(start, batchCount)..<batchCount).map { b in
            Array(indices[(b * batchSize)..<Swift.min(indices.count, (b + 1) * batchSize)])
        }
        return Epoch(loader: self, number: number, batches: batches, first: Swift.min(start, batchCount))
    }

    /// The batch of `indices` (nil when every example was bad and skipped) and the errors of
    /// the examples skipped.
    func load(_ indices: [Int], epoch: Int) throws -> (Example?, [DataError]) {
        guard onBadExample == .skip else { return (try collate(indices.map { try dataset.example($0, inEpoch: epoch) }), []) }
        var examples: [Example] = [], skipped: [DataError] = []
        for index in indices {
            do { examples.append(try dataset.example(index, inEpoch: epoch)) } catch let error as DataError { skipped.append(error) }
        }
        return (examples.isEmpty ? nil : try collate(examples), skipped)
    }

    /// One pass over the data. With workers, batches load in the background, in order; when the
    /// epoch is dropped before its end (training stopped, an error), the workers stop too.
    public final class Epoch {
        /// What the worker threads share with the consumer (they never hold the `Epoch` itself,
        /// so dropping it stops them).
        final class Queue: @unchecked Sendable {
            let loader: DataLoader
            let number: Int
            let batches: [[Int]]
            var position = 0, started = 0, stopped = false
            var ready: [Int: Result<(Example?, [DataError]), Error>] = [:]
            let condition = NSCondition()

            init(loader: DataLoader, number: Int, batches: [[Int]]) {
                (self.loader, self.number, self.batches) = (loader, number, batches)
            }

            func work() {
                while true {
                    condition.lock()
                    while !stopped && started < batches.count && started >= position + loader.prefetch { condition.wait() }
                    if stopped || started >= batches.count {
                        condition.unlock()
                        return
                    }
                    let index = started
                    started += 1
                    condition.unlock()
                    let result = Result { try CPUThreads.serially { try loader.load(batches[index], epoch: number) } }
                    condition.lock()
                    ready[index] = result
                    condition.broadcast()
                    condition.unlock()
                }
            }
        }

        let queue: Queue
        let workers: Int
        /// The epoch's first batch (nonzero when resuming part-way).
        let first: Int

        init(loader: DataLoader, number: Int, batches: [[Int]], first: Int) {
            self.first = first
            queue = Queue(loader: loader, number: number, batches: batches)
            workers = Swift.max(0, loader.workers)
            if workers > 0 && !batches.isEmpty {
                for _ in 0..<workers { Thread { [queue] in queue.work() }.start() }
            }
        }

        deinit {
            queue.condition.lock()
            queue.stopped = true
            queue.ready.removeAll()
            queue.condition.broadcast()
            queue.condition.unlock()
        }

        public var count: Int { queue.batches.count }

        /// Batches of the epoch done so far (returned or skipped), counting from its start:
        /// where `loader.epoch(number, from:)` goes on.
        public var position: Int { first + queue.position }

        /// The examples skipped so far this epoch (with `onBadExample: .skip`): each one's error,
        /// naming its file.
        public private(set) var skipped: [DataError] = []

        /// The next batch, or nil at the end of the epoch; rethrows a loading error.
        public func next() throws -> Example? {
            while true {
                guard let (batch, skippedHere) = try nextLoaded() else { return nil }
                skipped += skippedHere
                if let batch { return batch }
            }
        }

        private func nextLoaded() throws -> (Example?, [DataError])? {
            let q = queue
            guard q.position < q.batches.count else { return nil }
            if workers == 0 {
                defer { q.position += 1 }
                return try q.loader.load(q.batches[q.position], epoch: q.number)
            }
            q.condition.lock()
            while q.ready[q.position] == nil { q.condition.wait() }
            let result = q.ready.removeValue(forKey: q.position)!
            q.position += 1
            q.condition.broadcast()
            q.condition.unlock()
            return try result.get()
        }
    }
}
