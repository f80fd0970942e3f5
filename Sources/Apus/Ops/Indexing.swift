import CApusKernels

/// The integer indices as Int64 (contiguous) when all lie in 0..<size; else reports an
/// `IndexError` (thrown by the enclosing `Tensor.checking`, a compiled graph's run or a
/// throwing API; fatal in bare eager code) and returns nil: the op then writes zeros.
func indicesInt64(_ index: Tensor, size: Int, op: String, kind: String = "index") -> Tensor? {
    let idx = (index.dtype == .int64 ? index : CastOp(to: .int64).cpu([index], [])[0]).dense
    let p = idx.pointer(Int64.self)
    for i in 0..<idx.count where p[i] < 0 || p[i] >= Int64(size) {
        Tensor.report(IndexError(op: op, kind: kind, value: p[i], bound: size))
        return nil
    }
    return idx
}

/// Whole slices picked by index along `axis`: output shape is
/// `x.shape[..<axis] + index.shape + x.shape[(axis+1)...]`. Embedding lookup is `indexSelect(axis: 0)`.
public struct IndexSelectOp: Operation {
    /// The axis indexed (negative counts from the end).
    public let axis: Int

    /// An op picking slices along `axis` by its (x, index) inputs (as `torch.index_select`).
    public init(axis: Int) {
        self.axis = axis
    }
    public var name: String { "indexSelect" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let x = inputs[0], index = inputs[1]
        let a = try normalizeAxis(axis, rank: x.shape.count, op: name, inputs)
        try require(index.dtype == .int64 || index.dtype == .int32, name, inputs, "indices must be int32 or int64, got \(index.dtype)")
        return [TensorSpec(Array(x.shape[..<a]) + index.shape + Array(x.shape[(a + 1)...]), x.dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, a = axis < 0 ? axis + x.rank : axis
        guard let idx = indicesInt64(inputs[1], size: x.shape[a], op: name) else { return [Tensor.zeros(outputs[0].shape, dtype: x.dtype)] }
        let y = Tensor(uninitialized: outputs[0].shape, dtype: x.dtype)
        let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
        apus_index_select(Int32(x.dtype.byteSize), Int64(outer), Int64(x.shape[a]), Int64(inner), x.rawPointer,
                          idx.pointer(Int64.self), Int64(idx.count), y.rawPointer)
        return [y]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { SavedValues(inputs: [1]) }
    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(IndexAddOp(axis: axis, size: c.inputs[0].shape[axis < 0 ? axis + c.inputs[0].rank : axis]),
                      [c.cotangents[0], c.inputs[1]])[0], nil]
    }
}

/// The adjoint of `IndexSelectOp`: zeros with `size` entries along `axis`, and each slice of
/// the source added at its index (repeated indices accumulate).
public struct IndexAddOp: Operation {
    /// The axis along which slices are added.
    public let axis: Int
    /// The result's size along `axis`.
    public let size: Int

