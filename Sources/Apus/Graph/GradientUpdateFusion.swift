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
    /// This op taking one more input, a one-element scale that it multiplies every gradient
    /// by before updating; nil when it cannot (the default).
    func scaled() -> (any ParameterUpdateOp)?
}

extension ParameterUpdateOp {
    /// No scaled form: the update reads its gradients as they are.
    public func scaled() -> (any ParameterUpdateOp)? { nil }
}

/// The weight gradient dW = A·B of a parameter W [out, in] (A [out, K], B [K, in]; a Linear
/// layer's, K its batch), made one block at a time, each block handed to W's update while it is
/// in cache: the gradient is never stored. With a fifth input D [M, out], the op also returns the
/// product D·W with W's old values (the layer's input gradient), read in the same pass.
/// Inputs [loss, A, B, W(, D)]; outputs [] or [D·W]; W and the optimizer's state change in place.
public struct MatMulUpdateOp: Operation {
    /// W's update, handed each block of dW.
    public let update: any BlockwiseUpdate
    /// Whether the op also returns D·W.
    public let withProduct: Bool

    /// dW made for `update`, and D·W too when `withProduct`.
    public init(update: any BlockwiseUpdate, withProduct: Bool = false) {
        (self.update, self.withProduct) = (update, withProduct)
    }

    public var name: String { withProduct ? "matmulUpdate+product" : "matmulUpdate" }
    public var outputCount: Int { withProduct ? 1 : 0 }
    public var hasSideEffects: Bool { true }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        guard inputs.count == (withProduct ? 5 : 4), inputs[0].count == 1, inputs.dropFirst().allSatisfy({ $0.shape.count == 2 }),
              inputs[1].shape[1] == inputs[2].shape[0], inputs[3].shape == [inputs[1].shape[0], inputs[2].shape[1]],
              !withProduct || inputs[4].shape[1] == inputs[3].shape[0],
              inputs[1].dtype.isFloatingPoint, inputs.dropFirst().allSatisfy({ $0.dtype == inputs[1].dtype }) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape),
                             expected: "[loss], A [out, K], B [K, in], W [out, in]\(withProduct ? ", D [M, out]" : "") of one float dtype")
        }
        return withProduct ? [TensorSpec([inputs[4].shape[0], inputs[3].shape[1]], inputs[3].dtype)] : []
    }

    /// Blocks of dW: 512 columns (the update streams through 2 KB runs of W and the optimizer's
    /// state; wider blocks need fewer rows, which slows the GEMM) and as many rows as keep a block
    /// within 256 KB of cache.
    static func blockShape(rows: Int, columns: Int, elementSize: Int) -> (rows: Int, columns: Int) {
        let width = Swift.min(columns, 512)
        return (Swift.max(1, Swift.min(rows, 262_144 / (width * elementSize))), width)
    }

    /// A 2-D operand as BLAS reads it: base pointer, transposed or not, leading dimension. It
    /// holds the tensor (a dense copy when BLAS cannot read the layout) so the pointer stays valid.
    private struct Operand: @unchecked Sendable {
        let tensor: Tensor, pointer: UnsafeMutableRawPointer, transposed: Bool, leading: Int
        init(_ t: Tensor) {
            tensor = MatMulOp.blasLayout(t) == nil ? t.dense : t
            let layout = MatMulOp.blasLayout(tensor)!
            (pointer, transposed, leading) = (tensor.rawPointer, layout.transposed, layout.leading)
        }
        /// The element offset of (row, column).
        func offset(_ row: Int, _ column: Int) -> Int { transposed ? column * leading + row : row * leading + column }
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let kernel = update.kernel(loss: inputs[0])
        guard let kernel else { return withProduct ? [withoutGrad { inputs[4].matmul(inputs[3]) }] : [] }
        let (a, b, w) = (Operand(inputs[1]), Operand(inputs[2]), Operand(inputs[3]))
        let d = withProduct ? Operand(inputs[4]) : nil
        let product = outputs.first.map { Tensor(uninitialized: $0.shape, dtype: $0.dtype) }
        let productPointer = product.map { SendablePointer(raw: $0.rawPointer) }
        let (rows, inner, columns) = (inputs[1].shape[0], inputs[1].shape[1], inputs[2].shape[1])
        let m = inputs.count == 5 ? inputs[4].shape[0] : 0
        let size = inputs[1].dtype.byteSize, dtype = inputs[1].dtype
        let block = Self.blockShape(rows: rows, columns: columns, elementSize: size)
        // One task per block of columns: first those columns of D·W (the whole inner dimension at
        // once, so sums round as in one GEMM), then W's update one group of rows at a time. Without
        // D·W, one task per group of rows of a block of columns (a narrow W still uses every core).
        let columnBlocks = (columns + block.columns - 1) / block.columns, rowBlocks = withProduct ? 1 : (rows + block.rows - 1) / block.rows
        CPUThreads.forChunks(columnBlocks * rowBlocks, costPerItem: rows / rowBlocks * block.columns) { tasks in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: block.rows * block.columns * size, alignment: 64)
            defer { buffer.deallocate() }
            for task in tasks {
                let (columnBlock, rowBlock) = task.quotientAndRemainder(dividingBy: rowBlocks)
                let column = columnBlock * block.columns, width = Swift.min(block.columns, columns - column)
                if let d, let productPointer {
                    RawGEMM.singleThreaded(dtype, d.transposed, w.transposed, m, width, rows, d.pointer, d.leading,
                                           w.pointer + w.offset(0, column) * size, w.leading, 0, productPointer.raw + column * size, columns)
                }
                let firstRow = rowBlock * block.rows, lastRow = withProduct ? rows : Swift.min(rows, firstRow + block.rows)
                for row in stride(from: firstRow, to: lastRow, by: block.rows) {
                    let height = Swift.min(block.rows, rows - row)
                    RawGEMM.singleThreaded(dtype, a.transposed, b.transposed, height, width, inner, a.pointer + a.offset(row, 0) * size, a.leading,
                                           b.pointer + b.offset(0, column) * size, b.leading, 0, buffer, width)
                    for r in 0..<height { kernel((row + r) * columns + column, width, buffer + r * width * size) }
                }
            }
        }
        return product.map { [$0] } ?? []
    }
}

