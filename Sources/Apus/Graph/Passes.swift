/// Graph optimisations. Each pass rewrites the graph in place into an equivalent one that does
/// less work or holds less memory; `optimized()` runs them all, in order.
extension Graph {
    /// A copy with every pass applied (what `compile` runs): common subexpressions merged,
    /// constants folded, dead code removed, max pools rewritten to keep indices, cross-entropy
    /// fused with its gradient when the seed is known, convolutions
    /// fused into the pooling that follows them, each convolution's backward pass fused into
    /// one op (with the scatter that makes its cotangent, its ReLU mask folded into the pooling's
    /// window codes), weight updates moved into the matrix products making their gradients, a
    /// scale of every gradient (clipping) folded into the update, biases folded into the
    /// products they are added to, and elementwise chains fused.
    public func optimized() -> Graph {
        let graph = copy()
        graph.eliminateCommonSubexpressions()
        graph.foldConstants()
        graph.eliminateDeadCode()
        graph.rewriteMaxPoolsToIndices()
        graph.fuseCrossEntropyGradient()
        graph.eliminateDeadCode()
        graph.fuseConvolutionPooling()
        graph.fuseConvolutionBackward()
        graph.foldReLUMasksIntoWindowCodes()
        graph.fuseGradientUpdates()
        graph.fuseGradientScaleIntoUpdate()
        graph.eliminateDeadCode()
        graph.fuseBiasIntoMatMul()
        graph.fuseElementwise()
        return graph
    }

    /// Merges repeated computations: the same op (by its full description, attributes
    /// included) on the same inputs is computed once. Side-effecting ops are never merged.
    func eliminateCommonSubexpressions() {
        var replacement: [Int: Int] = [:]
        var seen: [String: [Int]] = [:]
        var kept: [Node] = []
        for node in nodes {
            let inputs = node.inputs.map { replacement[$0] ?? $0 }
            let key = "\(node.op)|\(inputs)"
            if !node.op.hasSideEffects, let previous = seen[key] {
                for (a, b) in zip(node.outputs, previous) { replacement[a] = b }
                continue
            }
            seen[key] = node.outputs
            kept.append(Node(op: node.op, inputs: inputs, outputs: node.outputs))
        }
        nodes = kept
        outputs = outputs.map { replacement[$0] ?? $0 }
    }

    /// Computes, once and now, every op whose inputs are all literals (constants made while
    /// tracing); the results become literals. Captured state (parameters) is never folded, so
    /// in-place updates stay visible.
    func foldConstants() {
        var kept: [Node] = []
        for node in nodes {
            guard !node.op.hasSideEffects, node.inputs.allSatisfy(literals.contains) else {
                kept.append(node)
                continue
            }
            let arguments = node.inputs.map { constants[$0]! }
            let results = withoutGrad { node.op.cpu(arguments, node.outputs.map { values[$0] }) }
            for (id, result) in zip(node.outputs, results) {
                constants[id] = result
                literals.insert(id)
            }
        }
        nodes = kept
    }

    /// Keeps only the nodes that the outputs (or a side effect) depend on, and the constants
    /// they read.
    func eliminateDeadCode() {
        var live = Set(outputs)
        var kept: [Node] = []
        for node in nodes.reversed() where node.op.hasSideEffects || node.outputs.contains(where: live.contains) {
            kept.append(node)
            live.formUnion(node.inputs)
        }
        nodes = kept.reversed()
        constants = constants.filter { live.contains($0.key) }
        literals = literals.filter { constants[$0] != nil }
    }

