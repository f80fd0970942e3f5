@testable import ApusTrain
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// An SVG document read back: every element with its attributes, its text, and the ids and
/// classes of the groups around it.
struct SVGDocument {
    struct Element {
        let name: String
        let attributes: [String: String]
        var text = ""
        /// `id` or `class` of each enclosing `<g>`, outermost first.
        let groups: [String]
        func number(_ attribute: String) -> Double? { attributes[attribute].flatMap { Double($0) } }
    }

    var elements: [Element] = []
    var width = 0.0, height = 0.0

    init(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) {
        final class Reader: NSObject, XMLParserDelegate {
            var elements: [Element] = [], open: [Int] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                let groups = open.map { elements[$0] }.filter { $0.name == "g" }.map { $0.attributes["id"] ?? $0.attributes["class"] ?? "" }
                elements.append(Element(name: name, attributes: attributes, groups: groups))
                open.append(elements.count - 1)
            }
            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { open.removeLast() }
            func parser(_ parser: XMLParser, foundCharacters string: String) {
                if let last = open.last { elements[last].text += string }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8)), reader = Reader()
        parser.delegate = reader
        #expect(parser.parse(), "SVG is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
        elements = reader.elements
        width = elements.first?.number("width") ?? 0
        height = elements.first?.number("height") ?? 0
    }

    /// The names of the curves drawn (each series group's title), per panel id.
    var series: [String: [String]] {
        var result: [String: [String]] = [:]
        for element in elements where element.name == "title" && element.groups.last == "series" {
            result[element.groups.first { $0.hasPrefix("panel-") } ?? "", default: []].append(element.text)
        }
        return result
    }

    /// The texts of the tick labels in panel `panel`.
    func ticks(in panel: String) -> [String] {
        elements.filter { $0.attributes["class"] == "tick" && $0.groups.contains(panel) }.map(\.text)
    }
}

@Suite struct PlotTests {
    let epochLog = """
        epoch,accuracy,loss,skipped,val_accuracy,val_loss,skipped_files
        1,0.41,1.52,0,0.48,1.31,
        2,0.63,0.98,2,0.61,1.02,"bad one.png,bad two.png"
        3,0.78,0.61,0,0.72,0.85,

        """

    @Test func lossesAndMetricsGetTwoPanelsWithTheirOwnTickedAxes() throws {
        let svg = SVGDocument(try TrainingCurves.svg(csv: epochLog))
        #expect(svg.series == ["panel-loss": ["loss", "val_loss"], "panel-accuracy": ["accuracy", "val_accuracy"]])
        // Losses 0.61…1.52 at steps of 0.2 (1-2-5), accuracies 0.41…0.78 at 0.1; epochs 1, 2, 3.
        #expect(svg.ticks(in: "panel-loss") == ["1", "2", "3", "0.6", "0.8", "1.0", "1.2", "1.4", "1.6"])
        #expect(svg.ticks(in: "panel-accuracy") == ["1", "2", "3", "0.4", "0.5", "0.6", "0.7", "0.8"])
        #expect(svg.elements.contains { $0.name == "text" && $0.text == "epoch" })
        // Each panel has its own y axis: 0.6 (loss) and 0.4 (accuracy) both sit on a bottom edge.
        let lossBottom = svg.elements.first { $0.groups.contains("panel-loss") && $0.text == "0.6" }!.number("y")!
        let accuracyBottom = svg.elements.first { $0.groups.contains("panel-accuracy") && $0.text == "0.4" }!.number("y")!
        #expect(accuracyBottom > lossBottom + 150)
        // Only metrics, or only losses: one panel.
        let metricsOnly = SVGDocument(try TrainingCurves.svg(csv: "epoch,mae,top5_accuracy\n1,0.5,0.2\n2,0.4,0.3\n"))
        #expect(metricsOnly.series == ["panel-metric": ["mae", "top5_accuracy"]])
        let lossOnly = SVGDocument(try TrainingCurves.svg(csv: "epoch,loss\n1,0.5\n2,0.4\n"))
        #expect(lossOnly.series == ["panel-loss": ["loss"]])
    }

