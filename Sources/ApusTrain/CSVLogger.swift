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

/// An SVG line chart of training curves.
public enum TrainingCurves {
    /// One polyline per column of a CSV log (other than `epoch`), against the epoch.
    public static func svg(csv: String, title: String = "Training curves") throws -> String {
        let lines = csv.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",").map(String.init), header.first == "epoch", header.count > 1 else {
            throw TrainingError("the CSV log must start with a header 'epoch,<value>,…'")
        }
        let rows = try lines.dropFirst().enumerated().map { i, line -> [Double?] in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard cells.count == header.count else { throw TrainingError("CSV line \(i + 2) has \(cells.count) cells, the header \(header.count)") }
            return cells.map { Double($0) }
        }
        guard !rows.isEmpty else { throw TrainingError("the CSV log has no rows") }
        let (width, height, margin) = (640.0, 400.0, 50.0)
        let epochs = rows.compactMap { $0[0] }
        let values = rows.flatMap { $0.dropFirst().compactMap { $0 } }.filter(\.isFinite)
        let (xMin, xMax) = (epochs.min() ?? 0, Swift.max(epochs.max() ?? 1, (epochs.min() ?? 0) + 1))
        let (yMin, yMax) = (Swift.min(0, values.min() ?? 0), Swift.max(values.max() ?? 1, 1e-9))
        func x(_ v: Double) -> Double { margin + (v - xMin) / (xMax - xMin) * (width - 2 * margin) }
        func y(_ v: Double) -> Double { height - margin - (v - yMin) / (yMax - yMin) * (height - 2 * margin) }
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
        var svg = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))">"#,
            #"<rect width="100%" height="100%" fill="white"/>"#,
            #"<text x="\#(Int(width / 2))" y="24" text-anchor="middle" font-family="sans-serif" font-size="16">\#(escape(title))</text>"#,
            #"<line x1="\#(margin)" y1="\#(height - margin)" x2="\#(width - margin)" y2="\#(height - margin)" stroke="black"/>"#,
            #"<line x1="\#(margin)" y1="\#(margin)" x2="\#(margin)" y2="\#(height - margin)" stroke="black"/>"#,
            #"<text x="\#(Int(width / 2))" y="\#(Int(height - 12))" text-anchor="middle" font-family="sans-serif" font-size="12">epoch</text>"#,
            String(format: #"<text x="8" y="%.1f" font-family="sans-serif" font-size="11">%.3g</text>"#, y(yMax), yMax),
            String(format: #"<text x="8" y="%.1f" font-family="sans-serif" font-size="11">%.3g</text>"#, y(yMin), yMin),
        ]
        for (k, name) in header.dropFirst().enumerated() {
            let points = rows.compactMap { row -> String? in
                guard let e = row[0], let v = row[k + 1], v.isFinite else { return nil }
                return String(format: "%.1f,%.1f", x(e), y(v))
            }
            let color = colors[k % colors.count]
            svg.append(#"<polyline fill="none" stroke="\#(color)" stroke-width="2" points="\#(points.joined(separator: " "))"/>"#)
            svg.append(#"<text x="\#(Int(width - margin + 4))" y="\#(Int(margin) + 16 * k)" fill="\#(color)" font-family="sans-serif" font-size="12">\#(escape(name))</text>"#)
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }
}