extension Graph {
    /// The deepest product (rows of the batch summed into dW) whose update is fused: beyond it
    /// the GEMM dominates and making dW block by block packs its long operands once per block
    /// (a Transformer's 2048 tokens: 0.15 s a step slower fused than apart; an MLP's batch of
    /// 256: no faster fused). The VQA model's batch of 32 stays fused.
    static let maximumFusedProductDepth = 128

    /// Moves the update of each parameter whose gradient is a matrix product (a Linear weight)
    /// out of the optimizer step and into that product (`MatMulUpdateOp`), when the update is
    /// elementwise. The fused node runs after every other reader of the parameter (or of a view
    /// of it), which still sees the old value, and before the step; when that last reader is a
    /// product D·W (the layer's input gradient), the fused node computes it too.
    func fuseGradientUpdates() {
        guard let u = nodes.lastIndex(where: { $0.op is any ParameterUpdateOp }) else { return }
        var step = nodes[u].op as! any ParameterUpdateOp
        var stepInputs = nodes[u].inputs
        let producer = producers(), readers = readerCounts(), outputSet = Set(outputs)
        var fused: [Int: [Node]] = [:], replaced: [Int: Node] = [:], removed = Set<Int>()
        for i in (0..<step.parameterCount).reversed() {
            let n = step.parameterCount, gradient = stepInputs[1 + i], parameter = stepInputs[1 + n + i]
            // The gradient: a matrix product, possibly behind views that restore its layout.
            let (value, chain) = identityViewSource(of: gradient, producer)
            guard let m = producer[value], (nodes[m].op as? MatMulOp)?.withBias == false, values[value].shape == values[parameter].shape,
                  values[value].shape.count == 2, nodes[m].inputs.allSatisfy({ values[$0].shape.count == 2 }),
                  values[nodes[m].inputs[0]].shape[1] <= Self.maximumFusedProductDepth,
                  ([gradient] + chain.map { nodes[$0].inputs[0] }).allSatisfy({ readers[$0] == 1 && !outputSet.contains($0) })
            else { continue }
            let position = Swift.max(m, lastReader(ofViewsOf: parameter, excluding: Set([u, m] + chain)))
            guard position < u, replaced[position] == nil, let (rest, update) = step.splitting(parameter: i) else { continue }
            step = rest
            stepInputs.remove(at: 1 + n + i)
            stepInputs.remove(at: 1 + i)
            removed.formUnion([m] + chain)
            let reader = nodes[position]
            if position != m, !removed.contains(position), (reader.op as? MatMulOp)?.withBias == false, identityViewSource(of: reader.inputs[1], producer).source == parameter,
               values[reader.inputs[0]].shape.count == 2 {
                replaced[position] = Node(op: MatMulUpdateOp(update: update, withProduct: true),
                                          inputs: [stepInputs[0]] + nodes[m].inputs + [parameter, reader.inputs[0]], outputs: reader.outputs)
            } else {
                fused[position, default: []].append(Node(op: MatMulUpdateOp(update: update), inputs: [stepInputs[0]] + nodes[m].inputs + [parameter], outputs: []))
            }
        }
        guard !fused.isEmpty || !replaced.isEmpty else { return }
        var rewritten: [Node] = []
        for (index, node) in nodes.enumerated() {
            if index == u {
                rewritten.append(Node(op: step, inputs: stepInputs, outputs: node.outputs))
            } else if let replacement = replaced[index] {
                rewritten.append(replacement)
            } else if !removed.contains(index) {
                rewritten.append(node)
            }
            rewritten += fused[index] ?? []
        }
        nodes = rewritten
    }

