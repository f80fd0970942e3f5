import CApusKernels
import CBLAS

/// Float32/float64 GEMM on row-major blocks, C = op(A)·op(B) + beta·C, split across the
/// worker pool (by rows of C, else by columns) when it is large enough; OpenBLAS itself runs
/// single-threaded.
enum RawGEMM {
    /// Multiply-adds below which a GEMM stays on one thread.
    static let minimumWorkToSplit = 1 << 20

    static func run(_ dtype: DType, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                    a: UnsafeMutableRawPointer, lda: Int, b: UnsafeMutableRawPointer, ldb: Int,
                    beta: Double, c: UnsafeMutableRawPointer, ldc: Int) {
        BLASSetup.ensure()
        let parts = WorkerPool.shared.threads
        guard parts > 1, CPUThreads.canUsePool, m * n * k >= minimumWorkToSplit, m >= 2 * parts || n >= 32 * parts else {
            singleThreaded(dtype, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
            return
        }
        let size = dtype.byteSize
        let (ap, bp, cp) = (SendablePointer(raw: a), SendablePointer(raw: b), SendablePointer(raw: c))
        // Splitting C's rows makes every thread read all of op(B); splitting its columns, all of
        // op(A): split the side that keeps the larger operand partitioned (rows when m ≥ n).
        let byRows = m >= 2 * parts && (n < 32 * parts || m >= n)
        let total = byRows ? m : n, step = (total + parts - 1) / parts
        WorkerPool.shared.run { part in
            let start = part * step, count = Swift.min(step, total - start)
            guard count > 0 else { return }
            if byRows {   // rows of C come from rows of op(A)
                let aStart = transA ? start : start * lda
                singleThreaded(dtype, transA, transB, count, n, k, ap.raw + aStart * size, lda, bp.raw, ldb, beta,
                       cp.raw + start * ldc * size, ldc)
            } else {      // columns of C come from columns of op(B)
                let bStart = transB ? start * ldb : start
                singleThreaded(dtype, transA, transB, m, count, k, ap.raw, lda, bp.raw + bStart * size, ldb, beta,
                       cp.raw + start * size, ldc)
            }
        }
    }

    /// One GEMM on the calling thread.
    static func singleThreaded(_ dtype: DType, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                               _ a: UnsafeMutableRawPointer, _ lda: Int, _ b: UnsafeMutableRawPointer, _ ldb: Int,
                               _ beta: Double, _ c: UnsafeMutableRawPointer, _ ldc: Int) {
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        if dtype == .float32 {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a.assumingMemoryBound(to: Float.self), Int32(lda),
                        b.assumingMemoryBound(to: Float.self), Int32(ldb), Float(beta), c.assumingMemoryBound(to: Float.self), Int32(ldc))
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a.assumingMemoryBound(to: Double.self), Int32(lda),
                        b.assumingMemoryBound(to: Double.self), Int32(ldb), beta, c.assumingMemoryBound(to: Double.self), Int32(ldc))
        }
    }
}

/// C[m, n] += A[m, k]·B[k, n], all row-major, for a few rows of an LSTM step: the
/// register-blocked AVX-512 kernel for float32, BLAS otherwise.
func accumulateRows(_ dtype: DType, m: Int, n: Int, k: Int, a: UnsafeMutableRawPointer, lda: Int,
                    b: UnsafeMutableRawPointer, ldb: Int, c: UnsafeMutableRawPointer, ldc: Int) {
    if dtype == .float32, apus_sgemm_short(Int64(m), 0, Int64(n), Int64(k), a.assumingMemoryBound(to: Float.self), Int64(lda),
                                           b.assumingMemoryBound(to: Float.self), Int64(ldb), c.assumingMemoryBound(to: Float.self),
                                           Int64(ldc), 1) != 0 {
        return
    }
    RawGEMM.run(dtype, transA: false, transB: false, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c, ldc: ldc)
}

