import CApusKernels
import Foundation

/// A block of memory holding a tensor's elements; views share one `Storage`.
/// Its bytes come from, and return to, the caching allocator, except while a compiled graph
/// runs a node whose outputs have planned places in the graph's arena (see `MemoryPlan`):
/// then an allocation of a planned size takes its place there and gives nothing back.
public final class Storage: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int
    /// Creation order: tells constants made while tracing (foldable) from captured state.
    let serial: Int
    private let ownsMemory: Bool

    init(byteCount: Int) {
        self.byteCount = byteCount
        serial = Int(apus_next_serial())
        if let planned = apus_placement_take(Int64(byteCount)) {
            pointer = planned
            ownsMemory = false
        } else {
            pointer = CachingAllocator.shared.allocate(byteCount: byteCount)
            ownsMemory = true
        }
    }

    deinit { if ownsMemory { CachingAllocator.shared.release(pointer, byteCount: byteCount) } }
}

/// Runs `body` with every allocation in it kept out of a compiled graph's arena: for tensors
/// made while a graph runs that must outlive the node making them (an optimizer's state,
/// created on its first step inside a compiled training step). Arena places are reused by
/// later values, so such a tensor placed there would be overwritten.
public func withoutArenaPlacement<R>(_ body: () throws -> R) rethrows -> R {
    apus_placement_hold(1)
    defer { apus_placement_hold(0) }
    return try body()
}

/// Host memory allocator that keeps freed blocks in per-size free lists, so a training loop
/// that repeats the same computation allocates nothing new from the system after its first step.
///
/// Sizes round up to a size class (multiples of 64 bytes up to 4 KiB, then 8 classes per power
/// of two), so a freed block serves every request of the same class.
public final class CachingAllocator: @unchecked Sendable {
    /// The process-wide allocator.
    public static let shared = CachingAllocator()

    /// Counters of what the allocator did.
    public struct Statistics: Sendable, Equatable {
        /// Blocks obtained from the system (a cache miss).
        public var systemAllocations = 0
        /// Requests served from the cache.
        public var cacheHits = 0
        /// Bytes currently handed out to tensors.
        public var bytesInUse = 0
        /// Bytes held in the free lists.
        public var bytesCached = 0
        /// High-water mark of `bytesInUse + bytesCached`.
        public var peakBytes = 0
        /// High-water mark of `bytesInUse` since the last `resetPeakInUse()`.
        public var peakBytesInUse = 0
    }

    private var freeLists: [Int: [UnsafeMutableRawPointer]] = [:]
    private var stats = Statistics()
    private var lock = pthread_mutex_t()
    /// Cached bytes above which the free lists are returned to the system.
    public var cacheLimit = 4 << 30

    private init() { pthread_mutex_init(&lock, nil) }

    /// A snapshot of the counters.
    public var statistics: Statistics {
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        return stats
    }

    static func sizeClass(_ bytes: Int) -> Int {
        if bytes <= 4096 { return max(64, (bytes + 63) & ~63) }
        let high = Int.bitWidth - 1 - (bytes - 1).leadingZeroBitCount  // floor(log2(bytes - 1))
        let step = 1 << (high - 3)
        return (bytes + step - 1) / step * step
    }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = Self.sizeClass(byteCount)
        pthread_mutex_lock(&lock)
        if var list = freeLists[size], let block = list.popLast() {
            freeLists[size] = list
            stats.cacheHits += 1
            stats.bytesCached -= size
            stats.bytesInUse += size
            stats.peakBytesInUse = max(stats.peakBytesInUse, stats.bytesInUse)
            pthread_mutex_unlock(&lock)
            return block
        }
        stats.systemAllocations += 1
        stats.bytesInUse += size
        stats.peakBytesInUse = max(stats.peakBytesInUse, stats.bytesInUse)
        stats.peakBytes = max(stats.peakBytes, stats.bytesInUse + stats.bytesCached)
        pthread_mutex_unlock(&lock)
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        let size = Self.sizeClass(byteCount)
        pthread_mutex_lock(&lock)
        stats.bytesInUse -= size
        if stats.bytesCached + size > cacheLimit {
            pthread_mutex_unlock(&lock)
            pointer.deallocate()
            return
        }
        freeLists[size, default: []].append(pointer)
        stats.bytesCached += size
        pthread_mutex_unlock(&lock)
    }

    /// Restarts the in-use high-water mark from the bytes in use now.
    public func resetPeakInUse() {
        pthread_mutex_lock(&lock)
        stats.peakBytesInUse = stats.bytesInUse
        pthread_mutex_unlock(&lock)
    }

    /// Returns every cached block to the system.
    public func emptyCache() {
        pthread_mutex_lock(&lock)
        let lists = freeLists
        freeLists = [:]
        stats.bytesCached = 0
        pthread_mutex_unlock(&lock)
        for block in lists.values.joined() { block.deallocate() }
    }
}
