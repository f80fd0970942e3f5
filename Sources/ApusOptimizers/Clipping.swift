import Apus
import ApusNN

/// Scales all gradients together so their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping (PyTorch's `clip_grad_norm_`).
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Double) -> Double {
    let grads = parameters.compactMap(\.grad)
    let total = withoutGrad { grads.map { $0.sumOfSquares().item() }.reduce(0, +).squareRoot() }
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

/// Gradient clipping as part of a training step (`Trainer.gradientClipping`, a compiled step's
/// `clipping`, `solver.clip_grad_norm` / `clip_grad_value` in a config): by global L2 norm or
/// by value, exactly as `clipGradientNorm` and `clipGradientValue`.
public enum GradientClipping: Sendable, Equatable {
    /// Scale all gradients together so their global L2 norm is at most this.
    case norm(Double)
    /// Clamp every gradient element to [−v, v].
    case value(Double)

    /// `gradients` clipped, written with tensor ops (so it traces into a compiled step): for
    /// `.norm(m)` each is multiplied by min(1, m / (‖all‖₂ + 1e-6)) as PyTorch's `clip_grad_norm_`.
    public func clipped(_ gradients: [Tensor]) -> [Tensor] {
        switch self {
        case let .value(v):
            return gradients.map { $0.clamp(min: -v, max: v) }
        case let .norm(maxNorm):
            guard let first = gradients.first else { return [] }
            let squares = gradients.map { $0.sumOfSquares().cast(to: .float64) }
            let total = squares.dropFirst().reduce(squares[0], +).sqrt()
            let scale = (total.scalar(maxNorm) / (total + 1e-6)).clamp(max: 1)
            return gradients.map { $0 * scale.cast(to: first.dtype) }
        }
    }

    /// Clips the gradients of `parameters` in place (eager training).
    public func clip(_ parameters: [Parameter]) {
        switch self {
        case let .norm(maxNorm): clipGradientNorm(parameters, maxNorm: maxNorm)
        case let .value(v): clipGradientValue(parameters, value: v)
        }
    }
}
