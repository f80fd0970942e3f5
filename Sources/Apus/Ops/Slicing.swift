/// One axis of a slice: elements start, start+step, … below end (step > 0).
public struct SliceRange: Hashable, Sendable {
    /// The first index, the end (exclusive) and the distance between elements.
    public var start: Int, end: Int, step: Int
    /// The elements `start, start + step, …` below `end`.
    public init(start: Int, end: Int, step: Int) {
        (self.start, self.end, self.step) = (start, end, step)
    }
    var count: Int { Swift.max(0, (end - start + step - 1) / step) }
}

/// A strided sub-block of a tensor (a view). Its gradient writes the cotangent into zeros.
public struct SliceOp: Operation {
    /// One range per input dimension, already clamped to the dimension sizes.
    public let ranges: [SliceRange]
    /// An op taking the strided sub-block `ranges` (one per dimension, already clamped) of its input.
    public init(ranges: [SliceRange]) { self.ranges = ranges }
    public var name: String { "slice" }
    public var returnsView: Bool { true }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let shape = inputs[0].shape
        try require(ranges.count == shape.count, name, inputs, "one range per dimension (\(shape.count)), got \(ranges.count)")
        for (r, size) in zip(ranges, shape) {
            try require(r.step > 0 && r.start >= 0 && r.end <= size && (r.start <= r.end || r.count == 0), name, inputs,
                        "range \(r.start)..<\(r.end) step \(r.step) must lie in 0..<\(size) with a positive step")
        }
        return [TensorSpec(ranges.map(\.count), inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0]
        let offset = x.offset + zip(ranges, x.strides).map { $0.start * $1 }.reduce(0, +)
        let strides = zip(ranges, x.strides).map { $0.step * $1 }
        return [Tensor(storage: x.storage, shape: ranges.map(\.count), strides: strides, offset: offset, dtype: x.dtype)]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .none }
    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(SliceGradOp(ranges: ranges, shape: c.inputs[0].shape), [c.cotangents[0]])[0]]
    }
}

/// The adjoint of `SliceOp`: a zero tensor of `shape` with the input written into the slice.
public struct SliceGradOp: Operation {
    /// The slice the input is written into, one range per dimension.
    public let ranges: [SliceRange]
    /// The result's shape: the sliced tensor's shape.
    public let shape: [Int]

    /// The adjoint of slicing a tensor of `shape` by `ranges`.
    public init(ranges: [SliceRange], shape: [Int]) {
        self.ranges = ranges
        self.shape = shape
    }
    public var name: String { "sliceGrad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].shape == ranges.map(\.count), name, inputs, "input must have the slice's shape \(ranges.map(\.count))")
        return [TensorSpec(shape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor.zeros(shape, dtype: inputs[0].dtype)
        let window = SliceOp(ranges: ranges).cpu([y], [inputs[0].spec])[0]
        CPUElementwise.copy(inputs[0], into: window)
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] { [Tensor.apply(SliceOp(ranges: ranges), [c.cotangents[0]])[0]] }
}

/// Reverses the order of elements along `axes` (a view with negative strides).
public struct FlipOp: Operation {
    /// The axes reversed (negative counts from the end).
    public let axes: [Int]

    /// An op reversing its input along `axes` (as `torch.flip`).
    public init(axes: [Int]) {
        self.axes = axes
    }
    public var name: String { "flip" }
    public var returnsView: Bool { true }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        _ = try axes.map { try normalizeAxis($0, rank: inputs[0].shape.count, op: name, inputs) }
        return inputs
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0]
        var strides = x.strides, offset = x.offset
        for axis in Set(axes.map { $0 < 0 ? $0 + x.rank : $0 }) where x.shape[axis] > 0 {
            offset += (x.shape[axis] - 1) * strides[axis]
            strides[axis] = -strides[axis]
        }
        return [Tensor(storage: x.storage, shape: x.shape, strides: strides, offset: offset, dtype: x.dtype)]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] { [c.cotangents[0].flipped(axes: axes)] }
}

/// Something that selects along one axis: an `Int` (the axis is removed), a range, or a
/// `TensorRange` (`.all`, `.strided(from:to:by:)`).
public protocol TensorRangeExpression {
    /// The range over an axis of `size` and whether the axis is dropped.
    func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool)
}

/// Selections beyond ranges: every element (`x[.all, 0]`) or every `step`-th element
/// (`x[.strided(from: 0, to: 8, by: 2)]`; `to: nil` runs to the end).
public struct TensorRange: TensorRangeExpression {
    let from: Int, to: Int?, step: Int

    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) {
        precondition(step > 0, "slicing: step must be positive (use flipped(axes:) to reverse)")
        let s = clampBound(from, size)
        return (SliceRange(start: s, end: Swift.max(s, clampBound(to ?? size, size)), step: step), false)
    }
}

private func clampBound(_ i: Int, _ size: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + size : i, 0), size) }

/// An integer index selects one element along an axis and drops the axis (negative counts from the end), as `x[i]` in PyTorch.
extension Int: TensorRangeExpression {
    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) {
        let i = self < 0 ? self + size : self
        precondition(i >= 0 && i < size, "index \(self) is out of range for an axis of size \(size)")
        return (SliceRange(start: i, end: i + 1, step: 1), true)
    }
}
/// The clamped range start..<end (bounds may be negative, counting from the end).
private func boundedRange(_ start: Int, _ end: Int, size: Int) -> (SliceRange, dropsAxis: Bool) {
    let s = clampBound(start, size)
    return (SliceRange(start: s, end: Swift.max(s, clampBound(end, size)), step: 1), false)
}

