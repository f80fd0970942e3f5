import Foundation

/// How the CPU backend splits work across cores.
public enum CPUThreads {
    /// Threads of the CPU backend (all cores, or `APUS_NUM_THREADS`), fixed when the first op runs.
    public static let count: Int = {
        if let text = ProcessInfo.processInfo.environment["APUS_NUM_THREADS"], let n = Int(text), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    /// Below this much work (elements × cost per element) an op stays on one thread.
    static let minimumElementsToSplit = 1 << 15

    /// False on threads that must not use the worker pool (data-loading threads: they would
    /// take the pool from the training thread).
    @TaskLocal static var poolAllowed = true

    /// Runs `body` with every op on this thread kept single-threaded (for background work such
    /// as data loading, which should not compete with training for the worker pool).
    public static func serially<R>(_ body: () throws -> R) rethrows -> R {
        try $poolAllowed.withValue(false) { try body() }
    }

    /// Whether this thread may hand work to the pool now.
    static var canUsePool: Bool { poolAllowed && !WorkerPool.shared.isBusy }

    /// Runs `body(part)` for every part in `0..<parts`: on the pool when this thread may use it,
    /// else one part after the other here. An op whose parts each sum a share of a reduction
    /// (images' weight gradients) splits it the same way in both cases, so its result does not
    /// depend on whether the pool happened to be busy.
    static func forParts(_ parts: Int, _ body: (Int) -> Void) {
        guard parts > 1, canUsePool else {
            for part in 0..<parts { body(part) }
            return
        }
        WorkerPool.shared.run { part in if part < parts { body(part) } }
    }

    /// Runs `body` over `0..<total` in up to `count` contiguous chunks, in parallel when `total`
    /// is at least `minimumElementsToSplit / costPerItem` (for kernels outside Apus, such as
    /// the optimizers' updates).
    public static func forChunks(_ total: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let threads = canUsePool ? min(WorkerPool.shared.threads, total) : 1
        if threads <= 1 || total * costPerItem < minimumElementsToSplit {
            body(0..<total)
            return
        }
        let chunk = (total + threads - 1) / threads
        WorkerPool.shared.run { t in
            let start = t * chunk
            let end = min(total, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}

/// A raw pointer that may cross into a worker closure.
struct SendablePointer: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    /// The address `byteOffset` bytes on, as a pointer to `T`.
    func typed<T>(_ byteOffset: Int, as type: T.Type) -> UnsafeMutablePointer<T> { (raw + byteOffset).assumingMemoryBound(to: T.self) }
}

extension Tensor {
    /// Contiguous data for a kernel, copied without going through dispatch (no graph, no grad).
    var dense: Tensor { isContiguous ? self : CopyOp().cpu([self], [spec])[0] }
}
