import Foundation

/// Keras-style progress: on a terminal, one line redrawn in place with step, bar, ETA and
/// running logs; otherwise a single plain line per epoch (so log files stay readable).
final class ProgressBar {
    let total: Int, title: String, enabled: Bool, interactive: Bool
    let output: (String) -> Void
    let start = Date()
    private var lastDraw = Date.distantPast

    init(total: Int, title: String, enabled: Bool, output: @escaping (String) -> Void) {
        (self.total, self.title, self.enabled, self.output) = (total, title, enabled, output)
        interactive = enabled && isatty(STDOUT_FILENO) != 0
    }

    static func format(_ logs: [String: Double]) -> String {
        logs.keys.sorted { ($0 == "loss" ? "" : $0) < ($1 == "loss" ? "" : $1) }.map { String(format: "%@: %.4f", $0, logs[$0]!) }.joined(separator: " - ")
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? String(format: "%d:%02d", s / 60, s % 60) : "\(s)s"
    }

    func update(step: Int, logs: [String: Double]) {
        guard interactive, step == total || Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        let width = 30, done = total > 0 ? width * step / total : width
        let bar = String(repeating: "=", count: Swift.max(0, done - 1)) + (done < width ? ">" : "=") + String(repeating: ".", count: width - done)
        let elapsed = Date().timeIntervalSince(start)
        let eta = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        output("\r\(title) \(step)/\(total) [\(bar)] - ETA: \(Self.duration(eta)) - \(Self.format(logs))\u{1B}[K")
    }

    /// The epoch's line: time, logs, and `note` (the examples skipped) when given.
    func finish(logs: [String: Double], note: String? = nil) {
        guard enabled else { return }
        let elapsed = Self.duration(Date().timeIntervalSince(start))
        output((interactive ? "\r" : "") + "\(title) \(total)/\(total) - \(elapsed) - \(Self.format(logs))" + (note.map { " - " + $0 } ?? "")
               + (interactive ? "\u{1B}[K\n" : "\n"))
    }
}
