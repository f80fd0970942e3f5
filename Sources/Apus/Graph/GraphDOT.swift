import Foundation

/// Graphviz export of a graph.
extension Graph {
    /// The graph in Graphviz DOT: one box per op (name and output shapes), one ellipse per input,
    /// a note per constant; edges follow the data. `dot -Tsvg` draws it.
    ///
    /// `inputNames[i]` labels input `i` (a batch key such as `image`, a parameter path such as
    /// `layers.0.weight`; "input i" beyond the names given). A captured tensor (a constant the
    /// traced code read, such as a parameter of a traced module) is labelled with the name of
    /// the first of `capturedNames` whose tensor shares its storage, else "captured".
    ///
    /// ```swift
    /// let graph = try Graph.trace([TensorSpec([2, 3])]) { xs in [matmul(xs[0], weight)] }
    /// graph.dot(inputNames: ["x"], capturedNames: [("weight", weight)])
    /// ```
    public func dot(name: String = "apus", inputNames: [String] = [], capturedNames: [(name: String, tensor: Tensor)] = []) -> String {
        func quoted(_ text: String) -> String {
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"" + escaped.replacingOccurrences(of: "\n", with: "\\n") + "\""
        }
        func shape(_ id: Int) -> String { "\(values[id].shape) \(values[id].dtype)" }
        var lines = ["digraph \(quoted(name)) {", "  rankdir=TB;", "  node [fontname=\"Helvetica\", fontsize=10];"]
        var producer: [Int: String] = [:]
        for (position, id) in inputs.enumerated() {
            producer[id] = "v\(id)"
            let label = position < inputNames.count ? inputNames[position] : "input \(position)"
            lines.append("  v\(id) [shape=ellipse, label=\(quoted("\(label)\n\(shape(id))"))];")
        }
        let read = Set(nodes.flatMap(\.inputs))
        for id in constants.keys.sorted() where read.contains(id) {
            producer[id] = "v\(id)"
            let captured = constants[id].flatMap { value in capturedNames.first { $0.tensor.sharesStorage(with: value) }?.name }
            let label = literals.contains(id) ? "literal" : captured ?? "captured"
            lines.append("  v\(id) [shape=note, label=\(quoted(label + "\n" + shape(id)))];")
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
