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

    override public func update(index: Int, value: Tensor, gradient: Tensor) {
        let first = momentum != 0 && slots[index]["momentum"] == nil
        let buffer = momentum != 0 ? slot("momentum", index, like: value) : nil
        let f: Int32 = first ? 1 : 0, nest: Int32 = nesterov ? 1 : 0
        if value.isDouble {
            let (p, g, b) = (value.unsafeMutableElements(of: Double.self), gradient.unsafeMutableElements(of: Double.self), buffer?.unsafeMutableElements(of: Double.self))
            inChunks(value.count) { o, n in apus_sgd_f64(n, p + o, g + o, b.map { $0 + o }, learningRate, momentum, dampening, weightDecay, nest, f) }
        } else {
            let (p, g, b) = (value.unsafeMutableElements(of: Float.self), gradient.unsafeMutableElements(of: Float.self), buffer?.unsafeMutableElements(of: Float.self))
            inChunks(value.count) { o, n in apus_sgd_f32(n, p + o, g + o, b.map { $0 + o }, learningRate, momentum, dampening, weightDecay, nest, f) }
        }
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

    override public func update(index: Int, value: Tensor, gradient: Tensor) {
        let m = slot("m", index, like: value), v = slot("v", index, like: value)
        let steps = Double(stepCount)
        let bc1 = 1 - pow(beta1, steps), bc2 = 1 - pow(beta2, steps)
        let d: Int32 = decoupled ? 1 : 0
        if value.isDouble {
            let (p, g, mp, vp) = (value.unsafeMutableElements(of: Double.self), gradient.unsafeMutableElements(of: Double.self),
                                  m.unsafeMutableElements(of: Double.self), v.unsafeMutableElements(of: Double.self))
            inChunks(value.count) { o, n in apus_adam_f64(n, p + o, g + o, mp + o, vp + o, learningRate, beta1, beta2, epsilon, weightDecay, d, bc1, bc2) }
        } else {
            let (p, g, mp, vp) = (value.unsafeMutableElements(of: Float.self), gradient.unsafeMutableElements(of: Float.self),
                                  m.unsafeMutableElements(of: Float.self), v.unsafeMutableElements(of: Float.self))
            inChunks(value.count) { o, n in apus_adam_f32(n, p + o, g + o, mp + o, vp + o, learningRate, beta1, beta2, epsilon, weightDecay, d, bc1, bc2) }
        }
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

    override public func update(index: Int, value: Tensor, gradient: Tensor) {
        let square = slot("square", index, like: value)
        let average = centered ? slot("average", index, like: value) : nil
        let buffer = momentum > 0 ? slot("momentum", index, like: value) : nil
        if value.isDouble {
            let (p, g, sq) = (value.unsafeMutableElements(of: Double.self), gradient.unsafeMutableElements(of: Double.self), square.unsafeMutableElements(of: Double.self))
            let (avg, b) = (average?.unsafeMutableElements(of: Double.self), buffer?.unsafeMutableElements(of: Double.self))
            inChunks(value.count) { o, n in
                apus_rmsprop_f64(n, p + o, g + o, sq + o, avg.map { $0 + o }, b.map { $0 + o }, learningRate, alpha, epsilon, weightDecay, momentum)
            }
        } else {
            let (p, g, sq) = (value.unsafeMutableElements(of: Float.self), gradient.unsafeMutableElements(of: Float.self), square.unsafeMutableElements(of: Float.self))
            let (avg, b) = (average?.unsafeMutableElements(of: Float.self), buffer?.unsafeMutableElements(of: Float.self))
            inChunks(value.count) { o, n in
                apus_rmsprop_f32(n, p + o, g + o, sq + o, avg.map { $0 + o }, b.map { $0 + o }, learningRate, alpha, epsilon, weightDecay, momentum)
            }
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

    override public func update(index: Int, value: Tensor, gradient: Tensor) {
        let sum = slot("sum", index, like: value, initial: initialAccumulator)
        let clr = learningRate / (1 + Double(stepCount - 1) * learningRateDecay)
        if value.isDouble {
            let (p, g, s) = (value.unsafeMutableElements(of: Double.self), gradient.unsafeMutableElements(of: Double.self), sum.unsafeMutableElements(of: Double.self))
            inChunks(value.count) { o, n in apus_adagrad_f64(n, p + o, g + o, s + o, clr, epsilon, weightDecay) }
        } else {
            let (p, g, s) = (value.unsafeMutableElements(of: Float.self), gradient.unsafeMutableElements(of: Float.self), sum.unsafeMutableElements(of: Float.self))
            inChunks(value.count) { o, n in apus_adagrad_f32(n, p + o, g + o, s + o, clr, epsilon, weightDecay) }
        }
    }
}
