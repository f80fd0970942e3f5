import Apus
import ApusNN
import CApusKernels
import Foundation

/// Stochastic gradient descent with optional momentum (dampening, Nesterov) and L2 weight decay,
/// as `torch.optim.SGD`.
public final class SGD: Optimizer {
    public var momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool

    public init(parameters: [Parameter], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov needs momentum > 0 and dampening 0")
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        super.init(parameters: parameters, learningRate: learningRate)
    }

    override public var updatesElementwise: Bool { true }

    override public func spanUpdate(index: Int, value: Tensor, step: Int) -> SpanUpdate? {
        let first: Int32 = momentum != 0 && slots[index]["momentum"] == nil ? 1 : 0
        let buffer = momentum != 0 ? slot("momentum", index, like: value) : nil
        let (lr, mu, damp, wd, nest) = (learningRate, momentum, dampening, weightDecay, Int32(nesterov ? 1 : 0))
        if value.isDouble {
            let (p, b) = (value.unsafeMutableElements(of: Double.self), buffer?.unsafeMutableElements(of: Double.self))
            return { o, n, g in apus_sgd_f64(Int64(n), p + o, g.assumingMemoryBound(to: Double.self), b.map { $0 + o }, lr, mu, damp, wd, nest, first) }
        }
        let (p, b) = (value.unsafeMutableElements(of: Float.self), buffer?.unsafeMutableElements(of: Float.self))
        return { o, n, g in apus_sgd_f32(Int64(n), p + o, g.assumingMemoryBound(to: Float.self), b.map { $0 + o }, lr, mu, damp, wd, nest, first) }
    }
}

/// Adam (`decoupledWeightDecay: false`, L2 decay added to the gradient) as `torch.optim.Adam`;
/// see `AdamW` for decoupled decay.
public class Adam: Optimizer {
    public var beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double
    let decoupled: Bool

    public convenience init(parameters: [Parameter], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                            epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.init(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                  weightDecay: weightDecay, decoupled: false)
    }

    init(parameters: [Parameter], learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
         weightDecay: Double, decoupled: Bool) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        super.init(parameters: parameters, learningRate: learningRate)
    }

    override public var updatesElementwise: Bool { true }

    override public func spanUpdate(index: Int, value: Tensor, step: Int) -> SpanUpdate? {
        let m = slot("m", index, like: value), v = slot("v", index, like: value)
        let bc1 = 1 - pow(beta1, Double(step)), bc2 = 1 - pow(beta2, Double(step))
        let (lr, b1, b2, eps, wd, d) = (learningRate, beta1, beta2, epsilon, weightDecay, Int32(decoupled ? 1 : 0))
        if value.isDouble {
            let (p, mp, vp) = (value.unsafeMutableElements(of: Double.self), m.unsafeMutableElements(of: Double.self), v.unsafeMutableElements(of: Double.self))
            return { o, n, g in apus_adam_f64(Int64(n), p + o, g.assumingMemoryBound(to: Double.self), mp + o, vp + o, lr, b1, b2, eps, wd, d, bc1, bc2) }
        }
        let (p, mp, vp) = (value.unsafeMutableElements(of: Float.self), m.unsafeMutableElements(of: Float.self), v.unsafeMutableElements(of: Float.self))
        return { o, n, g in apus_adam_f32(Int64(n), p + o, g.assumingMemoryBound(to: Float.self), mp + o, vp + o, lr, b1, b2, eps, wd, d, bc1, bc2) }
    }
}

/// Adam with decoupled weight decay (p ← p·(1 − lr·wd) before the Adam step), as `torch.optim.AdamW`.
public final class AdamW: Adam {
    public init(parameters: [Parameter], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
        super.init(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                   weightDecay: weightDecay, decoupled: true)
    }
}

/// RMSprop (optionally centered, with momentum), as `torch.optim.RMSprop`.
public final class RMSprop: Optimizer {
    public var alpha: Double, epsilon: Double, weightDecay: Double, momentum: Double, centered: Bool

    public init(parameters: [Parameter], learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8,
                weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false) {
        self.alpha = alpha
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.centered = centered
        super.init(parameters: parameters, learningRate: learningRate)
    }

    override public var updatesElementwise: Bool { true }

    override public func spanUpdate(index: Int, value: Tensor, step: Int) -> SpanUpdate? {
        let square = slot("square", index, like: value)
        let average = centered ? slot("average", index, like: value) : nil
        let buffer = momentum > 0 ? slot("momentum", index, like: value) : nil
        let (lr, a, eps, wd, mu) = (learningRate, alpha, epsilon, weightDecay, momentum)
        if value.isDouble {
            let (p, sq) = (value.unsafeMutableElements(of: Double.self), square.unsafeMutableElements(of: Double.self))
            let (avg, b) = (average?.unsafeMutableElements(of: Double.self), buffer?.unsafeMutableElements(of: Double.self))
            return { o, n, g in
                apus_rmsprop_f64(Int64(n), p + o, g.assumingMemoryBound(to: Double.self), sq + o, avg.map { $0 + o }, b.map { $0 + o }, lr, a, eps, wd, mu)
            }
        }
        let (p, sq) = (value.unsafeMutableElements(of: Float.self), square.unsafeMutableElements(of: Float.self))
        let (avg, b) = (average?.unsafeMutableElements(of: Float.self), buffer?.unsafeMutableElements(of: Float.self))
        return { o, n, g in
            apus_rmsprop_f32(Int64(n), p + o, g.assumingMemoryBound(to: Float.self), sq + o, avg.map { $0 + o }, b.map { $0 + o }, lr, a, eps, wd, mu)
        }
    }
}

/// Adagrad with learning-rate decay, as `torch.optim.Adagrad`.
public final class Adagrad: Optimizer {
    public var learningRateDecay: Double, weightDecay: Double, initialAccumulator: Double, epsilon: Double

    public init(parameters: [Parameter], learningRate: Double = 1e-2, learningRateDecay: Double = 0, weightDecay: Double = 0,
                initialAccumulator: Double = 0, epsilon: Double = 1e-10) {
        self.learningRateDecay = learningRateDecay
        self.weightDecay = weightDecay
        self.initialAccumulator = initialAccumulator
        self.epsilon = epsilon
        super.init(parameters: parameters, learningRate: learningRate)
    }

    override public var updatesElementwise: Bool { true }

    override public func spanUpdate(index: Int, value: Tensor, step: Int) -> SpanUpdate? {
        let sum = slot("sum", index, like: value, initial: initialAccumulator)
        let (clr, eps, wd) = (learningRate / (1 + Double(step - 1) * learningRateDecay), epsilon, weightDecay)
        if value.isDouble {
            let (p, s) = (value.unsafeMutableElements(of: Double.self), sum.unsafeMutableElements(of: Double.self))
            return { o, n, g in apus_adagrad_f64(Int64(n), p + o, g.assumingMemoryBound(to: Double.self), s + o, clr, eps, wd) }
        }
        let (p, s) = (value.unsafeMutableElements(of: Float.self), sum.unsafeMutableElements(of: Float.self))
        return { o, n, g in apus_adagrad_f32(Int64(n), p + o, g.assumingMemoryBound(to: Float.self), s + o, clr, eps, wd) }
    }
}
