/// Reshape: same elements, new shape (one dimension may be -1). A view when the strides
/// allow it, otherwise a copy.
public struct ReshapeOp: Operation {
    /// The new shape; at most one dimension may be -1 (inferred from the element count).
    public let shape: [Int]

    /// An op reshaping its input to `shape` (as `torch.reshape`).
    public init(shape: [Int]) {
        self.shape = shape
    }
    public var name: String { "reshape" }
    public var returnsView: Bool { true }

    static func resolve(_ shape: [Int], count: Int, _ inputs: [TensorSpec]) throws -> [Int] {
        let unknown = shape.indices.filter { shape[$0] == -1 }
        try require(unknown.count <= 1 && shape.allSatisfy { $0 >= -1 }, "reshape", inputs, "target \(shape) may hold one -1 and otherwise sizes ≥ 0")
        var resolved = shape
        if let u = unknown.first {
            let known = shape.filter { $0 != -1 }.reduce(1, *)
            try require(known > 0 && count % known == 0, "reshape", inputs, "cannot infer -1 in \(shape) for \(count) elements")
            resolved[u] = count / known
        }
        try require(resolved.reduce(1, *) == count, "reshape", inputs, "target \(shape) must hold \(count) elements")
        return resolved
    }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        [TensorSpec(try Self.resolve(shape, count: inputs[0].count, inputs), inputs[0].dtype)]
    }

    /// Strides that let `newShape` view memory laid out as (shape, strides), or nil if none exist.
    static func viewStrides(_ shape: [Int], _ strides: [Int], _ newShape: [Int]) -> [Int]? {
        if shape.isEmpty || shape.reduce(1, *) == 0 { return Tensor.contiguousStrides(newShape) }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewAxis = newShape.count - 1
        var chunkStride = strides.last!
        var tensorCount = 1, viewCount = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            tensorCount *= shape[axis]
            if axis == 0 || (shape[axis - 1] != 1 && strides[axis - 1] != tensorCount * chunkStride) {
                while viewAxis >= 0 && (viewCount < tensorCount || newShape[viewAxis] == 1) {
                    newStrides[viewAxis] = viewCount * chunkStride
                    viewCount *= newShape[viewAxis]
                    viewAxis -= 1
                }
                if viewCount != tensorCount { return nil }
                if axis > 0 {
                    chunkStride = strides[axis - 1]
                    tensorCount = 1
                    viewCount = 1
                }
            }
        }
        return viewAxis == -1 ? newStrides : nil
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0], newShape = outputs[0].shape
        if let strides = Self.viewStrides(x.shape, x.strides, newShape) {
            return [Tensor(storage: x.storage, shape: newShape, strides: strides, offset: x.offset, dtype: x.dtype)]
        }
        let dense = CopyOp().cpu([x], [x.spec])[0]
        return [Tensor(storage: dense.storage, shape: newShape, strides: Tensor.contiguousStrides(newShape), offset: 0, dtype: x.dtype)]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .none }
    public func vjp(_ c: VJPContext) -> [Tensor?] { [c.cotangents[0].reshaped(c.inputs[0].shape)] }
}

/// Reorders dimensions (a view): output dimension i is input dimension `permutation[i]`.
public struct PermuteOp: Operation {
    /// For each output dimension, the input dimension it takes.
    public let permutation: [Int]

    /// An op reordering its input's dimensions by `permutation` (as `torch.permute`).
    public init(permutation: [Int]) {
        self.permutation = permutation
    }
    public var name: String { "permute" }
    public var returnsView: Bool { true }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let rank = inputs[0].shape.count
        try require(permutation.count == rank && Set(permutation.map { $0 < 0 ? $0 + rank : $0 }) == Set(0..<rank),
                    name, inputs, "permutation \(permutation) must order all \(rank) axes once")
        return [TensorSpec(resolved(rank).map { inputs[0].shape[$0] }, inputs[0].dtype)]
    }

    func resolved(_ rank: Int) -> [Int] { permutation.map { $0 < 0 ? $0 + rank : $0 } }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0], p = resolved(x.rank)
        return [Tensor(storage: x.storage, shape: p.map { x.shape[$0] }, strides: p.map { x.strides[$0] }, offset: x.offset, dtype: x.dtype)]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .none }
    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let p = resolved(c.inputs[0].rank)
        var inverse = p
        for (i, axis) in p.enumerated() { inverse[axis] = i }
        return [c.cotangents[0].permuted(inverse)]
    }
}

