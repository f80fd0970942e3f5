import CApusKernels

/// Softmax (or log-softmax) along one axis, computed stably (the row maximum is subtracted).
public struct SoftmaxOp: Operation {
    /// The axis normalised over (negative counts from the end).
    public let axis: Int
    /// Whether the op computes log-softmax instead of softmax.
    public let logSpace: Bool

    /// An op computing softmax (or with `logSpace`, log-softmax) along `axis` (as `torch.softmax` / `torch.log_softmax`).
    public init(axis: Int, logSpace: Bool) {
        self.axis = axis
        self.logSpace = logSpace
    }
    public var name: String { logSpace ? "logSoftmax" : "softmax" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        _ = try normalizeAxis(axis, rank: inputs[0].shape.count, op: name, inputs)
        try require(inputs[0].dtype.isFloatingPoint, name, inputs, "expected a floating-point tensor")
        return inputs
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0]
        if x.rank == 0 { return [Tensor.full([], logSpace ? 0 : 1, dtype: x.dtype)] }
        let a = axis < 0 ? axis + x.rank : axis
        let last = x.rank - 1
        let moved = a == last ? x.dense : PermuteOp(permutation: transposition(x.rank, a, last)).cpu([x], [])[0].dense
        let y = Tensor(uninitialized: moved.shape, dtype: x.dtype)
        let n = moved.shape[last], rows = moved.count / Swift.max(n, 1)
        let xp = SendablePointer(raw: moved.rawPointer), yp = SendablePointer(raw: y.rawPointer)
        let log: Int32 = logSpace ? 1 : 0
        CPUThreads.forChunks(rows, costPerItem: n * 8) { r in
            if x.dtype == .float32 {
                apus_softmax_f32(log, Int64(r.count), Int64(n), xp.raw.assumingMemoryBound(to: Float.self) + r.lowerBound * n,
                                 yp.raw.assumingMemoryBound(to: Float.self) + r.lowerBound * n)
            } else {
                apus_softmax_f64(log, Int64(r.count), Int64(n), xp.raw.assumingMemoryBound(to: Double.self) + r.lowerBound * n,
                                 yp.raw.assumingMemoryBound(to: Double.self) + r.lowerBound * n)
            }
        }
        return [a == last ? y : PermuteOp(permutation: transposition(x.rank, a, last)).cpu([y], [])[0]]
    }

    private func transposition(_ rank: Int, _ a: Int, _ b: Int) -> [Int] {
        var p = Array(0..<rank)
        p.swapAt(a, b)
        return p
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { SavedValues(outputs: [0]) }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let g = c.cotangents[0], y = c.outputs[0]
        if logSpace { return [g - y.exp() * g.sum(axis: axis, keepDims: true)] }
        return [softmaxGradient(output: y, cotangent: g, axis: axis)]
    }
}

/// The gradient of a softmax along `axis` from its output y and cotangent g: y·(g − Σ g·y).
func softmaxGradient(output y: Tensor, cotangent g: Tensor, axis: Int) -> Tensor {
    y * (g - (g * y).sum(axis: axis, keepDims: true))
}

extension Tensor {
    /// eˣ / Σ eˣ along `axis`.
    public func softmax(axis: Int = -1) -> Tensor { Tensor.apply(SoftmaxOp(axis: axis, logSpace: false), [self])[0] }
    /// x − log Σ eˣ along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor { Tensor.apply(SoftmaxOp(axis: axis, logSpace: true), [self])[0] }
}

/// Softmax over the last axis of [..., L, S] where row i sees only keys j ≤ i (a causal attention
/// mask, as PyTorch's `is_causal`, without a mask tensor or a masked copy of the scores): blocked
/// entries are 0.
/// The gradient is softmax's, y·(g − Σ g·y), which is 0 where y is.
public struct CausalSoftmaxOp: Operation {
    /// Creates the op; its input is the scores [..., L, S].
    public init() {}
    public var name: String { "causalSoftmax" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].shape.count >= 2 && inputs[0].dtype.isFloatingPoint && inputs[0].shape.last! > 0, name, inputs,
                    "a floating-point tensor [..., L, S] with S > 0")
        return inputs
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, y = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let (l, s) = (x.shape[x.rank - 2], x.shape[x.rank - 1]), rows = x.count / Swift.max(s, 1)
        let xp = SendablePointer(raw: x.rawPointer), yp = SendablePointer(raw: y.rawPointer), size = x.dtype.byteSize
        withExtendedLifetime((x, y)) {
            CPUThreads.forChunks(rows, costPerItem: s * 8) { range in
                for row in range {
                    let seen = Swift.min(row % l + 1, s), (source, target) = (xp.raw + row * s * size, yp.raw + row * s * size)
                    if x.dtype == .float32 {
                        apus_softmax_f32(0, 1, Int64(seen), source.assumingMemoryBound(to: Float.self), target.assumingMemoryBound(to: Float.self))
                    } else {
                        apus_softmax_f64(0, 1, Int64(seen), source.assumingMemoryBound(to: Double.self), target.assumingMemoryBound(to: Double.self))
                    }
                    (target + seen * size).initializeMemory(as: UInt8.self, repeating: 0, count: (s - seen) * size)
                }
            }
        }
        return [y]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { SavedValues(outputs: [0]) }
    public func vjp(_ c: VJPContext) -> [Tensor?] { [softmaxGradient(output: c.outputs[0], cotangent: c.cotangents[0], axis: -1)] }
}

extension Tensor {
    /// Softmax over the last axis with each row i of [..., L, S] limited to keys j ≤ i.
    public func causalSoftmax() -> Tensor { Tensor.apply(CausalSoftmaxOp(), [self])[0] }
}