/// A whole LSTM layer direction over T steps, fused: per step one GEMM (h·W_hhᵀ added to the
/// precomputed input gates) and one C pass; the backward is one recurrence plus a single GEMM
/// for the recurrent weight gradient (instead of T small ones and T accumulations).
///
/// Inputs: `inputGates` [T, B, 4H] (x·W_ihᵀ + biases), `h0`, `c0` [B, H], `weightHH` [4H, H],
/// and optionally `mask` [T, B] (1 = real step; padded steps keep the state and output 0).
/// Outputs: `y` [T, B, H], `hT`, `cT` [B, H], then what the backward reads (no gradient flows
/// through them): activated gates [T, B, 4H], c before each step, the unmasked new c, and h
/// before each step, each [T, B, H]. `reverse` runs from the last step to the first.
public struct LSTMSequenceOp: Operation {
    /// Whether the sequence is run from the last step to the first (a bidirectional LSTM's backward direction).
    public let reverse: Bool
    /// An LSTM direction over the sequence; `reverse` runs it from the last step to the first.
    public init(reverse: Bool) { self.reverse = reverse }
    public var name: String { "lstmSequence" }
    public var outputCount: Int { 7 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 4 || inputs.count == 5, name, inputs, "inputs are gates, h0, c0, weightHH and an optional mask")
        let gates = inputs[0], h = inputs[1]
        try require(h.shape.count == 2 && inputs[2] == h && h.dtype.isFloatingPoint, name, inputs, "h0 and c0 must both be [B, H] floats")
        let (b, hidden) = (h.shape[0], h.shape[1])
        try require(gates.shape.count == 3 && Array(gates.shape.dropFirst()) == [b, 4 * hidden] && gates.dtype == h.dtype,
                    name, inputs, "input gates must be [T, \(b), \(4 * hidden)]")
        try require(inputs[3] == TensorSpec([4 * hidden, hidden], h.dtype), name, inputs, "weightHH must be [\(4 * hidden), \(hidden)]")
        let steps = gates.shape[0]
        if inputs.count == 5 { try require(inputs[4] == TensorSpec([steps, b], h.dtype), name, inputs, "mask must be [T, B] = [\(steps), \(b)]") }
        let sequence = TensorSpec([steps, b, hidden], h.dtype)
        return [sequence, h, h, gates, sequence, sequence, sequence]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let projected = inputs[0].dense, w = inputs[3].dense, mask = inputs.count == 5 ? inputs[4].dense : nil
        let wT = PermuteOp(permutation: [1, 0]).cpu([w], [])[0].dense   // [H, 4H] for the short-GEMM kernel
        let (steps, b, hidden) = (projected.shape[0], inputs[1].shape[0], inputs[1].shape[1])
        let dtype = projected.dtype, size = dtype.byteSize
        let made = outputs.map { Tensor(uninitialized: $0.shape, dtype: dtype) }
        let (y, hState, cState, gates, cPrev, cNew, hPrev) = (made[0], made[1], made[2], made[3], made[4], made[5], made[6])
        CPUElementwise.copy(inputs[1], into: hState)
        CPUElementwise.copy(inputs[2], into: cState)
        let rowBytes = b * hidden * size, gateBytes = b * 4 * hidden * size
        for k in 0..<steps {
            let t = reverse ? steps - 1 - k : k
            let g = gates.rawPointer + t * gateBytes
            g.copyMemory(from: projected.rawPointer + t * gateBytes, byteCount: gateBytes)
            (hPrev.rawPointer + t * rowBytes).copyMemory(from: hState.rawPointer, byteCount: rowBytes)
            (cPrev.rawPointer + t * rowBytes).copyMemory(from: cState.rawPointer, byteCount: rowBytes)
            // One pool job per step: each thread takes batch rows, adds h·W_hhᵀ to their gates and
            // runs their gate math while the rows are in cache.
            let (gp, cpp, hpp, cnp, csp, hsp, yp, wp) = (SendablePointer(raw: g), SendablePointer(raw: cPrev.rawPointer + t * rowBytes),
                SendablePointer(raw: hPrev.rawPointer + t * rowBytes), SendablePointer(raw: cNew.rawPointer + t * rowBytes),
                SendablePointer(raw: cState.rawPointer), SendablePointer(raw: hState.rawPointer), SendablePointer(raw: y.rawPointer + t * rowBytes),
                SendablePointer(raw: wT.rawPointer))
            let m = mask.map { SendablePointer(raw: $0.rawPointer + t * b * size) }
            CPUThreads.forChunks(b, costPerItem: 4 * hidden * hidden) { rows in
                let (r, n) = (rows.lowerBound, rows.count)
                let row = r * hidden * size, gateRow = r * 4 * hidden * size
                accumulateRows(dtype, m: n, n: 4 * hidden, k: hidden, a: hpp.raw + row, lda: hidden, b: wp.raw, ldb: 4 * hidden,
                               c: gp.raw + gateRow, ldc: 4 * hidden)
                if dtype == .float32 {
                    let f = Float.self
                    apus_lstm_step_forward_f32(Int64(n), Int64(hidden), gp.typed(gateRow, as: f), cpp.typed(row, as: f), hpp.typed(row, as: f),
                                               m?.typed(r * size, as: f), cnp.typed(row, as: f), csp.typed(row, as: f), hsp.typed(row, as: f), yp.typed(row, as: f))
                } else {
                    let d = Double.self
                    apus_lstm_step_forward_f64(Int64(n), Int64(hidden), gp.typed(gateRow, as: d), cpp.typed(row, as: d), hpp.typed(row, as: d),
                                               m?.typed(r * size, as: d), cnp.typed(row, as: d), csp.typed(row, as: d), hsp.typed(row, as: d), yp.typed(row, as: d))
                }
            }
        }
        return made
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let saved = Array(c.outputs[3...6])
        let mask = c.inputs.count == 5 ? [c.inputs[4]] : []
        let grads = Tensor.apply(LSTMSequenceGradOp(reverse: reverse), Array(c.cotangents[0...2]) + saved + [c.inputs[3]] + mask)
        return grads.map { Optional($0) } + (mask.isEmpty ? [] : [nil])
    }
}

