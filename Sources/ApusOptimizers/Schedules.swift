import Foundation

/// Changes an optimizer's learning rate once per epoch (or step): call `step()` after each.
/// The rate at epoch e is a function of e and the base rate, as in `torch.optim.lr_scheduler`.
public class LearningRateSchedule {
    public let optimizer: Optimizer
    public let baseLearningRate: Double
    /// Epochs (or steps) completed.
    public private(set) var epoch = 0
    let rate: (Int, Double) -> Double

    init(optimizer: Optimizer, rate: @escaping (Int, Double) -> Double) {
        self.optimizer = optimizer
        baseLearningRate = optimizer.learningRate
        self.rate = rate
        optimizer.learningRate = rate(0, baseLearningRate)
    }

    /// Advances one epoch and sets the optimizer's learning rate.
    public func step() {
        epoch += 1
        optimizer.learningRate = rate(epoch, baseLearningRate)
    }

    /// Restores the epoch count (when resuming) and the matching learning rate.
    public func restore(epoch: Int) {
        self.epoch = epoch
        optimizer.learningRate = rate(epoch, baseLearningRate)
    }

    /// Multiplies the rate by `gamma` every `stepSize` epochs.
    public static func step(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) -> LearningRateSchedule {
        precondition(stepSize > 0, "step schedule: stepSize must be positive")
        return LearningRateSchedule(optimizer: optimizer) { e, base in base * pow(gamma, Double(e / stepSize)) }
    }

    /// Multiplies the rate by `gamma` at each milestone epoch.
    public static func multiStep(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) -> LearningRateSchedule {
        LearningRateSchedule(optimizer: optimizer) { e, base in base * pow(gamma, Double(milestones.filter { $0 <= e }.count)) }
    }

    /// Multiplies the rate by `gamma` every epoch.
    public static func exponential(_ optimizer: Optimizer, gamma: Double) -> LearningRateSchedule {
        LearningRateSchedule(optimizer: optimizer) { e, base in base * pow(gamma, Double(e)) }
    }

    /// Linear warm-up from 0 over `warmup` steps, then a cosine decay to `minimum` at `total` steps.
    public static func cosineWithWarmup(_ optimizer: Optimizer, warmup: Int, total: Int, minimum: Double = 0) -> LearningRateSchedule {
        precondition(total > warmup && warmup >= 0, "cosine schedule: total must exceed warmup")
        return LearningRateSchedule(optimizer: optimizer) { e, base in
            if e < warmup { return base * Double(e) / Double(warmup) }
            let progress = Swift.min(1, Double(e - warmup) / Double(total - warmup))
            return minimum + (base - minimum) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}

/// Cuts the learning rate by `factor` when a monitored metric has not improved for `patience`
/// epochs (PyTorch's `ReduceLROnPlateau`, relative threshold).
public final class ReduceLearningRateOnPlateau {
    public enum Mode: Sendable { case minimize, maximize }
    public let optimizer: Optimizer
    public let mode: Mode, factor: Double, patience: Int, threshold: Double, cooldown: Int, minimum: Double
    public private(set) var best: Double
    private var badEpochs = 0, cooldownLeft = 0

    public init(_ optimizer: Optimizer, mode: Mode = .minimize, factor: Double = 0.1, patience: Int = 10,
                threshold: Double = 1e-4, cooldown: Int = 0, minimum: Double = 0) {
        precondition(factor < 1, "ReduceLearningRateOnPlateau: factor must be below 1")
        (self.optimizer, self.mode, self.factor, self.patience) = (optimizer, mode, factor, patience)
        (self.threshold, self.cooldown, self.minimum) = (threshold, cooldown, minimum)
        best = mode == .minimize ? .infinity : -.infinity
    }

    /// Records this epoch's metric and lowers the rate when it has stalled.
    public func step(_ metric: Double) {
        let improved = mode == .minimize ? metric < best * (1 - threshold) : metric > best * (1 + threshold)
        if improved {
            best = metric
            badEpochs = 0
        } else {
            badEpochs += 1
        }
        if cooldownLeft > 0 {
            cooldownLeft -= 1
            badEpochs = 0
        }
        if badEpochs > patience {
            optimizer.learningRate = Swift.max(optimizer.learningRate * factor, minimum)
            cooldownLeft = cooldown
            badEpochs = 0
        }
    }
}
