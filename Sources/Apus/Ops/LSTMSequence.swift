import CApusKernels
import CBLAS

/// Float32/float64 GEMM on row-major blocks, C = op(A)·op(B) + beta·C, split across the
/// worker pool (by rows of C, else by columns) when it is large enough; OpenBLAS itself runs
/// single-threaded. Whether and how a product splits depends only on its shape: when the pool
/// is taken the parts run one after another, because OpenBLAS rounds a block differently from
/// the same block inside a larger call (its edge kernels sum in another order), and results
/// must not depend on what else is running.
enum RawGEMM {
    /// Multiply-adds below which a GEMM stays on one thread.
    static let minimumWorkToSplit = 1 << 20

    static func run(_ dtype: DType, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                    a: UnsafeMutableRawPointer, lda: Int, b: UnsafeMutableRawPointer, ldb: Int,
                    beta: Double, c: UnsafeMutableRawPointer, ldc: Int) {
        BLASSetup.ensure()
        let parts = WorkerPool.shared.threads
        guard parts > 1, m * n * k >= minimumWorkToSplit, m >= 2 * parts || n >= 32 * parts else {
            singleThreaded(dtype, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
            return
        }
        let size = dtype.byteSize
        let (ap, bp, cp) = (SendablePointer(raw: a), SendablePointer(raw: b), SendablePointer(raw: c))
        // Splitting C's rows makes every thread read all of op(B); splitting its columns, all of
        // op(A): split the side that keeps the larger operand partitioned (rows when m ≥ n).
        let byRows = m >= 2 * parts && (n < 32 * parts || m >= n)
        let total = byRows ? m : n, step = (total + parts - 1) / parts
        CPUThreads.forParts(parts) { part in
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
        let projected = inputs[0].dense, mask = inputs.count == 5 ? inputs[4].dense : nil
        let (steps, b, hidden) = (projected.shape[0], inputs[1].shape[0], inputs[1].shape[1])
        let dtype = projected.dtype, size = dtype.byteSize
        let made = outputs.map { Tensor(uninitialized: $0.shape, dtype: dtype) }
        let (y, hLast, cLast, gates, cPrev, cNew, hPrev) = (made[0], made[1], made[2], made[3], made[4], made[5], made[6])
        guard steps > 0 else {
            CPUElementwise.copy(inputs[1], into: hLast)
            CPUElementwise.copy(inputs[2], into: cLast)
            return made
        }
        let rowBytes = b * hidden * size, gateBytes = b * 4 * hidden * size
        let stepAt = { (k: Int) in reverse ? steps - 1 - k : k }
        // The state before step t lives in hPrev[t], cPrev[t] (the backward reads them there);
        // each step writes the next step's, the last one hLast and cLast.
        let h0 = hPrev.rawPointer + stepAt(0) * rowBytes, c0 = cPrev.rawPointer + stepAt(0) * rowBytes
        let (h0In, c0In) = (inputs[1].dense, inputs[2].dense)
        withExtendedLifetime((h0In, c0In)) {
            h0.copyMemory(from: h0In.rawPointer, byteCount: rowBytes)
            c0.copyMemory(from: c0In.rawPointer, byteCount: rowBytes)
        }
        let product = LSTMRecurrentProduct(.forward, weights: inputs[3], rows: b)
        for k in 0..<steps {
            let t = stepAt(k), last = k == steps - 1
            let g = gates.rawPointer + t * gateBytes, hp = hPrev.rawPointer + t * rowBytes, cp = cPrev.rawPointer + t * rowBytes
            let hs = last ? hLast.rawPointer : hPrev.rawPointer + stepAt(k + 1) * rowBytes
            let cs = last ? cLast.rawPointer : cPrev.rawPointer + stepAt(k + 1) * rowBytes
            let cn = cNew.rawPointer + t * rowBytes, yt = y.rawPointer + t * rowBytes
            let m = mask.map { $0.rawPointer + t * b * size }
            // One pool job per step: each thread adds h·W_hhᵀ to its units' gates and runs their gate math.
            product.run { units in
                product.multiply(units, rows: b, a: hp, source: projected.rawPointer + t * gateBytes, c: g)
                let (u, n) = (units.lowerBound * size, Int64(units.count))
                if dtype == .float32 {
                    let f = Float.self
                    apus_lstm_step_forward_f32(Int64(b), Int64(hidden), n, (g + u).assumingMemoryBound(to: f), (cp + u).assumingMemoryBound(to: f),
                                               (hp + u).assumingMemoryBound(to: f), m?.assumingMemoryBound(to: f), (cn + u).assumingMemoryBound(to: f),
                                               (cs + u).assumingMemoryBound(to: f), (hs + u).assumingMemoryBound(to: f), (yt + u).assumingMemoryBound(to: f))
                } else {
                    let d = Double.self
                    apus_lstm_step_forward_f64(Int64(b), Int64(hidden), n, (g + u).assumingMemoryBound(to: d), (cp + u).assumingMemoryBound(to: d),
                                               (hp + u).assumingMemoryBound(to: d), m?.assumingMemoryBound(to: d), (cn + u).assumingMemoryBound(to: d),
                                               (cs + u).assumingMemoryBound(to: d), (hs + u).assumingMemoryBound(to: d), (yt + u).assumingMemoryBound(to: d))
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
        let stepAt = { (k: Int) in reverse ? k : steps - 1 - k }   // backward order
        let product = LSTMRecurrentProduct(.backward, weights: w, rows: b)
        // Job k: each thread adds the previous step's dGates·W_hh to its units of dh (it needs every
        // thread's dGates, hence the job boundary), then runs step k's gate math on those units.
        for k in 0...steps {
            let previous = k > 0 ? dGates.rawPointer + stepAt(k - 1) * gateBytes : nil
            product.run { units in
                if let previous { product.multiply(units, rows: b, a: previous, source: nil, c: dh.rawPointer) }
                guard k < steps else { return }
                let t = stepAt(k), u = units.lowerBound * size, n = Int64(units.count)
                let (g, cp, cn, dyt, dg) = (gates.rawPointer + t * gateBytes + u, cPrev.rawPointer + t * rowBytes + u,
                                            cNew.rawPointer + t * rowBytes + u, dy.rawPointer + t * rowBytes + u, dGates.rawPointer + t * gateBytes + u)
                let m = mask.map { $0.rawPointer + t * b * size }
                if dtype == .float32 {
                    let f = Float.self
                    apus_lstm_step_backward_f32(Int64(b), Int64(hidden), n, g.assumingMemoryBound(to: f), cp.assumingMemoryBound(to: f),
                                                cn.assumingMemoryBound(to: f), m?.assumingMemoryBound(to: f), dyt.assumingMemoryBound(to: f),
                                                (dh.rawPointer + u).assumingMemoryBound(to: f), (dc.rawPointer + u).assumingMemoryBound(to: f),
                                                dg.assumingMemoryBound(to: f))
                } else {
                    let d = Double.self
                    apus_lstm_step_backward_f64(Int64(b), Int64(hidden), n, g.assumingMemoryBound(to: d), cp.assumingMemoryBound(to: d),
                                                cn.assumingMemoryBound(to: d), m?.assumingMemoryBound(to: d), dyt.assumingMemoryBound(to: d),
                                                (dh.rawPointer + u).assumingMemoryBound(to: d), (dc.rawPointer + u).assumingMemoryBound(to: d),
                                                dg.assumingMemoryBound(to: d))
                }
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
