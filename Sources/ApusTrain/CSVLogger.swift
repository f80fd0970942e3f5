import ApusNN
import Foundation

/// Writes one CSV row per epoch (`epoch` then the logged values, sorted by name). The whole file
/// is rewritten atomically each epoch, so it is never left half-written.
public final class CSVLogger: Callback {
    public let url: URL
    private var rows: [Logs] = []

    public init(url: URL) { self.url = url }

    public func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        var row = logs
        row["epoch"] = Double(epoch + 1)
        rows.append(row)
        let keys = ["epoch"] + Set(rows.flatMap(\.keys)).subtracting(["epoch"]).sorted()
        var text = keys.joined(separator: ",") + "\n"
        for r in rows {
            text += keys.map { k in r[k].map { k == "epoch" ? String(Int($0)) : String($0) } ?? "" }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: url)
        return false
    }
}