    /// Rewrites each `maxPool2d` to also return its argmax indices, and its gradient to scatter
    /// through them, so the pooled input is no longer read by the backward pass and dies right
    /// after pooling. A ReLU gradient taken on the pooled input after the scatter is folded into
    /// it, masked by the (4× smaller) pooled output:
    /// `reluGrad(scatter(g), x) = scatter(g where pool(x) > 0)`, as the scatter only writes
    /// where x equals its window's maximum.
    func rewriteMaxPoolsToIndices() {
        var pools: [Int: (geometry: PoolGeometry, pooled: Int, indices: Int)] = [:]   // pooled input → pooling
        var scatters: [Int: (cotangent: Int, input: Int)] = [:]                         // scatter output → (g, x)
        let readers = readerCounts()
        // Only pools whose gradient is in this graph gain anything (an inference graph keeps plain pools).
        let differentiated = Set(nodes.compactMap { node in (node.op as? MaxPool2dGradOp).map { PooledInput(value: node.inputs[0], geometry: $0.geometry) } })
        var rewritten: [Node] = []
        for node in nodes {
            if let pool = node.op as? MaxPool2dOp, pools[node.inputs[0]] == nil,
               differentiated.contains(PooledInput(value: node.inputs[0], geometry: pool.geometry)) {
                let indices = newValue(TensorSpec(values[node.outputs[0]].shape, .int32)).id
                pools[node.inputs[0]] = (pool.geometry, node.outputs[0], indices)
                rewritten.append(Node(op: MaxPool2dWithIndicesOp(geometry: pool.geometry), inputs: node.inputs, outputs: [node.outputs[0], indices]))
            } else if let grad = node.op as? MaxPool2dGradOp, let pool = pools[node.inputs[0]], pool.geometry == grad.geometry {
                let x = node.inputs[0]
                rewritten.append(Node(op: MaxPool2dScatterOp(geometry: pool.geometry, inputShape: values[x].shape), inputs: [node.inputs[1], pool.indices],
                                      outputs: node.outputs))
                scatters[node.outputs[0]] = (node.inputs[1], x)
            } else if let binary = node.op as? BinaryOp, binary.kind == .reluGrad, let scatter = scatters[node.inputs[0]],
                      scatter.input == node.inputs[1], readers[node.inputs[0]] == 1, !outputs.contains(node.inputs[0]),
                      let pool = pools[scatter.input] {
                rewritten.append(Node(op: MaxPool2dScatterOp(geometry: pool.geometry, inputShape: values[scatter.input].shape, masked: true),
                                      inputs: [scatter.cotangent, pool.indices, pool.pooled], outputs: node.outputs))
            } else {
                rewritten.append(node)
            }
        }
        nodes = rewritten
    }

    private struct PooledInput: Hashable {
        let value: Int
        let geometry: PoolGeometry
    }

    /// Fuses a convolution (+ bias, ReLU) into the max pooling with indices that is its only
    /// reader (`Conv2dMaxPoolOp`): the convolution's output, the largest activation of a CNN,
    /// is then never written to memory at all.
    func fuseConvolutionPooling() {
        let readers = readerCounts(), outputSet = Set(outputs)
        let producer = producers()
        var replaced: [Int: Node] = [:], removed = Set<Int>()
        for (index, node) in nodes.enumerated() {
            // A plain pooling (no gradient in the graph) gets indices that nobody reads.
            guard let geometry = (node.op as? MaxPool2dWithIndicesOp)?.geometry ?? (node.op as? MaxPool2dOp)?.geometry,
                  let c = node.inputs.first, readers[c] == 1, !outputSet.contains(c),
                  let at = producer[c], let conv = nodes[at].op as? Conv2dBiasReLUOp,
                  Conv2dMaxPoolOp.supports(conv.geometry, input: values[nodes[at].inputs[0]], weight: values[nodes[at].inputs[1]]) else { continue }
            let outputs = node.outputs.count == 2 ? node.outputs : node.outputs + [newValue(TensorSpec(values[node.outputs[0]].shape, .int32)).id]
            replaced[index] = Node(op: Conv2dMaxPoolOp(convolution: conv.geometry, relu: conv.relu, pool: geometry), inputs: nodes[at].inputs, outputs: outputs)
            removed.insert(at)
        }
        replaceNodes(replaced, removing: removed)
    }

