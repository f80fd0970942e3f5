import Foundation

/// Graphviz export of a graph.
extension Graph {
    /// The graph in Graphviz DOT: one box per op (name and output shapes), one ellipse per input,
    /// a note per constant; edges follow the data. `dot -Tsvg` draws it.
    public func dot(name: String = "apus") -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func shape(_ id: Int) -> String { "\(values[id].shape) \(values[id].dtype)" }
        var lines = ["digraph \(quoted(name)) {", "  rankdir=TB;", "  node [fontname=\"Helvetica\", fontsize=10];"]
        var producer: [Int: String] = [:]
        for (position, id) in inputs.enumerated() {
            producer[id] = "v\(id)"
            lines.append("  v\(id) [shape=ellipse, label=\(quoted("input \(position)\n\(shape(id))"))];")
        }
        let read = Set(nodes.flatMap(\.inputs))
        for id in constants.keys.sorted() where read.contains(id) {
            producer[id] = "v\(id)"
            lines.append("  v\(id) [shape=note, label=\(quoted((literals.contains(id) ? "literal" : "captured") + "\n" + shape(id)))];")
        }
        for (index, node) in nodes.enumerated() {
            let label = ([node.op.name] + node.outputs.map(shape)).joined(separator: "\n")
            lines.append("  n\(index) [shape=box, style=rounded, label=\(quoted(label))];")
            for input in node.inputs {
                if let from = producer[input] { lines.append("  \(from) -> n\(index);") }
            }
            for output in node.outputs { producer[output] = "n\(index)" }
        }
        for (position, id) in outputs.enumerated() {
            lines.append("  out\(position) [shape=ellipse, label=\(quoted("output \(position)\n\(shape(id))"))];")
            if let from = producer[id] { lines.append("  \(from) -> out\(position);") }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
