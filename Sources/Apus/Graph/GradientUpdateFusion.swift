/// One parameter's elementwise update over `count` elements from `offset`, given their gradient
/// (`count` elements of the parameter's dtype). Calls on disjoint spans may run concurrently.
public typealias SpanUpdate = (_ offset: Int, _ count: Int, _ gradient: UnsafeRawPointer) -> Void

/// One parameter's elementwise update, applied piece by piece while its gradient is made.
public protocol BlockwiseUpdate {
    /// The update kernel for this run, or nil when the update is skipped (`loss` is not finite).
    func kernel(loss: Tensor) -> SpanUpdate?
}

/// An op that updates parameters in place from their gradients (an optimizer step): inputs
/// [loss, gradient 1…n, parameter 1…n], no outputs. `fuseGradientUpdates` may take a parameter
/// whose update is elementwise out of it and apply that update in the op making its gradient.
public protocol ParameterUpdateOp: Operation {
    /// The number n of parameters updated.
    var parameterCount: Int { get }
    /// This op without parameter `i` (0-based), and that parameter's update; nil when the
    /// update is not elementwise.
    func splitting(parameter i: Int) -> (rest: any ParameterUpdateOp, update: any BlockwiseUpdate)?
}

/// The weight gradient dW = A·B of a parameter W [out, in] (A [out, K], B [K, in]; a Linear
/// layer's, K its batch), made one block of columns at a time, each block handed to W's update
/// while it is in cache: the gradient is never stored. Inputs [loss, A, B, W]; no outputs (W and
/// the optimizer's state change in place). W is an input so that the update runs after W's
/// other readers.
public struct MatMulUpdateOp: Operation {
    public let update: any BlockwiseUpdate

    public init(update: any BlockwiseUpdate) { self.update = update }

    public var name: String { "matmulUpdate" }
    public var outputCount: Int { 0 }
    public var hasSideEffects: Bool { true }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        guard inputs.count == 4, inputs[0].count == 1, inputs[1].shape.count == 2, inputs[2].shape.count == 2,
              inputs[1].shape[1] == inputs[2].shape[0], inputs[3].shape == [inputs[1].shape[0], inputs[2].shape[1]],
              inputs[1].dtype.isFloatingPoint, inputs[2].dtype == inputs[1].dtype, inputs[3].dtype == inputs[1].dtype else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "[loss], A [out, K], B [K, in], W [out, in] of one float dtype")
        }
        return []
    }

    /// Columns per block: the block of dW (out × width) stays within 256 KB of cache.
    static func blockWidth(rows: Int, columns: Int, elementSize: Int) -> Int {
        Swift.min(columns, Swift.max(16, (262_144 / (rows * elementSize)) / 16 * 16))
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        guard let kernel = update.kernel(loss: inputs[0]) else { return [] }
        let a = MatMulOp.blasLayout(inputs[1]) == nil ? inputs[1].dense : inputs[1]
        let b = MatMulOp.blasLayout(inputs[2]) == nil ? inputs[2].dense : inputs[2]
        let (la, lb) = (MatMulOp.blasLayout(a)!, MatMulOp.blasLayout(b)!)
        let (rows, inner, columns) = (a.shape[0], a.shape[1], b.shape[1])
        let size = a.dtype.byteSize, dtype = a.dtype
        let width = Self.blockWidth(rows: rows, columns: columns, elementSize: size)
        let (ap, bp) = (SendablePointer(raw: a.rawPointer), SendablePointer(raw: b.rawPointer))
        CPUThreads.forChunks((columns + width - 1) / width, costPerItem: rows * width) { blocks in
            let block = UnsafeMutableRawPointer.allocate(byteCount: rows * width * size, alignment: 64)
            defer { block.deallocate() }
            for index in blocks {
                let first = index * width, count = Swift.min(width, columns - first)
                RawGEMM.singleThreaded(dtype, la.transposed, lb.transposed, rows, count, inner, ap.raw, la.leading,
                                       bp.raw + (lb.transposed ? first * lb.leading : first) * size, lb.leading, 0, block, count)
                for row in 0..<rows { kernel(row * columns + first, count, block + row * count * size) }
            }
        }
        return []
    }
}

extension Graph {
    /// Moves the update of each parameter whose gradient is a matrix product (a Linear weight)
    /// out of the optimizer step and into that product (`MatMulUpdateOp`), when the update is
    /// elementwise. The fused node runs after every other reader of the parameter (or of a view
    /// of it), which still sees the old value, and before the step.
    func fuseGradientUpdates() {
        guard let u = nodes.lastIndex(where: { $0.op is any ParameterUpdateOp }) else { return }
        var step = nodes[u].op as! any ParameterUpdateOp
        var stepInputs = nodes[u].inputs
        let producer = producers(), readers = readerCounts(), outputSet = Set(outputs)
        var fused: [Int: [Node]] = [:], removed = Set<Int>()
        for i in (0..<step.parameterCount).reversed() {
            let n = step.parameterCount, gradient = stepInputs[1 + i], parameter = stepInputs[1 + n + i]
            // The gradient: a matrix product, possibly behind views that restore its layout.
            var chain: [Int] = [], value = gradient
            while let p = producer[value], nodes[p].op is PermuteOp || (nodes[p].op is ReshapeOp && values[nodes[p].inputs[0]].shape == values[value].shape) {
                chain.append(p)
                value = nodes[p].inputs[0]
            }
            guard let m = producer[value], nodes[m].op is MatMulOp, values[value].shape == values[parameter].shape,
                  values[value].shape.count == 2, nodes[m].inputs.allSatisfy({ values[$0].shape.count == 2 }),
                  ([gradient, value] + chain.map { nodes[$0].inputs[0] }).allSatisfy({ readers[$0] == 1 && !outputSet.contains($0) }),
                  chain.reversed().reduce([0, 1], { order, p in (nodes[p].op as? PermuteOp).map { $0.permutation.map { order[$0] } } ?? order }) == [0, 1]
            else { continue }
            let position = Swift.max(m, lastReader(ofViewsOf: parameter, excluding: Set([u, m] + chain)))
            guard position < u, let (rest, update) = step.splitting(parameter: i) else { continue }
            step = rest
            stepInputs.remove(at: 1 + n + i)
            stepInputs.remove(at: 1 + i)
            fused[position, default: []].append(Node(op: MatMulUpdateOp(update: update), inputs: [stepInputs[0]] + nodes[m].inputs + [parameter], outputs: []))
            removed.formUnion([m] + chain)
        }
        guard !fused.isEmpty else { return }
        var rewritten: [Node] = []
        for (index, node) in nodes.enumerated() {
            if index == u {
                rewritten.append(Node(op: step, inputs: stepInputs, outputs: node.outputs))
            } else if !removed.contains(index) {
                rewritten.append(node)
            }
            rewritten += fused[index] ?? []
        }
        nodes = rewritten
    }

    /// The index of the last node, other than those `excluded`, reading `value` or a view of it (-1: none).
    private func lastReader(ofViewsOf value: Int, excluding excluded: Set<Int>) -> Int {
        var views: Set<Int> = [value], last = -1
        for (index, node) in nodes.enumerated() where node.inputs.contains(where: views.contains) {
            if node.op.returnsView { views.formUnion(node.outputs) }
            if !excluded.contains(index) { last = index }
        }
        return last
    }
}
