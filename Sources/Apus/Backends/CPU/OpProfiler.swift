import Foundation

/// Wall time spent in each op's kernel, collected while enabled: where a step's time goes.
///
/// ```swift
/// OpProfiler.start()
/// trainStep()
/// print(OpProfiler.report())   // per op: calls, total ms, share
/// ```
public enum OpProfiler {
    /// One op's totals.
    public struct Entry: Sendable {
        /// The op's name (its `Operation.name`).
        public let name: String
        /// How many times the op's kernel ran.
        public let calls: Int
        /// Total wall time in the op's kernel, in seconds.
        public let seconds: Double
    }

    nonisolated(unsafe) static var isEnabled = false
    nonisolated(unsafe) private static var totals: [String: (calls: Int, seconds: Double)] = [:]
    private static let lock = NSLock()

    /// Clears the totals and starts collecting.
    public static func start() {
        lock.lock()
        totals = [:]
        lock.unlock()
        isEnabled = true
    }

    /// Stops collecting and returns the totals, largest first.
    @discardableResult
    public static func stop() -> [Entry] {
        isEnabled = false
        lock.lock(); defer { lock.unlock() }
        return totals.map { Entry(name: $0.key, calls: $0.value.calls, seconds: $0.value.seconds) }.sorted { $0.seconds > $1.seconds }
    }

    static func record(_ name: String, since start: UInt64) {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lock.lock()
        let old = totals[name] ?? (0, 0)
        totals[name] = (old.calls + 1, old.seconds + seconds)
        lock.unlock()
    }

    /// A Markdown table of `entries`.
    public static func table(_ entries: [Entry]) -> String {
        let total = entries.reduce(0) { $0 + $1.seconds }
        var lines = ["| op | calls | ms | share |", "|---|---|---|---|"]
        for e in entries {
            lines.append(String(format: "| %@ | %d | %.2f | %.1f %% |", e.name, e.calls, e.seconds * 1000, total > 0 ? e.seconds / total * 100 : 0))
        }
        return lines.joined(separator: "\n")
    }
}
