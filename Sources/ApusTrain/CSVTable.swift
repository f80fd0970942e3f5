/// A CSV file read into cells (RFC 4180): a cell may be quoted with `"` and then hold commas,
/// line breaks and quotes written twice (`""`); records end at `\n`, `\r\n` or `\r`. Blank lines
/// are skipped.
///
/// ```swift
/// let table = try CSVTable("epoch,skipped_files\n1,\"a.png,b.png\"\n")
/// table.header            // ["epoch", "skipped_files"]
/// table.rows[0].cells     // ["1", "a.png,b.png"]
/// ```
struct CSVTable {
    /// One record and the line it starts on (1-based, counting line breaks inside quotes).
    struct Row {
        let line: Int
        let cells: [String]
    }

    /// The first record's cells.
    let header: [String]
    /// The other records, in file order.
    let rows: [Row]

    /// Reads `text`. Throws `TrainingError` for an empty text or a quoted cell that is never
    /// closed or is followed by something other than a comma or a line break.
    init(_ text: String) throws {
        let records = try CSVTable.records(text)
        guard let first = records.first else { throw TrainingError("the file is empty") }
        header = first.cells
        rows = Array(records.dropFirst())
    }

    private enum State { case cellStart, unquoted, quoted, quoteInQuoted }

    private static func records(_ text: String) throws -> [Row] {
        var rows: [Row] = [], cells: [String] = [], cell = String.UnicodeScalarView()
        var state = State.cellStart, line = 1, recordLine = 1, previousWasCR = false
        func endCell() { cells.append(String(cell)); cell = String.UnicodeScalarView() }
        func endRecord() {
            endCell()
            if cells != [""] { rows.append(Row(line: recordLine, cells: cells)) }
            cells = []
        }
        var scalars = Substring(text).unicodeScalars
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }   // a byte-order mark
        for scalar in scalars {
            let isBreak = scalar == "\n" || scalar == "\r"
            defer { previousWasCR = scalar == "\r" }
            if isBreak && !(scalar == "\n" && previousWasCR) { line += 1 }
            switch state {
            case .quoted:
                if scalar == "\"" { state = .quoteInQuoted } else { cell.append(scalar) }
                continue
            case .quoteInQuoted:
                if scalar == "\"" { cell.append(scalar); state = .quoted; continue }
                guard scalar == "," || isBreak else {
                    throw TrainingError("line \(line): a quoted cell must be followed by a comma or the end of the line")
                }
            case .cellStart, .unquoted:
                break
            }
            if scalar == "\n" && previousWasCR { continue }   // the second half of "\r\n"
            if scalar == "," {
                endCell()
                state = .cellStart
            } else if isBreak {
                endRecord()
                state = .cellStart
                recordLine = line
            } else if scalar == "\"" && state == .cellStart {
                state = .quoted
            } else {
                cell.append(scalar)
                state = .unquoted
            }
        }
        guard state != .quoted else { throw TrainingError("line \(recordLine): a quoted cell is never closed") }
        if state != .cellStart || !cells.isEmpty { endRecord() }
        return rows
    }
}
