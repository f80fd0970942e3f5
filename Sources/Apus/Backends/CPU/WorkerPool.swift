import CApusKernels
import Foundation
import Synchronization

/// The CPU backend's threads: `count − 1` persistent workers plus the calling thread.
///
/// A job costs about a microsecond to hand out (workers spin briefly on an atomic before
/// sleeping), against ≈ 50 µs for `DispatchQueue.concurrentPerform`, so medium-sized ops can
/// use both cores. All CPU parallelism of Apus goes through this pool — OpenBLAS runs
/// single-threaded inside it — so no two thread pools fight over the same cores.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(threads: CPUThreads.count)

    let threads: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var job: ((Int) -> Void)?
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    /// Spin iterations (each a `pause`) before a worker sleeps: a few hundred microseconds.
    private let spinLimit = 4000

    init(threads: Int) {
        self.threads = Swift.max(1, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for index in 1..<self.threads {
            let thread = Thread { [unowned self] in self.workerLoop(index) }
            thread.name = "apus-worker-\(index)"
            thread.start()
        }
    }

    private func workerLoop(_ index: Int) {
        apus_flush_denormals()
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < spinLimit {
                    apus_cpu_relax()
                    continue
                }
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(&wake, &mutex) }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
            }
            seen = generation.load(ordering: .acquiring)
            job?(index)
            remaining.subtract(1, ordering: .releasing)
        }
    }

    /// Whether a job is running (a GEMM inside a parallel region then stays on its thread).
    var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs `body(0)` … `body(threads − 1)` in parallel (part 0 on the calling thread) and
    /// returns when all are done. A nested call runs its parts one after another.
    func run(_ body: (Int) -> Void) {
        if threads == 1 || busy.exchange(true, ordering: .acquiring) {
            for part in 0..<threads { body(part) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            remaining.store(threads - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&wake)
                pthread_mutex_unlock(&mutex)
            }
            escaping(0)
            while remaining.load(ordering: .acquiring) > 0 { apus_cpu_relax() }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }
}
