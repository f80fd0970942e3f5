import CApusKernels

/// Sum, max, min or sum of squares over any set of axes, optionally keeping reduced axes as size 1.
public struct ReduceOp: Operation {
    /// The reduction: sum, maximum, minimum or sum of squares.
    public enum Kind: String, Sendable {
        /// The sum of the elements.
        case sum
        /// The largest element.
        case max
        /// The smallest element.
        case min
        /// The sum of the squared elements (a squared L2 norm), without writing the squares.
        case sumOfSquares
    }
    /// The reduction this op performs.
    public let kind: Kind
    /// The axes reduced (negative counts from the end).
    public let axes: [Int]
    /// Whether reduced axes stay in the result as size 1.
    public let keepDims: Bool

    /// An op reducing its input over `axes` with `kind`, keeping them as size 1 when `keepDims` is true.
    public init(_ kind: Kind, axes: [Int], keepDims: Bool) {
        self.kind = kind
        self.axes = axes
        self.keepDims = keepDims
    }

    public var name: String { kind.rawValue }

    /// Axes normalised to 0..<rank, sorted, unique; all axes when `axes` is empty.
    static func resolve(_ axes: [Int], _ spec: TensorSpec, op: String) throws -> [Int] {
        if axes.isEmpty { return Array(0..<spec.shape.count) }
        let resolved = try axes.map { try normalizeAxis($0, rank: spec.shape.count, op: op, [spec]) }
        try require(Set(resolved).count == resolved.count, op, [spec], "axes \(axes) repeat an axis")
        return resolved.sorted()
    }

    static func reducedShape(_ shape: [Int], _ axes: [Int], keepDims: Bool) -> [Int] {
        keepDims ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                 : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let resolved = try Self.resolve(axes, inputs[0], op: name)
        try require(inputs[0].dtype != .bool, name, inputs, "cannot reduce a bool tensor (cast it first)")
        if kind == .max || kind == .min {
            try require(resolved.allSatisfy { inputs[0].shape[$0] > 0 }, name, inputs, "cannot take \(name) over an empty axis")
        }
        return [TensorSpec(Self.reducedShape(inputs[0].shape, resolved, keepDims: keepDims), inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0]
        if !x.dtype.isFloatingPoint {
            let wide = CastOp(to: .float64).cpu([x], [])[0]
            let reduced = cpu([wide], [TensorSpec(outputs[0].shape, .float64)])[0]
            return CastOp(to: x.dtype).cpu([reduced], [])
        }
        let resolved = try! Self.resolve(axes, x.spec, op: name)
        // Axes in several runs (e.g. [0, 2, 3]): reduce the last run, then the rest — no transposed copy.
        if let split = resolved.indices.dropFirst().last(where: { resolved[$0] != resolved[$0 - 1] + 1 }) {
            let lastRun = Array(resolved[split...])
            let partial = ReduceOp(kind, axes: lastRun, keepDims: true)
            let partialShape = Self.reducedShape(x.shape, lastRun, keepDims: true)
            let first = partial.cpu([x], [TensorSpec(partialShape, x.dtype)])[0]
            return ReduceOp(kind.combining, axes: Array(resolved[..<split]), keepDims: true).cpu([first], [outputs[0]]).map {
                ReshapeOp(shape: outputs[0].shape).cpu([$0], [outputs[0]])[0]
            }
        }
        let (source, outer, r, inner) = ReduceLayout.make(x, axes: resolved)
        let y = Tensor(uninitialized: outputs[0].shape, dtype: x.dtype)
        let code = kind.kernelCode, size = x.dtype.byteSize
        let xp = SendablePointer(raw: source.rawPointer), yp = SendablePointer(raw: y.rawPointer)
        /// Reduces `outer` rows of [r, inner] at `from` into `outer` rows of [inner] at `to`.
        func reduce(_ code: Int32, _ outer: Int, _ r: Int, from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer) {
            if x.dtype == .float32 {
                apus_reduce_f32(code, Int64(outer), Int64(r), Int64(inner), from.assumingMemoryBound(to: Float.self), to.assumingMemoryBound(to: Float.self))
            } else {
                apus_reduce_f64(code, Int64(outer), Int64(r), Int64(inner), from.assumingMemoryBound(to: Double.self), to.assumingMemoryBound(to: Double.self))
            }
        }
        // A whole-tensor reduction (one output row) has no rows to split: each thread reduces a
        // block of r into its own partial row, and the partial rows are combined. The blocks
        // depend only on the thread count, never on whether the pool is free, so the result
        // does not either (a busy pool runs the same blocks one after another).
        let threads = WorkerPool.shared.threads
        if outer == 1, threads > 1, r >= 2 * threads, r * inner >= CPUThreads.minimumElementsToSplit {
            let step = (r + threads - 1) / threads, parts = (r + step - 1) / step
            let partials = Tensor(uninitialized: [parts, inner], dtype: x.dtype)
            let pp = SendablePointer(raw: partials.rawPointer)
            CPUThreads.forParts(parts) { part in
                let start = part * step
                reduce(code, 1, Swift.min(step, r - start), from: xp.raw + start * inner * size, to: pp.raw + part * inner * size)
            }
            reduce(kind.combining.kernelCode, 1, parts, from: partials.rawPointer, to: y.rawPointer)
            return [y]
        }
        CPUThreads.forChunks(outer, costPerItem: r * inner) { range in
            reduce(code, range.count, r, from: xp.raw + range.lowerBound * r * inner * size, to: yp.raw + range.lowerBound * inner * size)
        }
        return [y]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues {
        switch kind {
        case .sum: return .none
        case .sumOfSquares: return SavedValues(inputs: [0])
        case .max, .min: return .all
        }
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0]
        let resolved = try! Self.resolve(axes, x.spec, op: name)
        let keptShape = Self.reducedShape(x.shape, resolved, keepDims: true)
        let g = c.cotangents[0].reshaped(keptShape)
        switch kind {
        case .sum:
            return [g.expanded(to: x.shape)]
        case .sumOfSquares:
            return [g.expanded(to: x.shape) * x * 2]
        case .max, .min:
            let mask = x.equal(c.outputs[0].reshaped(keptShape)).cast(to: x.dtype)
            return [g * mask / mask.sum(axes: resolved, keepDims: true)]
        }
    }
}

extension ReduceOp.Kind {
    /// The reduction that combines partial results of this one (sums of squares add up).
    var combining: ReduceOp.Kind { self == .sumOfSquares ? .sum : self }

