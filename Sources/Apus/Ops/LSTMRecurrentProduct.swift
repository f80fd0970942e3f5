import CApusKernels

/// The recurrent product of an LSTM layer direction, shared by every step of one sequence:
/// `h·W_hhᵀ` added to the input gates (forward) or `dGates·W_hh` added to dh (backward), with
/// W_hh [4H, H]. Threads split the hidden units (in multiples of 16), so each computes its units'
/// columns of all four gates and then runs their gate math without waiting for the others;
/// the only synchronisation is one pool job per step.
///
/// Float32 on AVX2 CPUs packs W_hh once per sequence into 16-column panels
/// (`apus_sgemm_pack_panels`, each thread its own units) and multiplies with `apus_sgemm_panels`;
/// OpenBLAS would pack all of W_hh again at every step, which at batch 10–30 costs as much as
/// the product. Float64 and other CPUs call BLAS per thread on the unpacked weights.
final class LSTMRecurrentProduct {
    enum Direction {
        /// gates[B, 4H] = inputGates + h[B, H]·W_hhᵀ: columns g·H + units of each gate g.
        case forward
        /// dh[B, H] += dGates[B, 4H]·W_hh: columns `units` of dh.
        case backward
    }

    let direction: Direction
    let dtype: DType
    let hidden: Int
    /// W_hh [4H, H], contiguous.
    let weights: Tensor
    /// Threads splitting the units (1 for small layers or when the pool is taken).
    let parts: Int
    /// 16-column panels of the packed weights (4·ceil(H/16)·16·H floats), nil on the BLAS path.
    private let packed: UnsafeMutablePointer<Float>?
    /// 16-column panels per gate: ceil(H / 16).
    private let panelsPerGate: Int

    /// Packs `weights` [4H, H] for `rows` rows of state per step when the panel kernel applies.
    init(_ direction: Direction, weights: Tensor, rows: Int) {
        self.direction = direction
        self.weights = weights.dense
        self.dtype = weights.dtype
        hidden = weights.shape[1]
        panelsPerGate = (hidden + 15) / 16
        let work = rows * 4 * hidden * hidden
        parts = CPUThreads.canUsePool && work >= CPUThreads.minimumElementsToSplit ? min(WorkerPool.shared.threads, panelsPerGate) : 1
        if dtype == .float32 && apus_cpu_level() >= 1 {
            let count = 4 * panelsPerGate * 16 * hidden
            packed = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            run { units in self.pack(units) }
        } else {
            packed = nil
        }
    }

    deinit { packed.map { UnsafeMutableRawPointer($0).deallocate() } }

    /// Runs `body(units)` once per part, each with its range of hidden units, in parallel.
    func run(_ body: (Range<Int>) -> Void) {
        let panels = panelsPerGate
        CPUThreads.forParts(parts) { part in
            let start = part * panels / parts, end = (part + 1) * panels / parts
            if start < end { body(start * 16..<min(hidden, end * 16)) }
        }
    }

    private func pack(_ units: Range<Int>) {
        guard let packed else { return }
        let w = weights.pointer(Float.self), h = hidden, n = units.count, u0 = units.lowerBound
        switch direction {
        case .forward:   // B = W_hhᵀ [H, 4H], per gate g: columns g·H + units come from rows g·H + units of W_hh
            for g in 0..<4 {
                apus_sgemm_pack_panels(Int64(h), Int64(n), w + (g * h + u0) * h, Int64(h), 1, packed + (g * panelsPerGate * 16 + u0) * h)
            }
        case .backward:  // B = W_hh [4H, H]: columns `units`
            apus_sgemm_pack_panels(Int64(4 * h), Int64(n), w + u0, Int64(h), 0, packed + u0 * 4 * h)
        }
    }

    /// This part's columns of the product for `rows` rows of `a` (forward: h [rows, H] into
    /// `c` = gates [rows, 4H], starting from `source` = the input gates; backward: dGates
    /// [rows, 4H] added into `c` = dh [rows, H], `source` = nil).
    func multiply(_ units: Range<Int>, rows: Int, a: UnsafeMutableRawPointer, source: UnsafeMutableRawPointer?, c: UnsafeMutableRawPointer) {
        let h = hidden, n = units.count, u0 = units.lowerBound, size = dtype.byteSize
        switch direction {
        case .forward:
            for g in 0..<4 {
                let column = g * h + u0
                let from = (source ?? c) + column * size, to = c + column * size
                if let packed, apus_sgemm_panels(Int64(rows), Int64(n), Int64(h), a.assumingMemoryBound(to: Float.self), Int64(h),
                                                 packed + (g * panelsPerGate * 16 + u0) * h, from.assumingMemoryBound(to: Float.self),
                                                 Int64(4 * h), to.assumingMemoryBound(to: Float.self), Int64(4 * h)) != 0 {
                    continue
                }
                if from != to { for r in 0..<rows { (to + r * 4 * h * size).copyMemory(from: from + r * 4 * h * size, byteCount: n * size) } }
                RawGEMM.singleThreaded(dtype, false, true, rows, n, h, a, h, weights.rawPointer + column * h * size, h, 1, to, 4 * h)
            }
        case .backward:
            let to = c + u0 * size
            if let packed, apus_sgemm_panels(Int64(rows), Int64(n), Int64(4 * h), a.assumingMemoryBound(to: Float.self), Int64(4 * h),
                                             packed + u0 * 4 * h, to.assumingMemoryBound(to: Float.self), Int64(h),
                                             to.assumingMemoryBound(to: Float.self), Int64(h)) != 0 {
                return
            }
            RawGEMM.singleThreaded(dtype, false, false, rows, n, 4 * h, a, 4 * h, weights.rawPointer + u0 * size, h, 1, to, h)
        }
    }
}
