/// Reverse-mode differentiation over the graph of `BackwardNode`s reachable from a result.
enum AutodiffEngine {
    /// Nodes reachable from `root`, ordered so that every node comes after all nodes that use
    /// its outputs (reverse topological order for backpropagation).
    static func order(from root: BackwardNode) -> [BackwardNode] {
        var visited = Set<ObjectIdentifier>()
        var postOrder: [BackwardNode] = []
        var stack: [(BackwardNode, Int)] = [(root, 0)]
        visited.insert(ObjectIdentifier(root))
        while let (node, next) = stack.popLast() {
            if next < node.inputs.count {
                stack.append((node, next + 1))
                if let child = node.inputs[next].autograd?.node, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                postOrder.append(node)
            }
        }
        return postOrder.reversed()
    }

    /// Propagates `seed` (the cotangent of `root`) backwards. Leaf gradients go to `deliver`;
    /// `finished`, when given, hears of each leaf that received a gradient once no later node of
    /// this pass can add to it.
    static func run(root: Tensor, seed: Tensor, createGraph: Bool,
                    deliver: (AutogradInfo, Tensor) -> Void, finished: ((AutogradInfo) -> Void)? = nil) {
        if root.isPoisoned { return }   // the forward pass failed inside `checking`/`trace`: its error is thrown there
        guard let info = root.autograd else {
            Tensor.report(GradientError("backward: the tensor does not require a gradient (no input of the ops that made it requires grad)"))
            return
        }
        guard let rootNode = info.node else {
            deliver(info, seed)
            finished?(info)
            return
        }
        var cotangents: [ObjectIdentifier: [Tensor?]] = [:]
        cotangents[ObjectIdentifier(rootNode)] = (0..<rootNode.outputs.count).map { $0 == info.outputIndex ? seed : nil }
        let nodes = order(from: rootNode)
        // With `finished`: the leaves whose last use is each node, and those that got a gradient.
        let lastUses = finished == nil ? [:] : leavesByLastUse(nodes)
        var delivered = Set<ObjectIdentifier>()
        let body = {
            for (position, node) in nodes.enumerated() {
                defer {
                    if let finished, let leaves = lastUses[position] {
                        for leaf in leaves where delivered.contains(ObjectIdentifier(leaf)) { finished(leaf) }
                    }
                }
                guard let pending = cotangents.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                // A missing cotangent is a stride-0 view of one zero: no memory, and vjps that ignore
                // it (saved outputs) never touch it.
                let outputCotangents = pending.enumerated().map { i, g in
                    g ?? Tensor.zeros([], dtype: node.outputs[i].dtype).expanded(to: node.outputs[i].shape)
                }
                let needed = node.inputs.map(\.requiresGrad)
                let outputs = createGraph ? node.outputs.indices.map(node.linkedOutput) : node.outputs
                let context = VJPContext(inputs: node.inputs, outputs: outputs, cotangents: outputCotangents, needed: needed,
                                         received: pending.map { $0 != nil })
                let grads = node.op.vjp(context)
                precondition(grads.count == node.inputs.count, "\(node.op.name): vjp returned \(grads.count) gradients for \(node.inputs.count) inputs")
                for (input, grad) in zip(node.inputs, grads) {
                    guard let grad, let inputInfo = input.autograd, inputInfo.requiresGrad else { continue }
                    precondition(grad.shape == input.shape, "\(node.op.name): vjp gave gradient shape \(grad.shape) for input shape \(input.shape)")
                    if let child = inputInfo.node {
                        let key = ObjectIdentifier(child)
                        var slots = cotangents[key] ?? Array(repeating: nil, count: child.outputs.count)
                        slots[inputInfo.outputIndex] = slots[inputInfo.outputIndex].map { $0 + grad } ?? grad
                        cotangents[key] = slots
                    } else {
                        deliver(inputInfo, grad)
                        if finished != nil { delivered.insert(ObjectIdentifier(inputInfo)) }
                    }
                }
            }
        }
        if createGraph { withGrad(body) } else { withoutGrad(body) }
    }

