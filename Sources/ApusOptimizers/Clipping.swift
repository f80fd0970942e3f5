import Apus
import ApusNN

/// Scales all gradients together so their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping (PyTorch's `clip_grad_norm_`).
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Double) -> Double {
    let grads = parameters.compactMap(\.grad)
    let total = withoutGrad { grads.map { ($0 * $0).sum().item() }.reduce(0, +).squareRoot() }
    let scale = maxNorm / (total + 1e-6)
    if scale < 1 {
        withoutGrad { for p in parameters { if let g = p.grad { p.grad = g * scale } } }
    }
    return total
}

/// Clamps every gradient element to [−value, value] (PyTorch's `clip_grad_value_`).
public func clipGradientValue(_ parameters: [Parameter], value: Double) {
    withoutGrad { for p in parameters { if let g = p.grad { p.grad = g.clamp(min: -value, max: value) } } }
}