    /// An op adding slices of its source input along `axis` at its index input into zeros of `size` entries there.
    public init(axis: Int, size: Int) {
        self.axis = axis
        self.size = size
    }
    public var name: String { "indexAdd" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let src = inputs[0], index = inputs[1]
        let a = try normalizeAxis(axis, rank: src.shape.count - index.shape.count + 1, op: name, inputs)
        try require(src.dtype.isFloatingPoint, name, inputs, "source must be floating point")
        try require(index.dtype == .int64 || index.dtype == .int32, name, inputs, "indices must be int32 or int64")
        try require(src.shape.count >= a + index.shape.count && Array(src.shape[a..<(a + index.shape.count)]) == index.shape,
                    name, inputs, "the source must hold the index's shape \(index.shape) at axis \(axis)")
        var shape = Array(src.shape[..<a])
        shape.append(size)
        shape += src.shape[(a + index.shape.count)...]
        return [TensorSpec(shape, src.dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let src = inputs[0].dense
        let y = Tensor.zeros(outputs[0].shape, dtype: src.dtype)
        let a = axis < 0 ? axis + y.rank : axis
        guard let idx = indicesInt64(inputs[1], size: size, op: name) else { return [y] }
        let outer = y.shape[..<a].reduce(1, *), inner = y.shape[(a + 1)...].reduce(1, *)
        if src.dtype == .float32 {
            apus_index_add_f32(Int64(outer), Int64(size), Int64(inner), src.pointer(Float.self), idx.pointer(Int64.self), Int64(idx.count), y.pointer(Float.self))
        } else {
            apus_index_add_f64(Int64(outer), Int64(size), Int64(inner), src.pointer(Double.self), idx.pointer(Int64.self), Int64(idx.count), y.pointer(Double.self))
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(IndexSelectOp(axis: axis), [c.cotangents[0], c.inputs[1]])[0], nil]
    }
}

/// PyTorch's `gather`: `y[i][j][k] = x[i][index[i][j][k]][k]` for axis 1. `index` has x's rank
/// and x's sizes except along `axis`.
public struct GatherOp: Operation {
    /// The axis indexed (negative counts from the end).
    public let axis: Int

    /// An op gathering along `axis` from its (x, index) inputs (as `torch.gather`).
    public init(axis: Int) {
        self.axis = axis
    }
    public var name: String { "gather" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let x = inputs[0], index = inputs[1]
        let a = try normalizeAxis(axis, rank: x.shape.count, op: name, inputs)
        try require(index.dtype == .int64 || index.dtype == .int32, name, inputs, "indices must be int32 or int64, got \(index.dtype)")
        try require(index.shape.count == x.shape.count && x.shape.indices.allSatisfy { $0 == a || x.shape[$0] == index.shape[$0] },
                    name, inputs, "index must match the input's shape except along axis \(axis)")
        return [TensorSpec(index.shape, x.dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, a = axis < 0 ? axis + x.rank : axis
        guard let idx = indicesInt64(inputs[1], size: x.shape[a], op: name) else { return [Tensor.zeros(outputs[0].shape, dtype: x.dtype)] }
        let y = Tensor(uninitialized: outputs[0].shape, dtype: x.dtype)
        let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
        apus_gather(Int32(x.dtype.byteSize), Int64(outer), Int64(x.shape[a]), Int64(inner), x.rawPointer,
                    idx.pointer(Int64.self), Int64(idx.shape[a]), y.rawPointer)
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [c.inputs[0].zerosLike().scatterAdded(axis: axis, index: c.inputs[1], source: c.cotangents[0]), nil]
    }
}

/// `base` with `source[i][j][k]` added at `[i][index[i][j][k]][k]` (axis 1): the adjoint of gather.
public struct ScatterAddOp: Operation {
    /// The axis along which values are added.
    public let axis: Int

    /// An op adding its source input into its base input along `axis` at its index input (as `torch.scatter_add`).
    public init(axis: Int) {
        self.axis = axis
    }
    public var name: String { "scatterAdd" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let base = inputs[0], index = inputs[1], source = inputs[2]
        let a = try normalizeAxis(axis, rank: base.shape.count, op: name, inputs)
        try require(base.dtype.isFloatingPoint && source.dtype == base.dtype, name, inputs, "base and source must share a floating-point dtype")
        try require(index.shape == source.shape && index.shape.count == base.shape.count
                     && base.shape.indices.allSatisfy { $0 == a || base.shape[$0] == index.shape[$0] },
                     name, inputs, "index and source must have one shape, equal to base's except along axis \(axis)")
        return [base]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = CopyOp().cpu([inputs[0]], [])[0], src = inputs[2].dense, a = axis < 0 ? axis + y.rank : axis
        guard let idx = indicesInt64(inputs[1], size: y.shape[a], op: name) else { return [y] }
        let outer = y.shape[..<a].reduce(1, *), inner = y.shape[(a + 1)...].reduce(1, *)
        let n = Int64(y.shape[a]), m = Int64(idx.shape[a])
        if y.dtype == .float32 {
            apus_scatter_add_f32(Int64(outer), n, Int64(inner), src.pointer(Float.self), idx.pointer(Int64.self), m, y.pointer(Float.self))
        } else {
            apus_scatter_add_f64(Int64(outer), n, Int64(inner), src.pointer(Double.self), idx.pointer(Int64.self), m, y.pointer(Double.self))
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [c.cotangents[0], nil, c.needsGradient(2) ? c.cotangents[0].gathered(axis: axis, index: c.inputs[1]) : nil]
    }
}

/// One-hot encoding of integer class ids: shape `index.shape + [classes]`, no gradient.
public struct OneHotOp: Operation {
    /// The number of classes: the size of the new last dimension.
    public let classes: Int
    /// The result's dtype.
    public let dtype: DType

    /// An op encoding class ids in 0..<`classes` as one-hot vectors of `dtype` (as `torch.nn.functional.one_hot`).
    public init(classes: Int, dtype: DType) {
        self.classes = classes
        self.dtype = dtype
    }
    public var name: String { "oneHot" }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].dtype == .int64 || inputs[0].dtype == .int32, name, inputs, "class ids must be int32 or int64")
        try require(classes > 0, name, inputs, "classes must be positive")
        return [TensorSpec(inputs[0].shape + [classes], dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        guard let idx = indicesInt64(inputs[0], size: classes, op: name, kind: "label") else { return [Tensor.zeros(outputs[0].shape, dtype: outputs[0].dtype)] }
        var values = [Double](repeating: 0, count: idx.count * classes)
        let p = idx.pointer(Int64.self)
        for i in 0..<idx.count { values[i * classes + Int(p[i])] = 1 }
        return [Tensor(doubles: values, shape: outputs[0].shape, dtype: dtype)]
    }
}

extension Tensor {
    /// Slices along `axis` picked by integer `index` (any shape).
    public func indexSelect(axis: Int, index: Tensor) -> Tensor { Tensor.apply(IndexSelectOp(axis: axis), [self, index])[0] }
    /// PyTorch's gather along `axis`.
    public func gathered(axis: Int, index: Tensor) -> Tensor { Tensor.apply(GatherOp(axis: axis), [self, index])[0] }
    /// This tensor with `source` added at `index` along `axis` (PyTorch's scatter_add).
    public func scatterAdded(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        Tensor.apply(ScatterAddOp(axis: axis), [self, index, source])[0]
    }
    /// One-hot rows for integer class ids: shape `shape + [classes]`.
    public func oneHot(classes: Int, dtype: DType = .float32) -> Tensor {
        Tensor.apply(OneHotOp(classes: classes, dtype: dtype), [self])[0]
    }
}

/// Rows of `weight` ([vocabulary, features]) for integer `ids` of any shape: `ids.shape + [features]`.
public func embedding(_ ids: Tensor, weight: Tensor) -> Tensor { weight.indexSelect(axis: 0, index: ids) }