    /// For each position in `nodes` (backward order), the leaves that require a gradient and that
    /// no later node takes as input: after that node, their gradient of the pass is final.
    static func leavesByLastUse(_ nodes: [BackwardNode]) -> [Int: [AutogradInfo]] {
        var last: [ObjectIdentifier: (Int, AutogradInfo)] = [:]
        for (position, node) in nodes.enumerated() {
            for input in node.inputs {
                if let leaf = input.autograd, leaf.node == nil, leaf.requiresGrad { last[ObjectIdentifier(leaf)] = (position, leaf) }
            }
        }
        var result: [Int: [AutogradInfo]] = [:]
        for (position, leaf) in last.values { result[position, default: []].append(leaf) }
        return result
    }
}

extension Tensor {
    /// Computes the gradient of this tensor with respect to every leaf that requires one and
    /// adds it to that leaf's `grad` (gradients accumulate across calls, as in PyTorch).
    ///
    /// - Parameters:
    ///   - gradient: the cotangent of this tensor; defaults to 1 for a one-element tensor.
    ///   - createGraph: record the backward pass itself, so gradients can be differentiated again.
    ///
    /// A tensor that needs no gradient (`GradientError`), an implicit gradient for more than one
    /// element or a gradient of another shape (`ShapeError`) are reported as op errors are:
    /// thrown inside `Tensor.checking`, fatal outside it.
    public func backward(_ gradient: Tensor? = nil, createGraph: Bool = false) {
        guard gradient != nil || count == 1 else {
            Tensor.report(ShapeError(op: "backward", shapes: [shape], expected: "a one-element tensor, or pass the gradient"))
            return
        }
        let seed = gradient ?? onesLike()
        guard seed.shape == shape else {
            Tensor.report(ShapeError(op: "backward", shapes: [shape, seed.shape], expected: "a gradient of the tensor's own shape"))
            return
        }
        let watch = DispatchState.current.gradientWatch
        AutodiffEngine.run(root: self, seed: seed, createGraph: createGraph, deliver: { leaf, grad in
            let g = createGraph ? grad : grad.detached()
            if let previous = leaf.grad {
                leaf.grad = createGraph ? previous + g : withoutGrad { previous + g }
            } else {
                leaf.grad = g
            }
        }, finished: watch.map { watch in { leaf in watch.finished(leaf) } })
    }
}

/// Gradients of `output` with respect to the leaves `inputs` (tensors that require a gradient),
/// without touching any `.grad`. Inputs the output does not depend on get zeros.
public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil, createGraph: Bool = false) -> [Tensor] {
    precondition(seed != nil || output.count == 1, "gradients(of:): the output must have one element, or pass seed")
    let targets = inputs.map { $0.autograd.map(ObjectIdentifier.init) }
    var found: [ObjectIdentifier: Tensor] = [:]
    AutodiffEngine.run(root: output, seed: seed ?? output.onesLike(), createGraph: createGraph) { leaf, grad in
        let key = ObjectIdentifier(leaf)
        found[key] = found[key].map { $0 + grad } ?? grad
    }
    return zip(inputs, targets).map { input, key in key.flatMap { found[$0] } ?? input.zerosLike() }
}

/// The value of `f` at `x` and its gradient (`f` must return a one-element tensor).
///
/// ```swift
/// let (y, g) = valueAndGrad(at: x) { ($0 * $0).sum() }   // g == 2 * x
/// ```
public func valueAndGrad(at x: Tensor, of f: (Tensor) -> Tensor) -> (value: Tensor, gradient: Tensor) {
    let (value, grads) = valueAndGrad(at: [x]) { f($0[0]) }
    return (value, grads[0])
}

/// The value of `f` at `xs` and its gradient with respect to each of them.
public func valueAndGrad(at xs: [Tensor], of f: ([Tensor]) -> Tensor) -> (value: Tensor, gradients: [Tensor]) {
    let leaves = xs.map { $0.requiringGrad() }
    let value = withGrad { f(leaves) }
    guard value.requiresGrad else { return (value, leaves.map { $0.zerosLike() }) }
    return (value.detached(), gradients(of: value, wrt: leaves))
}

/// The gradient of `f` at `x`.
public func grad(at x: Tensor, of f: (Tensor) -> Tensor) -> Tensor { valueAndGrad(at: x, of: f).gradient }