/// `a..<b` slices an axis (negative bounds count from the end; out-of-range bounds are clamped), as `x[a:b]` in PyTorch.
extension Range: TensorRangeExpression where Bound == Int {
    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) { boundedRange(lowerBound, upperBound, size: size) }
}
/// `a...b` slices an axis through `b`; `a...(-1)` runs to the end (negative bounds count from the end).
extension ClosedRange: TensorRangeExpression where Bound == Int {
    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) {
        boundedRange(lowerBound, upperBound == -1 ? size : upperBound + 1, size: size)
    }
}
/// `a...` slices an axis from `a` to its end, as `x[a:]` in PyTorch.
extension PartialRangeFrom: TensorRangeExpression where Bound == Int {
    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) { boundedRange(lowerBound, size, size: size) }
}
/// `..<b` slices an axis from its start to before `b`, as `x[:b]` in PyTorch.
extension PartialRangeUpTo: TensorRangeExpression where Bound == Int {
    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) { boundedRange(0, upperBound, size: size) }
}
/// `...b` slices an axis from its start through `b`; `...(-1)` is the whole axis.
extension PartialRangeThrough: TensorRangeExpression where Bound == Int {
    public func sliceRange(size: Int) -> (SliceRange, dropsAxis: Bool) {
        boundedRange(0, upperBound == -1 ? size : upperBound + 1, size: size)
    }
}

extension Tensor {
    /// Elements `start, start+step, …` below `end` along `axis` (a view; negative bounds count from the end).
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        if isPoisoned { return self }
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else { return .failure(ShapeError(op: "slice", shapes: [shape], expected: "axis \(axis) in range")) }
        var ranges = shape.map { SliceRange(start: 0, end: $0, step: 1) }
        let s = clampBound(start, shape[a])
        ranges[a] = SliceRange(start: s, end: Swift.max(s, clampBound(end ?? shape[a], shape[a])), step: step)
        return Tensor.apply(SliceOp(ranges: ranges), [self])[0]
    }

    /// NumPy-style indexing, one expression per leading axis: `x[0]`, `x[1..<3, .all, .strided(from: 0, to: 8, by: 2)]`.
    /// Integer indices remove their axis. The result is a view.
    public subscript(_ indices: any TensorRangeExpression...) -> Tensor {
        if isPoisoned { return self }
        guard indices.count <= rank else {
            return .failure(ShapeError(op: "subscript", shapes: [shape], expected: "at most \(rank) indices, got \(indices.count)"))
        }
        var ranges = shape.map { SliceRange(start: 0, end: $0, step: 1) }
        var dropped: [Int] = []
        for (axis, index) in indices.enumerated() {
            if let i = index as? Int, !(-shape[axis]..<shape[axis]).contains(i) {
                return .failure(IndexError(op: "subscript", value: Int64(i), bound: shape[axis]))
            }
            let (range, drops) = index.sliceRange(size: shape[axis])
            ranges[axis] = range
            if drops { dropped.append(axis) }
        }
        let sliced = Tensor.apply(SliceOp(ranges: ranges), [self])[0]
        if dropped.isEmpty { return sliced }
        return sliced.reshaped(sliced.shape.enumerated().filter { !dropped.contains($0.offset) }.map(\.element))
    }

    /// Elements reversed along `axes` (a view).
    public func flipped(axes: [Int]) -> Tensor { Tensor.apply(FlipOp(axes: axes), [self])[0] }

    /// Consecutive pieces along `axis` with the given sizes (views).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        if isPoisoned { return sizes.map { _ in self } }
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else {
            let failed = Tensor.failure(ShapeError(op: "split", shapes: [shape], expected: "axis \(axis) in range"))
            return sizes.map { _ in failed }
        }
        return Tensor.apply(SplitOp(axis: a, sizes: sizes), [self])
    }

    /// The slices along `axis` with that axis removed (views): [T, B, H] → T tensors [B, H].
    public func unstacked(axis: Int = 0) -> [Tensor] {
        if isPoisoned { return [self] }
        let a = axis < 0 ? axis + rank : axis
        return split(count: shape[a], axis: a).map { $0.squeezed(axis: a) }
    }

    /// `count` equal pieces along `axis` (views).
    public func split(count: Int, axis: Int = 0) -> [Tensor] {
        if isPoisoned { return Array(repeating: self, count: Swift.max(count, 1)) }
        let a = axis < 0 ? axis + rank : axis
        guard count > 0 && a >= 0 && a < rank && shape[a] % count == 0 else {
            let failed = Tensor.failure(ShapeError(op: "split", shapes: [shape], expected: "axis \(axis) to split into \(count) equal parts"))
            return Array(repeating: failed, count: Swift.max(count, 1))
        }
        return split(sizes: Array(repeating: shape[a] / count, count: count), axis: a)
    }
}

extension TensorRangeExpression where Self == TensorRange {
    /// Every element of the axis.
    public static var all: TensorRange { TensorRange(from: 0, to: nil, step: 1) }
    /// Every `step`-th element from `from` below `to` (`nil`: to the end).
    public static func strided(from: Int, to: Int?, by step: Int) -> TensorRange { TensorRange(from: from, to: to, step: step) }
}