    /// The C kernels' code for this reduction.
    var kernelCode: Int32 {
        Int32((self == .sum ? APUS_SUM : self == .max ? APUS_MAX : self == .min ? APUS_MIN : APUS_SUM_OF_SQUARES).rawValue)
    }
}

/// The [outer, r, inner] view of a tensor reduced over `axes`: when the axes are one
/// contiguous block no data moves; otherwise they are permuted to the end first.
enum ReduceLayout {
    static func make(_ x: Tensor, axes: [Int]) -> (Tensor, outer: Int, r: Int, inner: Int) {
        let isBlock = axes.isEmpty || axes.last! - axes.first! + 1 == axes.count
        if isBlock, let first = axes.first {
            let outer = x.shape[..<first].reduce(1, *)
            let r = axes.map { x.shape[$0] }.reduce(1, *)
            let inner = x.shape[(axes.last! + 1)...].reduce(1, *)
            return (x.dense, outer, r, inner)
        }
        let kept = (0..<x.rank).filter { !axes.contains($0) }
        let moved = PermuteOp(permutation: kept + axes).cpu([x], [])[0].dense
        return (moved, kept.map { x.shape[$0] }.reduce(1, *), axes.map { x.shape[$0] }.reduce(1, *), 1)
    }
}

/// Index of the maximum or minimum along one axis (first occurrence); Int64, no gradient.
public struct ArgReduceOp: Operation {
    /// Whether the op finds the maximum (true) or the minimum (false).
    public let isMax: Bool
    /// The axis searched (negative counts from the end).
    public let axis: Int
    /// Whether the searched axis stays in the result as size 1.
    public let keepDims: Bool

