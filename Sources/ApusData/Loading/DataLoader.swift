import Apus
import Foundation

/// Batches of a `Dataset`: seeded shuffling (the order depends only on the seed and the epoch),
/// optional drop-last, collation, and background prefetch on worker threads so the next batches
/// are ready while the model trains. Prefetching yields exactly the batches of the synchronous path.
///
/// ```swift
/// let loader = DataLoader(dataset, batchSize: 32, shuffle: true, seed: 0)
/// var epoch = loader.epoch(0)
/// while let batch = try epoch.next() { … batch["image"] … }
/// ```
public final class DataLoader: @unchecked Sendable {
    public let dataset: any Dataset
    public let batchSize: Int, shuffle: Bool, seed: UInt64, dropLast: Bool
    /// Worker threads loading batches ahead (0: load on the calling thread).
    public let workers: Int
    /// How many batches may be ready ahead of the consumer.
    public let prefetch: Int
    /// The example order of each epoch, when given (PyTorch's `sampler`): called with the epoch
    /// number, it returns a permutation of 0..<dataset.count; `shuffle` and `seed` are then unused.
    public let sampler: ((Int) -> [Int])?

    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                workers: Int = 2, prefetch: Int = 4, sampler: ((Int) -> [Int])? = nil) {
        precondition(batchSize > 0, "DataLoader: batch size must be positive")
        (self.dataset, self.batchSize, self.shuffle, self.seed, self.dropLast) = (dataset, batchSize, shuffle, seed, dropLast)
        (self.workers, self.prefetch, self.sampler) = (workers, Swift.max(1, prefetch), sampler)
    }

    /// Batches per epoch.
    public var batchCount: Int { dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize }

    /// The example order of `epoch`: the sampler's, a seeded Fisher–Yates shuffle, or 0..<count.
    public func order(epoch: Int) -> [Int] {
        if let sampler {
            let indices = sampler(epoch)
            precondition(indices.sorted() == Array(0..<dataset.count),
                         "DataLoader: the sampler's order for epoch \(epoch) is not a permutation of 0..<\(dataset.count)")
            return indices
        }
        var indices = Array(0..<dataset.count)
        guard shuffle else { return indices }
        let generator = RandomGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        for i in stride(from: indices.count - 1, to: 0, by: -1) { indices.swapAt(i, generator.nextInt(below: i + 1)) }
        return indices
    }

    /// The batches of one epoch, in order.
    public func epoch(_ number: Int) -> Epoch {
        let indices = order(epoch: number)
        let batches = (0..<batchCount).map { b in Array(indices[(b * batchSize)..<Swift.min(indices.count, (b + 1) * batchSize)]) }
        return Epoch(loader: self, batches: batches)
    }

    func load(_ indices: [Int]) throws -> Example { try collate(indices.map { try dataset.example($0) }) }

    /// One pass over the data. With workers, batches load in the background, in order; when the
    /// epoch is dropped before its end (training stopped, an error), the workers stop too.
    public final class Epoch {
        /// What the worker threads share with the consumer (they never hold the `Epoch` itself,
        /// so dropping it stops them).
        final class Queue: @unchecked Sendable {
            let loader: DataLoader
            let batches: [[Int]]
            var position = 0, started = 0, stopped = false
            var ready: [Int: Result<Example, Error>] = [:]
            let condition = NSCondition()

            init(loader: DataLoader, batches: [[Int]]) {
                self.loader = loader
                self.batches = batches
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
                    let result = Result { try CPUThreads.serially { try loader.load(batches[index]) } }
                    condition.lock()
                    ready[index] = result
                    condition.broadcast()
                    condition.unlock()
                }
            }
        }

        let queue: Queue
        let workers: Int

        init(loader: DataLoader, batches: [[Int]]) {
            queue = Queue(loader: loader, batches: batches)
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

        /// The next batch, or nil at the end of the epoch; rethrows a loading error.
        public func next() throws -> Example? {
            let q = queue
            guard q.position < q.batches.count else { return nil }
            if workers == 0 {
                defer { q.position += 1 }
                return try q.loader.load(q.batches[q.position])
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
