/// Writes a value into a tensor's own storage, in place (running statistics that a compiled
/// step updates): (target, value of the same shape and dtype) → nothing. Every tensor sharing
/// the target's storage sees the change; the target must be contiguous. Being side-effecting,
/// graph passes keep it where it was recorded.
public struct AssignOp: Operation {
    /// Creates the op; its inputs are the target and the value.
    public init() {}
    public var name: String { "assign" }
    public var outputCount: Int { 0 }
    public var hasSideEffects: Bool { true }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 2 && inputs[0] == inputs[1], name, inputs, "a target and a value of one shape and dtype")
        return []
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        precondition(inputs[0].isContiguous, "assign: the target must be contiguous")
        CPUElementwise.copy(inputs[1], into: inputs[0])
        return []
    }
}

extension Tensor {
    /// Overwrites this tensor's elements with `value`'s (same shape and dtype), in place: every
    /// tensor sharing this storage sees it. Recorded as a graph node while tracing.
    public func assign(_ value: Tensor) {
        if !isSymbolic && !isContiguous {
            Tensor.report(ShapeError(op: "assign", shapes: [shape, value.shape], expected: "a contiguous target (this one is a strided view)"))
            return
        }
        _ = Tensor.apply(AssignOp(), [self, value])
    }

    /// Gives this tensor contiguous storage of its own (a copy when it is shared or a view), so
    /// `assign` changes nothing else. A copy is detached (no gradient history): for buffers.
    public mutating func makeUnique() {
        if !isContiguous || !isKnownUniquelyReferenced(&storage) || count * dtype.byteSize != storage.byteCount {
            self = withoutGrad { copied() }
        }
    }
}
