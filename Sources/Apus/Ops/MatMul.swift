/// Batched matrix product with NumPy broadcasting of the batch dimensions:
/// `[..., M, K] × [..., K, N] → [..., M, N]` (both operands of rank ≥ 2, one float dtype).
/// Runs on BLAS sgemm/dgemm; transposed views are passed to BLAS without copying.
///
/// `withBias` adds a third input, a bias of N elements (shape [N], or [1, …, 1, N]) added to
/// every row: the output starts as the bias and the GEMM adds the product into it, so the output
/// is written once, where a separate add would zero it, write it, then read and write it again.
/// Graph mode folds a Linear layer's `x·Wᵀ + b` into it (`Graph.fuseBiasIntoMatMul`).
public struct MatMulOp: Operation {
    /// Whether a bias (the third input) is added to every row of the product.
    public let withBias: Bool

    /// Creates the op; its inputs are (a, b), and the bias when `withBias`.
    public init(withBias: Bool = false) { self.withBias = withBias }
    public var name: String { withBias ? "matmulBias" : "matmul" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == (withBias ? 3 : 2), name, inputs, withBias ? "inputs are a, b and the bias" : "inputs are a and b")
        let a = inputs[0], b = inputs[1]
        try require(a.shape.count >= 2 && b.shape.count >= 2, name, inputs, "both operands need rank ≥ 2")
        try require(a.dtype == b.dtype && a.dtype.isFloatingPoint, name, inputs, "both operands must be float32 or both float64")
        try require(a.shape[a.shape.count - 1] == b.shape[b.shape.count - 2], name, inputs,
                    "inner dimensions must agree ([..., M, K] × [..., K, N])")
        guard let batch = broadcastShapes(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "batch dimensions must broadcast")
        }
        let n = b.shape[b.shape.count - 1]
        if withBias {
            let bias = inputs[2]
            try require(bias.dtype == a.dtype && bias.shape.last == n && bias.count == n, name, inputs,
                        "the bias must have N = \(n) elements ([N] or [1, …, 1, N]) of the operands' dtype")
        }
        return [TensorSpec(batch + [a.shape[a.shape.count - 2], n], a.dtype)]
    }

    /// How BLAS reads the last two dimensions of an operand without copying, if it can.
    static func blasLayout(_ t: Tensor) -> (transposed: Bool, leading: Int)? {
        let rows = t.shape[t.rank - 2], cols = t.shape[t.rank - 1]
        let rs = t.strides[t.rank - 2], cs = t.strides[t.rank - 1]
        if (cs == 1 || cols == 1) && rs >= Swift.max(cols, 1) { return (false, rs) }
        if (rs == 1 || rows == 1) && cs >= Swift.max(rows, 1) { return (true, cs) }
        if rows == 1 && cols == 1 { return (false, 1) }
        return nil
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        var a = inputs[0], b = inputs[1]
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        if m == 0 || n == 0 { return [Tensor.zeros(outputs[0].shape, dtype: a.dtype)] }
        let y = Tensor(uninitialized: outputs[0].shape, dtype: a.dtype)
        if withBias { Self.fillRows(y, with: inputs[2].dense) } else if k == 0 { return [Tensor.zeros(outputs[0].shape, dtype: a.dtype)] }
        if k == 0 { return [y] }
        let beta: Double = withBias ? 1 : 0
        // [..., M, K] × [K, N] with a dense: one GEMM over all rows.
        if b.rank == 2 && a.isContiguous && a.rank > 2 {
            a = Tensor(storage: a.storage, shape: [a.count / k, k], strides: [k, 1], offset: a.offset, dtype: a.dtype)
        }
        if Self.blasLayout(a) == nil { a = a.dense }
        if Self.blasLayout(b) == nil { b = b.dense }
        let la = Self.blasLayout(a)!, lb = Self.blasLayout(b)!
        let rows = a.shape[a.rank - 2]
        let batchShape = Array(y.shape.dropLast(2))
        let batchCount = a.rank == 2 && b.rank == 2 ? 1 : batchShape.reduce(1, *)
        let batchA = Self.batchOffsets(a, batchShape), batchB = Self.batchOffsets(b, batchShape)
        let size = a.dtype.byteSize
        let (ap, bp, yp) = (SendablePointer(raw: a.rawPointer), SendablePointer(raw: b.rawPointer), SendablePointer(raw: y.rawPointer))
        /// Product `i`, run whole on the calling thread or split over the pool when large enough.
        func product(_ i: Int, whole: Bool) {
            let gemm = whole ? RawGEMM.singleThreaded : RawGEMM.run
            gemm(a.dtype, la.transposed, lb.transposed, rows, n, k, ap.raw + batchA[i] * size, la.leading,
                 bp.raw + batchB[i] * size, lb.leading, beta, yp.raw + i * rows * n * size, n)
        }
        withExtendedLifetime((a, b, y)) {
            // Many small products (attention's heads): whole products per thread; otherwise each
            // product splits itself when it is large enough.
            if batchCount >= 2 * WorkerPool.shared.threads && rows * n * k < RawGEMM.minimumWorkToSplit * 8 {
                CPUThreads.forChunks(batchCount, costPerItem: CPUThreads.minimumElementsToSplit) { range in range.forEach { product($0, whole: true) } }
            } else {
                (0..<batchCount).forEach { product($0, whole: false) }
            }
        }
        return [y]
    }

    /// Every row of `y` [..., N] (contiguous) set to `bias` (N elements, contiguous).
    private static func fillRows(_ y: Tensor, with bias: Tensor) {
        let n = y.shape[y.rank - 1], rowBytes = n * y.dtype.byteSize
        let (yp, bp) = (SendablePointer(raw: y.rawPointer), SendablePointer(raw: bias.rawPointer))
        withExtendedLifetime((y, bias)) {
            CPUThreads.forChunks(y.count / n, costPerItem: n) { rows in
                for r in rows { (yp.raw + r * rowBytes).copyMemory(from: bp.raw, byteCount: rowBytes) }
            }
        }
    }

    /// Element offset of each matrix of `t` for every index of the broadcast batch shape.
    private static func batchOffsets(_ t: Tensor, _ batchShape: [Int]) -> [Int] {
        let batchRank = t.rank - 2
        if batchRank == 0 || batchShape.isEmpty { return Array(repeating: 0, count: Swift.max(batchShape.reduce(1, *), 1)) }
        let view = Tensor(storage: t.storage, shape: Array(t.shape.prefix(batchRank)), strides: Array(t.strides.prefix(batchRank)),
                          offset: 0, dtype: t.dtype)
        return CPUElementwise.offsets(StridedLayout(outShape: batchShape, operands: [view]), operand: 0)
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { SavedValues(inputs: [0, 1]) }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let g = c.cotangents[0], a = c.inputs[0], b = c.inputs[1]
        let (k, n) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        // [..., M, K] × [K, N] (a Linear layer on a sequence): the weight gradient is one GEMM
        // over all rows, not one per batch entry followed by a reduction.
        // When b is the transposed view of a weight [N, K] (x·Wᵀ), the gradient is computed as
        // (gᵀ·a)ᵀ so that W's own gradient comes out contiguous (no copy in the optimizer).
        let weightView = b.rank == 2 && b.shape[0] > 1 && b.strides == [1, b.shape[0]]
        let gb: Tensor? = !c.needsGradient(1) ? nil
            : b.rank == 2 && weightView ? g.reshaped([-1, n]).transposed().matmul(a.reshaped([-1, k])).transposed()
            : b.rank == 2 && a.rank > 2 ? a.reshaped([-1, k]).transposed().matmul(g.reshaped([-1, n]))
            : a.transposed().matmul(g).sum(toShape: b.shape)
        let gradients = [c.needsGradient(0) ? g.matmul(b.transposed()).sum(toShape: a.shape) : nil, gb]
        return withBias ? gradients + [c.needsGradient(2) ? g.sum(toShape: c.inputs[2].shape) : nil] : gradients
    }
}