/// Broadcasts size-1 (or missing leading) dimensions to `shape` without copying (stride 0).
public struct ExpandOp: Operation {
    /// The shape to broadcast to.
    public let shape: [Int]

    /// An op broadcasting its input to `shape` as a view (as `torch.Tensor.expand`).
    public init(shape: [Int]) {
        self.shape = shape
    }
    public var name: String { "expand" }
    public var returnsView: Bool { true }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let source = inputs[0].shape
        try require(shape.count >= source.count, name, inputs, "cannot expand rank \(source.count) to \(shape)")
        let pad = shape.count - source.count
        var out = shape
        for i in 0..<shape.count {
            let s = i < pad ? 1 : source[i - pad]
            if shape[i] == -1 { try require(i >= pad, name, inputs, "-1 only for existing dimensions"); out[i] = s; continue }
            try require(s == shape[i] || s == 1, name, inputs, "dimension \(i) of size \(s) cannot expand to \(shape[i]) (target \(shape))")
        }
        return [TensorSpec(out, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0], pad = shape.count - x.rank
        let out = shape.enumerated().map { i, s in s == -1 ? x.shape[i - pad] : s }
        let strides = (0..<out.count).map { i in i < pad || x.shape[i - pad] != out[i] ? 0 : x.strides[i - pad] }
        return [Tensor(storage: x.storage, shape: out, strides: strides, offset: x.offset, dtype: x.dtype)]
    }

    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .none }
    public func vjp(_ c: VJPContext) -> [Tensor?] { [c.cotangents[0].sum(toShape: c.inputs[0].shape)] }
}

extension Tensor {
    /// The same elements in `shape` (one entry may be -1); a view when possible.
    public func reshaped(_ shape: [Int]) -> Tensor {
        shape == self.shape ? self : Tensor.apply(ReshapeOp(shape: shape), [self])[0]
    }
    /// Dimensions reordered (a view).
    public func permuted(_ permutation: [Int]) -> Tensor { Tensor.apply(PermuteOp(permutation: permutation), [self])[0] }
    /// Dimensions `a` and `b` swapped (a view).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        if isPoisoned { return self }
        var p = Array(0..<rank)
        p.swapAt(a < 0 ? a + rank : a, b < 0 ? b + rank : b)
        return permuted(p)
    }
    /// Matrix transpose (the last two dimensions swapped).
    public var T: Tensor { transposed() }
    /// Broadcast to `shape` without copying.
    public func expanded(to shape: [Int]) -> Tensor {
        shape == self.shape ? self : Tensor.apply(ExpandOp(shape: shape), [self])[0]
    }
    /// Size-1 dimensions removed (only `axis` when given).
    public func squeezed(axis: Int? = nil) -> Tensor {
        if isPoisoned { return self }
        if let axis {
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank else { return .failure(ShapeError(op: "squeeze", shapes: [shape], expected: "axis \(axis) in range")) }
            if shape[a] != 1 { return self }
            var s = shape
            s.remove(at: a)
            return reshaped(s)
        }
        return reshaped(shape.filter { $0 != 1 })
    }
    /// A size-1 dimension inserted at `axis` (may be -1 for the end).
    public func unsqueezed(axis: Int) -> Tensor {
        if isPoisoned { return self }
        let a = axis < 0 ? axis + rank + 1 : axis
        guard a >= 0 && a <= rank else { return .failure(ShapeError(op: "unsqueeze", shapes: [shape], expected: "axis \(axis) in range")) }
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }
    /// All dimensions from `startAxis` on merged into one.
    public func flattened(startAxis: Int = 0) -> Tensor {
        if isPoisoned { return self }
        let a = startAxis < 0 ? startAxis + rank : startAxis
        return reshaped(Array(shape[..<a]) + [shape[a...].reduce(1, *)])
    }
}