    /// Folds a scale that every gradient of the parameter update is multiplied by (gradient
    /// clipping by norm: g·min(1, m/‖g‖)) into the update (`ParameterUpdateOp.scaled`), when
    /// nothing else reads the scaled gradients: each block of a gradient is then scaled in cache
    /// as it is applied, and the scaled gradients are never written. Runs after
    /// `fuseGradientUpdates`, whose split-off updates would not see the scale.
    func fuseGradientScaleIntoUpdate() {
        guard let u = nodes.lastIndex(where: { $0.op is any ParameterUpdateOp }) else { return }
        let step = nodes[u].op as! any ParameterUpdateOp, n = step.parameterCount
        guard n > 0, let scaledStep = step.scaled() else { return }
        let producer = producers(), readers = readerCounts(), outputSet = Set(outputs)
        var unscaled: [Int] = [], products: [Int] = [], scale: Int? = nil
        for gradient in nodes[u].inputs[1...n] {
            guard let p = producer[gradient], let mul = nodes[p].op as? BinaryOp, mul.kind == .mul,
                  readers[gradient] == 1, !outputSet.contains(gradient) else { return }
            let (a, b) = (nodes[p].inputs[0], nodes[p].inputs[1])
            let (g, s) = values[b].count == 1 && values[a] == values[gradient] ? (a, b) : (b, a)
            guard values[s].count == 1, values[g] == values[gradient], scale == nil || scale == s else { return }
            scale = s
            unscaled.append(g)
            products.append(p)
        }
        var inputs = nodes[u].inputs
        inputs.replaceSubrange(1...n, with: unscaled)
        replaceNodes([u: Node(op: scaledStep, inputs: inputs + [scale!], outputs: nodes[u].outputs)], removing: Set(products))
    }

    /// The value that `value` is a view of, through permutations and reshapes that together
    /// change nothing (`value` itself when there are none), and the nodes of those views.
    private func identityViewSource(of value: Int, _ producer: [Int: Int]) -> (source: Int, chain: [Int]) {
        var chain: [Int] = [], source = value, order = Array(0..<values[value].shape.count)
        while let p = producer[source], nodes[p].op is PermuteOp || (nodes[p].op is ReshapeOp && values[nodes[p].inputs[0]].shape == values[source].shape) {
            if let permute = nodes[p].op as? PermuteOp { order = order.map { permute.permutation[$0] } }
            chain.append(p)
            source = nodes[p].inputs[0]
        }
        return order == Array(order.indices) ? (source, chain) : (value, [])
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