/// Backward of `LSTMSequenceOp`: (dy, dhT, dcT, gates, cPrev, cNew, hPrev, weightHH[, mask]) →
/// (d input gates [T, B, 4H], dh0, dc0, d weightHH). Not differentiable again.
public struct LSTMSequenceGradOp: Operation {
    /// Whether the forward pass ran from the last step to the first.
    public let reverse: Bool
    /// The backward pass of an `LSTMSequenceOp` with the same `reverse`.
    public init(reverse: Bool) { self.reverse = reverse }
    public var name: String { "lstmSequenceGrad" }
    public var outputCount: Int { 4 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 8 || inputs.count == 9, name, inputs, "expected dy, dhT, dcT, gates, cPrev, cNew, hPrev, weightHH[, mask]")
        let dy = inputs[0]
        try require(dy.shape.count == 3, name, inputs, "dy must be [T, B, H]")
        let (steps, b, h) = (dy.shape[0], dy.shape[1], dy.shape[2])
        let state = TensorSpec([b, h], dy.dtype), sequence = TensorSpec([steps, b, h], dy.dtype)
        try require(inputs[1] == state && inputs[2] == state && inputs[3] == TensorSpec([steps, b, 4 * h], dy.dtype)
                    && inputs[4] == sequence && inputs[5] == sequence && inputs[6] == sequence
                    && inputs[7] == TensorSpec([4 * h, h], dy.dtype) && (inputs.count == 8 || inputs[8] == TensorSpec([steps, b], dy.dtype)),
                    name, inputs, "shapes must match an LSTM sequence of T = \(steps), B = \(b), H = \(h)")
        return [inputs[3], inputs[1], inputs[2], inputs[7]]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let t8 = inputs.map(\.dense)
        let (dy, gates, cPrev, cNew, hPrev, w) = (t8[0], t8[3], t8[4], t8[5], t8[6], t8[7])
        let mask = inputs.count == 9 ? t8[8] : nil
        let (steps, b, hidden) = (dy.shape[0], dy.shape[1], dy.shape[2])
        let dtype = dy.dtype, size = dtype.byteSize
        let dGates = Tensor(uninitialized: gates.shape, dtype: dtype)
        let dh = CopyOp().cpu([inputs[1]], [])[0], dc = CopyOp().cpu([inputs[2]], [])[0]
        let rowBytes = b * hidden * size, gateBytes = b * 4 * hidden * size
        for k in 0..<steps {
            let t = reverse ? k : steps - 1 - k
            // One pool job per step: each thread takes batch rows, runs their gate math, then adds
            // their dGates·W_hh to dh while the rows are in cache.
            let (gp, cpp, cnp, dyp, dhp, dcp, dgp, wp) = (SendablePointer(raw: gates.rawPointer + t * gateBytes),
                SendablePointer(raw: cPrev.rawPointer + t * rowBytes), SendablePointer(raw: cNew.rawPointer + t * rowBytes),
                SendablePointer(raw: dy.rawPointer + t * rowBytes), SendablePointer(raw: dh.rawPointer), SendablePointer(raw: dc.rawPointer),
                SendablePointer(raw: dGates.rawPointer + t * gateBytes), SendablePointer(raw: w.rawPointer))
            let m = mask.map { SendablePointer(raw: $0.rawPointer + t * b * size) }
            CPUThreads.forChunks(b, costPerItem: 4 * hidden * hidden) { rows in
                let (r, n) = (rows.lowerBound, rows.count)
                let row = r * hidden * size, gateRow = r * 4 * hidden * size
                if dtype == .float32 {
                    let f = Float.self
                    apus_lstm_step_backward_f32(Int64(n), Int64(hidden), gp.typed(gateRow, as: f), cpp.typed(row, as: f), cnp.typed(row, as: f),
                                                m?.typed(r * size, as: f), dyp.typed(row, as: f), dhp.typed(row, as: f), dcp.typed(row, as: f),
                                                dgp.typed(gateRow, as: f))
                } else {
                    let d = Double.self
                    apus_lstm_step_backward_f64(Int64(n), Int64(hidden), gp.typed(gateRow, as: d), cpp.typed(row, as: d), cnp.typed(row, as: d),
                                                m?.typed(r * size, as: d), dyp.typed(row, as: d), dhp.typed(row, as: d), dcp.typed(row, as: d),
                                                dgp.typed(gateRow, as: d))
                }
                accumulateRows(dtype, m: n, n: hidden, k: 4 * hidden, a: dgp.raw + gateRow, lda: 4 * hidden, b: wp.raw, ldb: hidden,
                               c: dhp.raw + row, ldc: hidden)
            }
        }
        let dW = Tensor(uninitialized: w.shape, dtype: dtype)
        RawGEMM.run(dtype, transA: true, transB: false, m: 4 * hidden, n: hidden, k: steps * b, a: dGates.rawPointer, lda: 4 * hidden,
                    b: hPrev.rawPointer, ldb: hidden, beta: 0, c: dW.rawPointer, ldc: hidden)
        return [dGates, dh, dc, dW]
    }
}

/// A whole LSTM layer direction (see `LSTMSequenceOp`): returns the outputs [T, B, H] and the final (h, c).
public func lstmSequence(inputGates: Tensor, h0: Tensor, c0: Tensor, weightHH: Tensor, mask: Tensor? = nil,
                         reverse: Bool = false) -> (output: Tensor, h: Tensor, c: Tensor) {
    let out = Tensor.apply(LSTMSequenceOp(reverse: reverse), [inputGates, h0, c0, weightHH] + (mask.map { [$0] } ?? []))
    return (out[0], out[1], out[2])
}