    @Test func everyTextFitsInsideTheImage() throws {
        let long = "val_top5_accuracy_of_the_answer_classifier_head_WWW"
        let csv = "epoch,loss,\(long),accuracy\n1,12000.5,0.25,0.5\n2,9000.25,0.5,0.625\n"
        let svg = SVGDocument(try TrainingCurves.svg(csv: csv, title: "A rather long title for a chart: MMMM WWWW mmmm wwww"))
        let texts = svg.elements.filter { $0.name == "text" && $0.attributes["transform"] == nil }
        #expect(texts.contains { $0.attributes["class"] == "legend" && $0.text == long })
        for text in texts {
            let x = try #require(text.number("x")), y = try #require(text.number("y"))
            let width = TrainingCurves.textWidth(text.text, fontSize: try #require(text.number("font-size")))
            let (left, right): (Double, Double) = switch text.attributes["text-anchor"] {
            case "middle": (x - width / 2, x + width / 2)
            case "end": (x - width, x)
            default: (x, x + width)
            }
            #expect(left >= 0 && right <= svg.width, "'\(text.text)' spans \(left)…\(right), the image is \(svg.width) wide")
            #expect(y > 0 && y <= svg.height, "'\(text.text)' at y \(y), the image is \(svg.height) high")
        }
        // The estimate errs wide: DejaVu Sans draws "loss" 12 px high in about 24 px.
        #expect(TrainingCurves.textWidth("loss", fontSize: 12) >= 24)
    }

    @Test func aOneEpochLogDrawsAVisibleMarker() throws {
        let svg = SVGDocument(try TrainingCurves.svg(csv: "epoch,loss,accuracy\n1,0.7,0.5\n"))
        let markers = svg.elements.filter { $0.attributes["class"] == "marker" && $0.groups.last == "series" }
        // One point per curve on the plot, one in each legend entry.
        #expect(markers.count == 4)
        for marker in markers {
            #expect((marker.number("r") ?? 0) >= 2)
            #expect((0..<svg.width).contains(marker.number("cx") ?? -1) && (0..<svg.height).contains(marker.number("cy") ?? -1))
        }
    }

    @Test func aStepsLogPlotsTheLossAgainstTheGlobalStep() throws {
        var csv = "epoch,step,loss\n"
        for epoch in 1...3 { for step in 0..<100 { csv += "\(epoch),\(step),\(2.0 / Double(epoch * 100 + step))\n" } }
        let svg = SVGDocument(try TrainingCurves.svg(csv: csv))
        #expect(svg.series == ["panel-loss": ["loss"]])
        #expect(svg.elements.contains { $0.name == "text" && $0.text == "step" })
        #expect(!svg.elements.contains { $0.name == "text" && $0.text == "epoch" })
        #expect(svg.ticks(in: "panel-loss").prefix(6) == ["0", "50", "100", "150", "200", "250"])
        // 300 points in one line; too many to mark each.
        let line = try #require(svg.elements.first { $0.name == "polyline" && $0.groups.last == "series" })
        #expect(line.attributes["points"]!.split(separator: " ").count == 300)
        #expect(!svg.elements.contains { $0.attributes["class"] == "marker" && $0.groups.last == "series" })
    }

    @Test func bookkeepingAndNonNumericColumnsAreNotCurvesAndGapsBreakTheLine() throws {
        let log = try TrainingLog(csv: epochLog)
        #expect(log.series.map(\.name) == ["accuracy", "loss", "val_accuracy", "val_loss"])
        #expect(log.x == [1, 2, 3] && log.xLabel == "epoch")
        let gappy = try TrainingLog(csv: "epoch,loss,note\n1,0.9,ok\n2,nan,\"a, b\"\n3,inf,c\n4,0.5,d\n5,,e\n6,0.25,f\n")
        #expect(gappy.series.map(\.name) == ["loss"])
        #expect(gappy.series[0].values == [0.9, nil, nil, 0.5, nil, 0.25])
        let svg = SVGDocument(try TrainingCurves.svg(csv: "epoch,loss\n1,0.9\n2,0.8\n3,nan\n4,0.5\n5,0.4\n"))
        let lines = svg.elements.filter { $0.name == "polyline" && $0.groups.last == "series" && $0.attributes["points"]!.contains(" ") }
        #expect(lines.map { $0.attributes["points"]!.split(separator: " ").count } == [2, 2, 3])   // two runs, then the legend
        #expect(!svg.elements.contains { $0.attributes.values.contains { $0.contains("nan") || $0.contains("inf") } })
    }

    @Test func filesThatCannotBePlottedThrowOneLine() {
        let bad = [
            "": "empty",
            "\n\n": "empty",
            "1,0.5\n2,0.4\n": "header",
            "loss,accuracy\n0.5,0.1\n": "'epoch'",
            "epoch,loss\n": "no rows",
            "epoch,loss\n1,0.5\n2,0.4,9\n": "line 3 has 3 cells",
            "epoch,loss\nfirst,0.5\n": "epoch 'first'",
            "epoch,skipped_files\n1,a.png\n": "no column of numbers",
            "epoch,loss\n1,nan\n2,\n": "no finite value",
            "epoch,loss\n1,\"0.5\n": "never closed",
            "epoch,loss\n1,\"0.5\"x\n": "quoted cell",
        ]
        for (csv, message) in bad {
            do {
                _ = try TrainingCurves.svg(csv: csv)
                Issue.record("\(csv.debugDescription) was plotted")
            } catch let error as TrainingError {
                #expect(error.description.contains(message) && !error.description.contains("\n"), "\(csv.debugDescription): \(error)")
            } catch {
                Issue.record("\(csv.debugDescription): \(error)")
            }
        }
    }

    @Test func quotedCellsFollowRFC4180() throws {
        let table = try CSVTable("\u{FEFF}a,\"b,c\",\"say \"\"hi\"\"\"\r\n1,\"two\nlines\",\r\n\n3,,\"\"\n")
        #expect(table.header == ["a", "b,c", "say \"hi\""])
        #expect(table.rows.map(\.cells) == [["1", "two\nlines", ""], ["3", "", ""]])
        #expect(table.rows.map(\.line) == [2, 5])
        #expect(try CSVTable("x,y").header == ["x", "y"])
    }

    @Test func ticksFallOnOneTwoFiveSteps() {
        #expect(TrainingCurves.ticks(0.61, 1.52, count: 5, covering: true).values.map { ($0 * 10).rounded() } == [6, 8, 10, 12, 14, 16])
        #expect(TrainingCurves.ticks(1, 37, count: 7, minimumStep: 1).values == [5, 10, 15, 20, 25, 30, 35])
        #expect(TrainingCurves.ticks(1, 3, count: 7, minimumStep: 1).values == [1, 2, 3])
        #expect(abs(TrainingCurves.ticks(0, 0.003, count: 5, covering: true).step - 0.001) < 1e-12)
        #expect(TrainingCurves.tickLabel(0.30000000000000004, step: 0.1) == "0.3")
        #expect(TrainingCurves.tickLabel(-1e-17, step: 0.1) == "0")
        #expect(TrainingCurves.tickLabel(250, step: 50) == "250")
        #expect(TrainingCurves.tickLabel(0.0015, step: 0.0005) == "0.0015")
    }
}