extension Tensor {
    /// Matrix product as NumPy's `matmul`: 1-D operands are promoted to a row (left) or column
    /// (right) and that dimension is removed again; batch dimensions broadcast.
    public func matmul(_ other: Tensor) -> Tensor {
        if isPoisoned || other.isPoisoned { return Tensor.poisoned }
        let a = rank == 1 ? unsqueezed(axis: 0) : self
        let b = other.rank == 1 ? other.unsqueezed(axis: 1) : other
        var y = Tensor.apply(MatMulOp(), [a, b])[0]
        if rank == 1 && other.rank == 1 { return y.reshaped([]) }
        if other.rank == 1 { y = y.squeezed(axis: -1) }
        if rank == 1 { y = y.squeezed(axis: -2) }
        return y
    }
}

/// Matrix product (see `Tensor.matmul`).
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { a.matmul(b) }

/// x·Wᵀ + b (PyTorch's `F.linear`): x [..., in], weight [out, in], bias [out] or nil → [..., out].
/// With a bias and x of rank ≥ 2 it is one product that starts from the bias
/// (`MatMulOp(withBias: true)`), in eager and graph mode alike, so both sum in the same order.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    guard let bias, x.rank >= 2 else {
        let y = x.matmul(weight.transposed())
        return bias.map { y + $0 } ?? y
    }
    if x.isPoisoned || weight.isPoisoned || bias.isPoisoned { return Tensor.poisoned }
    return Tensor.apply(MatMulOp(withBias: true), [x, weight.transposed(), bias])[0]
}
