import Foundation

/// How the CPU backend splits work across cores.
public enum CPUThreads {
    /// Threads used for large elementwise and reduction work (default: all cores, or `APUS_NUM_THREADS`).
    nonisolated(unsafe) public static var count: Int = {
        if let text = ProcessInfo.processInfo.environment["APUS_NUM_THREADS"], let n = Int(text), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    /// Below this much work (elements × cost per element) an op stays on one thread.
    static let minimumElementsToSplit = 1 << 15

    /// Runs `body` over `0..<total` in up to `count` contiguous chunks, in parallel when `total`
    /// is at least `minimumElementsToSplit / costPerItem`.
    static func forChunks(_ total: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let threads = min(count, total)
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
}

extension Tensor {
    /// Contiguous data for a kernel, copied without going through dispatch (no graph, no grad).
    var dense: Tensor { isContiguous ? self : CopyOp().cpu([self], [spec])[0] }
}
