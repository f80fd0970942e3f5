import Foundation

/// SVG charts of training curves from a CSV log (`log.csv` per epoch, `steps.csv` per step).
///
/// Two panels stacked, each with its own y axis: losses on top (every column whose name holds
/// "loss"), the other metrics below (accuracy, mae, …); a panel with nothing to show is left
/// out. Both axes have tick labels at 1-2-5 steps and light grid lines; each panel's legend sits
/// in a column to its right, sized to its longest name so no text is clipped. A validation
/// column (`val_loss`) takes its training column's colour, dashed. Points are marked with small
/// circles (when there are few, or where a point stands alone), so a one-epoch log shows its
/// point; empty, NaN and infinite values are skipped, breaking the line.
///
/// ```swift
/// let svg = try TrainingCurves.svg(csv: try String(contentsOfFile: "run/log.csv", encoding: .utf8))
/// try svg.write(toFile: "curves.svg", atomically: true, encoding: .utf8)
/// ```
public enum TrainingCurves {
    /// The chart of a CSV log as an SVG document. Throws `TrainingError` (one line) for a file
    /// it cannot plot: no header, no `epoch` column, no rows, ragged rows, nothing numeric.
    public static func svg(csv: String, title: String = "Training curves") throws -> String {
        let log = try TrainingLog(csv: csv)
        let losses = log.series.filter { $0.name.lowercased().contains("loss") }
        let others = log.series.filter { !$0.name.lowercased().contains("loss") }
        var panels: [Panel] = []
        if !losses.isEmpty { panels.append(Panel(yLabel: "loss", series: losses)) }
        if !others.isEmpty {
            let accuracies = others.allSatisfy { $0.name.lowercased().contains("accuracy") }
            panels.append(Panel(yLabel: accuracies ? "accuracy" : "metric", series: others))
        }
        return Chart(log: log, panels: panels, title: title).render()
    }

    /// Estimated width in pixels of `text` drawn in a sans-serif font of `fontSize` pixels: per
    /// character widths at or above DejaVu Sans's (the widest common sans-serif), so text laid
    /// out by this estimate is not clipped.
    static func textWidth(_ text: String, fontSize: Double) -> Double {
        text.unicodeScalars.reduce(0.0) { width, scalar in
            let em: Double
            switch scalar {
            case "i", "j", "l", ".", ",", ":", ";", "'", "|", "!", " ": em = 0.34
            case "f", "t", "r", "(", ")", "[", "]", "-", "I", "J": em = 0.45
            case "m", "M", "W", "%", "@": em = 1.0
            case "w": em = 0.85
            case "A"..."Z": em = 0.8
            default: em = scalar.value < 0x2E80 ? 0.66 : 1.0
            }
            return width + em * fontSize
        }
    }

    /// Ticks at a 1, 2 or 5 times power-of-ten step giving about `count` ticks over `low`…`high`,
    /// and that step: the ticks inside the range, or with `covering` from the tick at or below
    /// `low` to the one at or above `high`. `minimumStep` bounds the step (1 for epochs and steps).
    static func ticks(_ low: Double, _ high: Double, count: Int, minimumStep: Double = 0,
                      covering: Bool = false) -> (values: [Double], step: Double) {
        let raw = (high - low) / Double(max(count - 1, 1))
        let magnitude = pow(10, log10(raw).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        let step = Swift.max(nice * magnitude, minimumStep)
        guard step.isFinite, step > 0, raw.isFinite, raw > 0 else { return ([low, high], Swift.max(high - low, 1)) }
        var k = covering ? (low / step + 1e-9).rounded(.down) : (low / step - 1e-9).rounded(.up)
        let last = covering ? (high / step - 1e-9).rounded(.up) : (high / step + 1e-9).rounded(.down)
        var values: [Double] = []
        while k <= last && values.count < 50 {
            values.append(k * step)
            k += 1
        }
        return (values, step)
    }

    /// `value` as a tick label for ticks `step` apart: as many decimals as the step needs.
    static func tickLabel(_ value: Double, step: Double) -> String {
        guard step.isFinite, step > 0 else { return String(format: "%.4g", value) }
        if abs(value) < step * 1e-9 { return "0" }
        if abs(value) >= 1e6 || step < 1e-4 { return String(format: "%.4g", value) }
        let decimals = Swift.max(0, Int((-log10(step) - 1e-9).rounded(.up)))
        return String(format: "%.\(decimals)f", value)
    }

    /// `text` safe inside an XML element or attribute.
    static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default: result.unicodeScalars.append(scalar.value < 0x20 ? "?" : scalar)
            }
        }
        return result
    }
}