    /// Folds a bias added to a matrix product that nothing else reads (a Linear layer's
    /// `x·Wᵀ + b`) into the product (`MatMulOp(withBias: true)`): the output starts as the bias
    /// and the GEMM adds into it, so it is written once instead of zeroed, written, and then read
    /// and written again by the add. The fused node takes the add's place, so no side-effecting
    /// node (an in-place update) may lie between the two.
    func fuseBiasIntoMatMul() {
        let producer = producers(), readers = readerCounts(), outputSet = Set(outputs)
        var replaced: [Int: Node] = [:], removed = Set<Int>()
        for (index, node) in nodes.enumerated() {
            guard let add = node.op as? BinaryOp, add.kind == .add else { continue }
            for (y, bias) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                guard let m = producer[y], let product = nodes[m].op as? MatMulOp, !product.withBias, !removed.contains(m),
                      readers[y] == 1, !outputSet.contains(y), values[node.outputs[0]] == values[y],
                      let n = values[y].shape.last, values[bias].dtype == values[y].dtype, values[bias].shape.last == n, values[bias].count == n,
                      !nodes[(m + 1)..<index].contains(where: { $0.op.hasSideEffects }) else { continue }
                replaced[index] = Node(op: MatMulOp(withBias: true), inputs: nodes[m].inputs + [bias], outputs: node.outputs)
                removed.insert(m)
                break
            }
        }
        replaceNodes(replaced, removing: removed)
    }

    /// Fuses softmax cross-entropy with its gradient (`SoftmaxCrossEntropyWithGradientOp`) when
    /// the loss's cotangent is ready before the loss (a literal or an input: a training step's
    /// seed): the logits, often the largest tensor of a language model, are then read once for
    /// both, and die right after.
    func fuseCrossEntropyGradient() {
        let producer = producers()
        var replaced: [Int: Node] = [:], removed = Set<Int>()
        for (index, node) in nodes.enumerated() where node.op is SoftmaxCrossEntropyGradOp {
            let (logits, labels, lse, g) = (node.inputs[0], node.inputs[1], node.inputs[2], node.inputs[3])
            guard let f = producer[lse], nodes[f].op is SoftmaxCrossEntropyOp, nodes[f].outputs[1] == lse,
                  nodes[f].inputs == [logits, labels], producer[g].map({ $0 < f }) ?? true, replaced[f] == nil else { continue }
            replaced[f] = Node(op: SoftmaxCrossEntropyWithGradientOp(), inputs: [logits, labels, g], outputs: nodes[f].outputs + node.outputs)
            removed.insert(index)
        }
        replaceNodes(replaced, removing: removed)
    }

    /// Fuses a convolution's backward pass into one `Conv2dBackwardOp`: its weight gradient
    /// with the input gradient reading the same cotangent, and with the max-pool scatter that
    /// makes that cotangent when nothing else reads it. Each image's cotangent is then made and
    /// read once, and a scattered one never reaches memory.
    func fuseConvolutionBackward() {
        let outputSet = Set(outputs)
        let producer = producers()
        let readers = readers()
        var replaced: [Int: Node] = [:], removed = Set<Int>()
        for (w, node) in nodes.enumerated() {
            guard let weightGrad = node.op as? Conv2dWeightGradOp, weightGrad.direct, let g = node.inputs.last, !outputSet.contains(g),
                  Conv2dBackwardOp.supports(weightGrad.geometry, input: values[node.inputs[0]], weightShape: weightGrad.weightShape) else { continue }
            let others = readers[g, default: []].filter { $0 != w }
            let inputGrad = others.first.flatMap { i -> Int? in
                guard others.count == 1, let op = nodes[i].op as? Conv2dInputGradOp, op.geometry == weightGrad.geometry,
                      nodes[i].inputs[0] == g, op.inputShape == values[node.inputs[0]].shape else { return nil }
                return i
            }
            guard others.isEmpty || inputGrad != nil else { continue }
            let scatter = producer[g].flatMap { nodes[$0].op is MaxPool2dScatterOp ? $0 : nil }
            guard scatter != nil || inputGrad != nil else { continue }
            // The fused node takes the later position; nothing in between may read the earlier one's outputs.
            let (first, last) = (Swift.min(w, inputGrad ?? w), Swift.max(w, inputGrad ?? w))
            let early = Set(nodes[first].outputs)
            guard first == last || !nodes[(first + 1)..<last].contains(where: { $0.inputs.contains(where: early.contains) }),
                  !([w, inputGrad, scatter].compactMap { $0 }.contains { replaced[$0] != nil || removed.contains($0) }) else { continue }
            let scatterOp = scatter.map { nodes[$0].op as! MaxPool2dScatterOp }
            let op = Conv2dBackwardOp(convolution: weightGrad.geometry, weightShape: weightGrad.weightShape, inputGradient: inputGrad != nil,
                                      withBias: weightGrad.withBias, pool: scatterOp?.geometry, masked: scatterOp?.masked ?? false)
            let fusedInputs = [node.inputs[0]] + (inputGrad.map { [nodes[$0].inputs[1]] } ?? []) + (scatter.map { nodes[$0].inputs } ?? [g])
            replaced[last] = Node(op: op, inputs: fusedInputs, outputs: (inputGrad.map { nodes[$0].outputs } ?? []) + node.outputs)
            if first != last { removed.insert(first) }
            if let scatter { removed.insert(scatter) }
        }
        replaceNodes(replaced, removing: removed)
    }

    /// Replaces the indices of a fused convolution + ReLU + pooling (2×2 windows tiling the
    /// convolution's output) with one-byte window codes that also hold the ReLU mask
    /// (`Conv2dMaxPoolOp.windowCodes`), when every reader of its indices is a masked
    /// `Conv2dBackwardOp` whose mask is its pooled output: those backward passes then read a
    /// quarter of the bytes and no longer read the pooled output.
    func foldReLUMasksIntoWindowCodes() {
        let outputSet = Set(outputs)
        let readers = readers()
        var replaced: [Int: Node] = [:]
        for (index, node) in nodes.enumerated() {
            guard let op = node.op as? Conv2dMaxPoolOp, op.relu, !op.windowCodes, node.outputs.count == 2,
                  let shape = try? op.convolutionShape(node.inputs.map { values[$0] }),
                  op.pool.tilesTwoByTwo(height: shape[2], width: shape[3]) else { continue }
            let (pooled, indices) = (node.outputs[0], node.outputs[1])
            let users = readers[indices, default: []]
            guard !outputSet.contains(indices), !users.isEmpty, users.allSatisfy({ user in
                guard let backward = nodes[user].op as? Conv2dBackwardOp, backward.masked else { return false }
                return Array(nodes[user].inputs.suffix(2)) == [indices, pooled]
            }) else { continue }
            replaced[index] = Node(op: Conv2dMaxPoolOp(convolution: op.convolution, relu: true, pool: op.pool, windowCodes: true),
                                   inputs: node.inputs, outputs: node.outputs)
            values[indices] = Conv2dMaxPoolOp.windowCodesSpec(pooled: values[pooled])
            for user in users {
                let backward = nodes[user].op as! Conv2dBackwardOp
                replaced[user] = Node(op: Conv2dBackwardOp(convolution: backward.convolution, weightShape: backward.weightShape,
                                                           inputGradient: backward.inputGradient, withBias: backward.withBias,
                                                           pool: backward.pool, masked: false, windowCodes: true),
                                      inputs: Array(nodes[user].inputs.dropLast()), outputs: nodes[user].outputs)
            }
        }
        replaceNodes(replaced, removing: [])
    }

    /// The index of the node that makes each value.
    func producers() -> [Int: Int] {
        var producer: [Int: Int] = [:]
        for (index, node) in nodes.enumerated() { for v in node.outputs { producer[v] = index } }
        return producer
    }

    /// Puts the node `replacement[i]` in place of node i and drops the nodes at `removed`.
    func replaceNodes(_ replacement: [Int: Node], removing removed: Set<Int>) {
        nodes = nodes.indices.compactMap { removed.contains($0) ? nil : (replacement[$0] ?? nodes[$0]) }
    }

    /// The indices of the nodes that read each value (each node once).
    func readers() -> [Int: [Int]] {
        var readers: [Int: [Int]] = [:]
        for (index, node) in nodes.enumerated() { for v in Set(node.inputs) { readers[v, default: []].append(index) } }
        return readers
    }

    /// How many nodes read each value.
    func readerCounts() -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for node in nodes { for v in Set(node.inputs) { counts[v, default: 0] += 1 } }
        return counts
    }

    /// For each value, the index of the last node that reads it (outputs: never released).
    func lastUses() -> [Int: Int] {
        var last: [Int: Int] = [:]
        for (i, node) in nodes.enumerated() { for v in node.inputs { last[v] = i } }
        for v in outputs { last[v] = Int.max }
        return last
    }
}
