/// A tensor's link into the gradient graph: either a leaf that requires a gradient (and
/// accumulates it in `grad`) or the output of an op (its `node`).
final class AutogradInfo {
    var requiresGrad: Bool
    var grad: Tensor?
    let node: BackwardNode?
    let outputIndex: Int

    /// A leaf that collects gradients.
    init(leaf: Bool) {
        requiresGrad = leaf
        node = nil
        outputIndex = 0
    }

    /// Output `outputIndex` of `node`.
    init(node: BackwardNode, outputIndex: Int) {
        requiresGrad = true
        self.node = node
        self.outputIndex = outputIndex
    }
}

/// One recorded op application: what backward needs to call its vjp.
/// Outputs are kept without their autograd link (no reference cycle).
final class BackwardNode {
    let op: any Operation
    let inputs: [Tensor]
    let outputs: [Tensor]

    /// Keeps the values `op.savedForBackward` names; the others become `shapeOnly` stand-ins
    /// (inputs keep their autograd links), so their memory can go before the backward pass.
    init(op: any Operation, inputs: [Tensor], outputs: [Tensor]) {
        self.op = op
        let saved = op.savedForBackward(inputs.map(\.requiresGrad))
        func keeps(_ indices: [Int]?, _ i: Int) -> Bool { indices?.contains(i) ?? true }
        self.inputs = inputs.enumerated().map { i, t in keeps(saved.inputs, i) ? t : t.shapeOnly }
        self.outputs = outputs.enumerated().map { i, t in
            var kept = keeps(saved.outputs, i) ? t : t.shapeOnly
            kept.autograd = nil
            return kept
        }
    }

    /// Output `i`, linked back to this node (so vjps that use outputs differentiate again).
    func linkedOutput(_ i: Int) -> Tensor {
        var t = outputs[i]
        if t.dtype.isFloatingPoint { t.autograd = AutogradInfo(node: self, outputIndex: i) }
        return t
    }
}

extension Tensor {
    /// One zero byte block that every `shapeOnly` stand-in views.
    private static let shapeOnlyStorage: Storage = {
        let storage = withoutArenaPlacement { Storage(byteCount: 16) }
        storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        return storage
    }()

    /// A stand-in with this tensor's shape, dtype and autograd link but no memory of its own
    /// (every element a broadcast zero): what a backward node keeps of a value its vjp does not
    /// read. Symbolic tensors (tracing) stay as they are.
    var shapeOnly: Tensor {
        guard symbol == nil else { return self }
        var t = Tensor(storage: Tensor.shapeOnlyStorage, shape: shape, strides: Array(repeating: 0, count: shape.count), offset: 0, dtype: dtype)
        t.autograd = autograd
        return t
    }

    /// Whether gradients flow to (leaf) or through (op result) this tensor.
    public var requiresGrad: Bool {
        get { autograd?.requiresGrad ?? false }
        set {
            precondition(!newValue || dtype.isFloatingPoint, "requiresGrad: only floating-point tensors can require gradients (this one is \(dtype))")
            if newValue == requiresGrad && autograd?.node == nil { return }
            autograd = newValue ? AutogradInfo(leaf: true) : nil
        }
    }

    /// A new leaf sharing this tensor's data that requires a gradient.
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        var t = self
        t.autograd = nil
        t.requiresGrad = flag
        return t
    }

    /// This tensor's data, cut off from the gradient graph.
    public func detached() -> Tensor {
        var t = self
        t.autograd = nil
        return t
    }

    /// Whether this is a leaf (created by the user, not by an op that records a gradient).
    public var isLeaf: Bool { autograd?.node == nil }

    /// The gradient accumulated by `backward()` into this leaf (nil until then).
    public var grad: Tensor? {
        get { autograd?.grad }
        nonmutating set {
            precondition(autograd != nil, "grad: set requiresGrad before assigning a gradient")
            autograd?.grad = newValue
        }
    }

    /// Name of the op that produced this tensor, when it records a gradient.
    public var gradientOpName: String? { autograd?.node?.op.name }
}