/// One panel of the chart: a y axis and its series.
private struct Panel {
    let yLabel: String
    let series: [TrainingLog.Series]

    /// The finite values' range, widened when it is a single value.
    var range: (Double, Double) {
        let values = series.flatMap { $0.values.compactMap { $0 } }
        let (low, high) = (values.min() ?? 0, values.max() ?? 1)
        guard low == high else { return (low, high) }
        let pad = low == 0 ? 1 : abs(low) * 0.1
        return (low - pad, high + pad)
    }
}

/// Lays out and draws the panels.
private struct Chart {
    let log: TrainingLog
    let panels: [Panel]
    let title: String

    static let plotWidth = 560.0, minimumPanelHeight = 200.0, rowHeight = 18.0
    /// Series with at most this many points get a circle on each.
    static let markedPoints = 60
    static let tickFont = 11.0, legendFont = 12.0, labelFont = 12.0, titleFont = 16.0
    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    func render() -> String {
        let finiteX = log.x.filter(\.isFinite)
        var (xLow, xHigh) = (finiteX.min() ?? 0, finiteX.max() ?? 1)
        if xLow == xHigh { (xLow, xHigh) = (xLow - 1, xHigh + 1) }
        let xTicks = TrainingCurves.ticks(xLow, xHigh, count: 7, minimumStep: 1)
        let xPad = (xHigh - xLow) * 0.03
        let xDomain = (xLow - xPad, xHigh + xPad)
        let yTicks = panels.map { TrainingCurves.ticks($0.range.0, $0.range.1, count: 5, covering: true) }
        let yLabels = yTicks.map { ticks in ticks.values.map { TrainingCurves.tickLabel($0, step: ticks.step) } }
        let tickLabelWidth = yLabels.flatMap { $0 }.map { TrainingCurves.textWidth($0, fontSize: Chart.tickFont) }.max() ?? 0
        let left = (12 + Chart.labelFont + 10 + tickLabelWidth + 10).rounded(.up)
        let legendX = left + Chart.plotWidth + 20
        let legendWidth = log.series.map { 30 + TrainingCurves.textWidth($0.name, fontSize: Chart.legendFont) }.max() ?? 0
        let titleWidth = TrainingCurves.textWidth(title, fontSize: Chart.titleFont)
        let width = Swift.max(legendX + legendWidth + 16, titleWidth + 24).rounded(.up)
        let heights = panels.map { Swift.max(Chart.minimumPanelHeight, Chart.rowHeight * Double($0.series.count) + 16) }
        let top = 44.0, below = 28.0, between = 14.0
        let height = top + heights.reduce(0, +) + Double(panels.count) * below + Double(panels.count - 1) * between + 30

        let styles = seriesStyles()
        var svg = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="sans-serif">"#,
            #"<title>\#(TrainingCurves.escaped(title))</title>"#,
            #"<rect width="100%" height="100%" fill="white"/>"#,
            #"<text x="\#(format(width / 2))" y="28" text-anchor="middle" font-size="\#(Int(Chart.titleFont))">\#(TrainingCurves.escaped(title))</text>"#,
        ]
        var panelTop = top
        for (index, panel) in panels.enumerated() {
            let frame = (left: left, top: panelTop, right: left + Chart.plotWidth, bottom: panelTop + heights[index])
            let yDomain = (yTicks[index].values.first ?? 0, yTicks[index].values.last ?? 1)
            func px(_ x: Double) -> Double { frame.left + (x - xDomain.0) / (xDomain.1 - xDomain.0) * Chart.plotWidth }
            func py(_ y: Double) -> Double { frame.bottom - (y - yDomain.0) / (yDomain.1 - yDomain.0) * heights[index] }
            svg.append(#"<g class="panel" id="panel-\#(panel.yLabel)">"#)
            for x in xTicks.values {
                svg.append(#"<line x1="\#(format(px(x)))" y1="\#(format(frame.top))" x2="\#(format(px(x)))" y2="\#(format(frame.bottom))" stroke="rgb(230,230,230)"/>"#)
                svg.append(#"<text class="tick" x="\#(format(px(x)))" y="\#(format(frame.bottom + 17))" text-anchor="middle" font-size="\#(Int(Chart.tickFont))" fill="rgb(51,51,51)">\#(TrainingCurves.tickLabel(x, step: xTicks.step))</text>"#)
            }
            for (y, label) in zip(yTicks[index].values, yLabels[index]) {
                svg.append(#"<line x1="\#(format(frame.left))" y1="\#(format(py(y)))" x2="\#(format(frame.right))" y2="\#(format(py(y)))" stroke="rgb(230,230,230)"/>"#)
                svg.append(#"<text class="tick" x="\#(format(frame.left - 8))" y="\#(format(py(y) + 4))" text-anchor="end" font-size="\#(Int(Chart.tickFont))" fill="rgb(51,51,51)">\#(label)</text>"#)
            }
            svg.append(#"<path d="M\#(format(frame.left)),\#(format(frame.top)) V\#(format(frame.bottom)) H\#(format(frame.right))" fill="none" stroke="rgb(68,68,68)"/>"#)
            let labelX = 12 + Chart.labelFont, labelY = (frame.top + frame.bottom) / 2
            svg.append(#"<text x="\#(format(labelX))" y="\#(format(labelY))" transform="rotate(-90 \#(format(labelX)) \#(format(labelY)))" text-anchor="middle" font-size="\#(Int(Chart.labelFont))">\#(panel.yLabel)</text>"#)
            for (row, series) in panel.series.enumerated() {
                let style = styles[series.name]!
                let points = zip(log.x, series.values).map { x, value in value.map { (px(x), py($0)) } }
                svg.append(#"<g class="series"><title>\#(TrainingCurves.escaped(series.name))</title>"#)
                svg += curve(points, style)
                let y = frame.top + 14 + Chart.rowHeight * Double(row)
                let marked = points.compactMap { $0 }.count <= Chart.markedPoints
                svg += curve([(legendX, y - 4), (legendX + 12, y - 4), (legendX + 24, y - 4)], style, markers: marked ? [1] : [])
                svg.append(#"<text class="legend" x="\#(format(legendX + 30))" y="\#(format(y))" font-size="\#(Int(Chart.legendFont))">\#(TrainingCurves.escaped(series.name))</text>"#)
                svg.append("</g>")
            }
            svg.append("</g>")
            panelTop = frame.bottom + below + between
        }
        let lastBottom = panelTop - between
        svg.append(#"<text x="\#(format(left + Chart.plotWidth / 2))" y="\#(format(lastBottom + 14))" text-anchor="middle" font-size="\#(Int(Chart.labelFont))">\#(log.xLabel)</text>"#)
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// Colour and dash of each series: a validation column (`val_x`) shares `x`'s colour, dashed.
    private func seriesStyles() -> [String: (color: String, dashed: Bool)] {
        var colorOf: [String: String] = [:], styles: [String: (color: String, dashed: Bool)] = [:]
        for series in panels.flatMap(\.series) {
            let dashed = series.name.hasPrefix("val_")
            let base = dashed ? String(series.name.dropFirst(4)) : series.name
            let color = colorOf[base] ?? Chart.colors[colorOf.count % Chart.colors.count]
            colorOf[base] = color
            styles[series.name] = (color, dashed)
        }
        return styles
    }

    /// A polyline through each run of present points, with a circle on every point when there
    /// are few (or on the points given by `markers`), and on every point that stands alone.
    private func curve(_ points: [(Double, Double)?], _ style: (color: String, dashed: Bool), markers: Set<Int>? = nil) -> [String] {
        let dash = style.dashed ? #" stroke-dasharray="6 3""# : ""
        let few = points.compactMap { $0 }.count <= Chart.markedPoints
        let strokeWidth = few ? "2" : "1.25"
        var lines: [String] = [], run: [(Double, Double)] = []
        func flush() {
            if run.count > 1 {
                let coordinates = run.map { "\(format($0.0)),\(format($0.1))" }.joined(separator: " ")
                lines.append(#"<polyline fill="none" stroke="\#(style.color)" stroke-width="\#(strokeWidth)"\#(dash) points="\#(coordinates)"/>"#)
            }
            run = []
        }
        for point in points {
            if let point { run.append(point) } else { flush() }
        }
        flush()
        for (index, point) in points.enumerated() {
            guard let point else { continue }
            let alone = (index == 0 || points[index - 1] == nil) && (index == points.count - 1 || points[index + 1] == nil)
            guard markers.map({ $0.contains(index) }) ?? (few || alone) else { continue }
            let fill = style.dashed ? "white" : style.color
            lines.append(#"<circle class="marker" cx="\#(format(point.0))" cy="\#(format(point.1))" r="3" fill="\#(fill)" stroke="\#(style.color)" stroke-width="1.5"/>"#)
        }
        return lines
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