    /// An op finding the index of the maximum (`isMax`) or minimum along `axis` (as `torch.argmax` / `torch.argmin`).
    public init(isMax: Bool, axis: Int, keepDims: Bool) {
        self.isMax = isMax
        self.axis = axis
        self.keepDims = keepDims
    }
    public var name: String { isMax ? "argmax" : "argmin" }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let a = try normalizeAxis(axis, rank: inputs[0].shape.count, op: name, inputs)
        try require(inputs[0].dtype.isFloatingPoint, name, inputs, "expected a floating-point tensor")
        try require(inputs[0].shape.isEmpty || inputs[0].shape[a] > 0, name, inputs, "cannot take \(name) over an empty axis")
        return [TensorSpec(ReduceOp.reducedShape(inputs[0].shape, inputs[0].shape.isEmpty ? [] : [a], keepDims: keepDims), .int64)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0]
        let a = axis < 0 ? axis + x.rank : axis
        let (source, outer, r, inner) = ReduceLayout.make(x, axes: x.rank == 0 ? [] : [a])
        let y = Tensor(uninitialized: outputs[0].shape, dtype: .int64)
        if x.dtype == .float32 {
            apus_argreduce_f32(isMax ? 1 : 0, Int64(outer), Int64(r), Int64(inner), source.pointer(Float.self), y.pointer(Int64.self))
        } else {
            apus_argreduce_f64(isMax ? 1 : 0, Int64(outer), Int64(r), Int64(inner), source.pointer(Double.self), y.pointer(Int64.self))
        }
        return [y]
    }
}

extension Tensor {
    /// Sum over `axes` (all when empty).
    public func sum(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        Tensor.apply(ReduceOp(.sum, axes: axes, keepDims: keepDims), [self])[0]
    }
    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }
    /// Σ x² over `axes` (all when empty) in one pass, without writing the squares: a squared
    /// L2 norm (what gradient clipping by norm needs).
    public func sumOfSquares(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        Tensor.apply(ReduceOp(.sumOfSquares, axes: axes, keepDims: keepDims), [self])[0]
    }
    /// Maximum over `axes` (all when empty); the gradient is shared among ties.
    public func max(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        Tensor.apply(ReduceOp(.max, axes: axes, keepDims: keepDims), [self])[0]
    }
    /// Maximum over one axis.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    /// Minimum over `axes` (all when empty).
    public func min(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        Tensor.apply(ReduceOp(.min, axes: axes, keepDims: keepDims), [self])[0]
    }
    /// Minimum over one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    /// Number of elements reduced over `axes`.
    private func reducedCount(_ axes: [Int]) -> Int {
        axes.isEmpty ? count : axes.map { axis in
            let a = axis < 0 ? axis + rank : axis
            return shape.indices.contains(a) ? shape[a] : 1      // a bad axis is reported by the sum's shape rule
        }.reduce(1, *)
    }

    /// Mean over `axes` (all when empty).
    public func mean(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        sum(axes: axes, keepDims: keepDims) * (1 / Double(Swift.max(reducedCount(axes), 1)))
    }
    /// Mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Variance over `axes`: Σ(x − mean)² / (n − correction); `correction: 1` (the default, as
    /// PyTorch) is the unbiased estimate, 0 the population variance.
    public func variance(axes: [Int] = [], keepDims: Bool = false, correction: Int = 1) -> Tensor {
        let centered = self - mean(axes: axes, keepDims: true)
        let n = reducedCount(axes)
        return (centered * centered).sum(axes: axes, keepDims: keepDims) * (1 / Double(Swift.max(n - correction, 1)))
    }

    /// log Σ exp(x) over `axes`, computed stably.
    public func logSumExp(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        let m = withoutGrad { max(axes: axes, keepDims: true) }
        let finite = Tensor.where(m.abs() .< Double.infinity, m, m.zerosLike())
        let result = (self - finite).exp().sum(axes: axes, keepDims: true).log() + finite
        guard !keepDims, let resolved = try? ReduceOp.resolve(axes, spec, op: "logSumExp") else { return result }
        return result.reshaped(ReduceOp.reducedShape(shape, resolved, keepDims: false))
    }

    /// Index of the maximum along `axis` (Int64).
    public func argmax(axis: Int, keepDims: Bool = false) -> Tensor {
        Tensor.apply(ArgReduceOp(isMax: true, axis: axis, keepDims: keepDims), [self])[0]
    }
    /// Index of the minimum along `axis` (Int64).
    public func argmin(axis: Int, keepDims: Bool = false) -> Tensor {
        Tensor.apply(ArgReduceOp(isMax: false, axis: axis, keepDims: keepDims), [self])[0]
    }
}
