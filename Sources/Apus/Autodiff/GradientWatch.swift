/// The leaves a `watchingGradients` scope listens to, and what it calls when one is final.
final class GradientWatch {
    /// Positions in the watched list, by leaf (a tensor listed twice has two).
    let positions: [ObjectIdentifier: [Int]]
    let ready: (Int) -> Void

    init(leaves: [Tensor], ready: @escaping (Int) -> Void) {
        var positions: [ObjectIdentifier: [Int]] = [:]
        for (i, leaf) in leaves.enumerated() {
            if let info = leaf.autograd, info.node == nil { positions[ObjectIdentifier(info), default: []].append(i) }
        }
        self.positions = positions
        self.ready = ready
    }

    func finished(_ leaf: AutogradInfo) {
        for i in positions[ObjectIdentifier(leaf)] ?? [] { ready(i) }
    }
}

/// Runs `body`; whenever a `backward()` call inside it (on this task) has given one of `leaves`
/// its final gradient of that pass — no node still to run in the pass adds to it — calls
/// `ready` with the leaf's position in `leaves`, while the rest of the pass is still to run.
/// The leaf's `.grad` then holds that gradient (summed with what it held before the pass).
///
/// Data-parallel training starts sending a group of gradients this way while the backward pass
/// goes on (communication overlaps computation). Leaves that get no gradient in a pass, and
/// tensors that are not leaves requiring a gradient, are never reported; `gradients(of:wrt:)`
/// (which sets no `.grad`) reports nothing. An inner `watchingGradients` scope replaces an outer one.
///
/// ```swift
/// let w = Tensor([1.0, 2.0]).requiringGrad(), b = Tensor([0.5]).requiringGrad()
/// var order: [Int] = []
/// watchingGradients(of: [w, b], { order.append($0) }) { ((w * w).sum() * b.sum()).backward() }
/// // order holds 0 and 1, each once
/// ```
public func watchingGradients<R>(of leaves: [Tensor], _ ready: @escaping (Int) -> Void, _ body: () throws -> R) rethrows -> R {
    var state = DispatchState.current
    state.gradientWatch = GradientWatch(leaves: leaves, ready: ready)
    return try DispatchState.$current.withValue(state) { try body() }
}
