/// Joins tensors of one dtype along an existing axis; other dimensions must match.
public struct ConcatOp: Operation {
    /// The axis to join along (negative counts from the end).
    public let axis: Int

    /// An op joining its inputs along `axis` (as `torch.cat(tensors, dim=axis)`).
    public init(axis: Int) {
        self.axis = axis
    }
    public var name: String { "concat" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(!inputs.isEmpty, name, inputs, "at least one tensor")
        let first = inputs[0]
        let a = try normalizeAxis(axis, rank: first.shape.count, op: name, inputs)
        var shape = first.shape
        shape[a] = 0
        for spec in inputs {
            try require(spec.dtype == first.dtype, name, inputs, "all tensors must have one dtype")
            try require(spec.shape.count == first.shape.count && spec.shape.indices.allSatisfy { $0 == a || spec.shape[$0] == first.shape[$0] },
                        name, inputs, "all dimensions except axis \(axis) must match")
            shape[a] += spec.shape[a]
        }
        return [TensorSpec(shape, first.dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor(uninitialized: outputs[0].shape, dtype: outputs[0].dtype)
        let a = axis < 0 ? axis + y.rank : axis
        var start = 0
        for x in inputs {
            var ranges = y.shape.map { SliceRange(start: 0, end: $0, step: 1) }
            ranges[a] = SliceRange(start: start, end: start + x.shape[a], step: 1)
            CPUElementwise.copy(x, into: SliceOp(ranges: ranges).cpu([y], [x.spec])[0])
            start += x.shape[a]
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let a = axis < 0 ? axis + c.inputs[0].rank : axis
        return c.cotangents[0].split(sizes: c.inputs.map { $0.shape[a] }, axis: a).map { $0 }
    }
}

/// Splits a tensor along `axis` into consecutive pieces of `sizes` (views); the gradient is one
/// concatenation of the pieces' cotangents (not one zero-padded tensor per piece).
public struct SplitOp: Operation {
    /// The axis to split along (negative counts from the end).
    public let axis: Int
    /// The size of each piece along `axis`; they must add up to the input's size there.
    public let sizes: [Int]
    /// An op splitting its input along `axis` into pieces of `sizes` (as `torch.split`).
    public init(axis: Int, sizes: [Int]) {
        self.axis = axis
        self.sizes = sizes
    }
    public var name: String { "split" }
    public var returnsView: Bool { true }
    public var outputCount: Int { sizes.count }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let a = try normalizeAxis(axis, rank: inputs[0].shape.count, op: name, inputs)
        try require(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == inputs[0].shape[a], name, inputs,
                    "sizes \(sizes) must add up to \(inputs[0].shape[a]) along axis \(axis)")
        return sizes.map { size in
            var shape = inputs[0].shape
            shape[a] = size
            return TensorSpec(shape, inputs[0].dtype)
        }
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0], a = axis < 0 ? axis + x.rank : axis
        var start = 0
        return sizes.map { size in
            var ranges = x.shape.map { SliceRange(start: 0, end: $0, step: 1) }
            ranges[a] = SliceRange(start: start, end: start + size, step: 1)
            start += size
            return SliceOp(ranges: ranges).cpu([x], [])[0]
        }
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] { [Tensor.concat(c.cotangents, axis: axis)] }
}

/// Constant padding: `padding[i] = (before, after)` elements added on each side of dimension i.
public struct PadOp: Operation {
    /// Elements added before and after each dimension, one pair per dimension, first to last.
    public let padding: [(before: Int, after: Int)]
    /// The value written into the padding.
    public let value: Double

    /// An op padding its input by `padding` with `value` (as `torch.nn.functional.pad` in constant mode).
    public init(padding: [(before: Int, after: Int)], value: Double) {
        self.padding = padding
        self.value = value
    }
    public var name: String { "pad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let shape = inputs[0].shape
        try require(padding.count == shape.count, name, inputs, "one (before, after) pair per dimension (\(shape.count))")
        try require(padding.allSatisfy { $0.before >= 0 && $0.after >= 0 }, name, inputs, "padding must be non-negative")
        return [TensorSpec(zip(shape, padding).map { $0 + $1.before + $1.after }, inputs[0].dtype)]
    }

    var interior: (([Int]) -> [SliceRange]) {
        { shape in zip(shape, padding).map { SliceRange(start: $1.before, end: $0 - $1.after, step: 1) } }
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor.full(outputs[0].shape, value, dtype: outputs[0].dtype)
        CPUElementwise.copy(inputs[0], into: SliceOp(ranges: interior(y.shape)).cpu([y], [inputs[0].spec])[0])
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(SliceOp(ranges: interior(c.outputs[0].shape)), [c.cotangents[0]])[0]]
    }
}

extension Tensor {
    /// `tensors` joined along `axis`.
    public static func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        apply(ConcatOp(axis: axis), tensors)[0]
    }
    /// `tensors` (all of one shape) stacked along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        concat(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }
    /// Padded with `value`: `padding[i] = (before, after)` for each dimension i.
    public func padded(_ padding: [(before: Int, after: Int)], value: Double = 0) -> Tensor {
        Tensor.apply(PadOp(padding: padding, value: value), [self])[0]
    }
}
