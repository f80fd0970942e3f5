import Foundation

/// A CSV training log read for plotting: the x of every row and one series per numeric column.
///
/// Two kinds of log: an epoch log (`log.csv`: `epoch,accuracy,loss,val_accuracy,val_loss`, one
/// row per epoch; x is the epoch) and a steps log (`steps.csv`: `epoch,step,loss`, one row per
/// training step; x is the global step, the rows counted in order from 0). `epoch`, `step`,
/// `skipped` (a count) and every column holding something other than numbers (`skipped_files`)
/// are bookkeeping, not curves.
///
/// ```swift
/// let log = try TrainingLog(csv: "epoch,loss,skipped_files\n1,0.9,\n2,0.5,\"a.png,b.png\"\n")
/// log.xLabel                          // "epoch"
/// log.x                               // [1, 2]
/// log.series.map(\.name)              // ["loss"]
/// ```
struct TrainingLog {
    /// One plotted column: its values aligned with `x` (nil: empty, NaN or infinite).
    struct Series {
        let name: String
        let values: [Double?]
    }

    /// Columns never drawn as curves.
    static let bookkeeping: Set<String> = ["epoch", "step", "skipped", "skipped_files"]

    /// "epoch" or "step".
    let xLabel: String
    /// The x of every row.
    let x: [Double]
    /// The numeric columns with at least one finite value, in header order.
    let series: [Series]

    /// Reads a log. Throws `TrainingError` (one line) for a file that cannot be plotted: no
    /// header, no `epoch` column, no rows, rows whose cell count differs from the header's, an
    /// epoch that is not a number, no numeric column, or no finite value at all.
    init(csv: String) throws {
        let table = try CSVTable(csv)
        let header = table.header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !header.allSatisfy({ Double($0) != nil }) else {
            throw TrainingError("the first line must be a header naming the columns (epoch,loss,…), not numbers")
        }
        guard let epochColumn = header.firstIndex(of: "epoch") else {
            throw TrainingError("the log has no 'epoch' column (a log from `apus train` starts with 'epoch,…')")
        }
        guard !table.rows.isEmpty else { throw TrainingError("the log has a header but no rows") }
        for row in table.rows where row.cells.count != header.count {
            throw TrainingError("line \(row.line) has \(row.cells.count) cells, the header \(header.count)")
        }
        let isSteps = header.contains("step")
        xLabel = isSteps ? "step" : "epoch"
        x = try table.rows.enumerated().map { index, row in
            if isSteps { return Double(index) }
            let cell = row.cells[epochColumn]
            guard let epoch = TrainingLog.number(cell), epoch.isFinite else {
                throw TrainingError("line \(row.line): the epoch '\(cell)' is not a number")
            }
            return epoch
        }
        var series: [Series] = []
        var numeric = false
        for (column, name) in header.enumerated() where !TrainingLog.bookkeeping.contains(name) {
            let cells = table.rows.map { $0.cells[column] }
            let parsed = cells.map(TrainingLog.number)
            guard zip(cells, parsed).allSatisfy({ $1 != nil || $0.trimmingCharacters(in: .whitespaces).isEmpty }) else { continue }
            numeric = true
            let values = parsed.map { $0.flatMap { $0.isFinite ? $0 : nil } }
            if values.contains(where: { $0 != nil }) { series.append(Series(name: name, values: values)) }
        }
        guard numeric else {
            throw TrainingError("the log has no column of numbers to plot (columns: \(header.joined(separator: ", ")))")
        }
        guard !series.isEmpty else { throw TrainingError("the log has no finite value to plot (all are empty, nan or inf)") }
        self.series = series
    }

    /// The number a cell holds (`nan` and `inf` included), ignoring surrounding spaces.
    private static func number(_ cell: String) -> Double? {
        Double(cell.trimmingCharacters(in: .whitespaces))
    }
}
