/// Graph optimisations, each a function from a graph to a smaller equivalent one.
extension Graph {
    /// A copy holding only the nodes that the outputs depend on (dead-code elimination) and
    /// with repeated computations merged (common-subexpression elimination: the same op, by
    /// its full description, on the same inputs).
    func optimized() -> Graph {
        let result = Graph()
        result.adopt(from: self)
        var replacement: [Int: Int] = [:]            // value id → the equivalent value kept
        var seen: [String: [Int]] = [:]               // op description + inputs → outputs
        var kept: [Node] = []
        for node in nodes {
            let inputs = node.inputs.map { replacement[$0] ?? $0 }
            let key = "\(node.op)|\(inputs)"
            if let previous = seen[key] {
                for (a, b) in zip(node.outputs, previous) { replacement[a] = b }
                continue
            }
            seen[key] = node.outputs
            kept.append(Node(op: node.op, inputs: inputs, outputs: node.outputs))
        }
        let outputs = self.outputs.map { replacement[$0] ?? $0 }
        var live = Set(outputs)
        var reversedKept: [Node] = []
        for node in kept.reversed() where node.outputs.contains(where: live.contains) {
            reversedKept.append(node)
            live.formUnion(node.inputs)
        }
        result.nodes = reversedKept.reversed()
        result.outputs = outputs
        return result
    }

    /// For each value, the index of the last node that reads it (outputs: never released).
    func lastUses() -> [Int: Int] {
        var last: [Int: Int] = [:]
        for (i, node) in nodes.enumerated() { for v in node.inputs { last[v] = i } }
        for v in outputs { last[v] = Int.max }
        return last
    }

    /// Bytes of intermediate values alive at once at the worst point of a run that frees each
    /// value after its last reader (inputs and constants not counted).
    func plannedPeakBytes() -> Int {
        let last = lastUses()
        var alive = 0, peak = 0
        var dying: [Int: [Int]] = [:]
        for (v, i) in last where i != Int.max { dying[i, default: []].append(v) }
        let external = Set(inputs).union(constants.keys)
        for (i, node) in nodes.enumerated() {
            for v in node.outputs { alive += values[v].count * values[v].dtype.byteSize }
            peak = Swift.max(peak, alive)
            for v in dying[i] ?? [] where !external.contains(v) { alive -= values[v].count * values[v].dtype.byteSize }
        }
        return peak
    }
}
