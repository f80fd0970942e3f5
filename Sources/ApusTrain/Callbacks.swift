import Apus
import ApusNN
import ApusOptimizers
import Foundation

/// Values logged at the end of a batch or an epoch ("loss", "accuracy", "val_loss", …).
public typealias Logs = [String: Double]

/// Hooks into `fit`. Every method has an empty default; return `true` from the `end` hooks to
/// stop training after the current batch or epoch.
public protocol Callback: AnyObject {
    func trainBegin(_ trainer: Trainer)
    func epochBegin(_ epoch: Int, trainer: Trainer)
    func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) throws -> Bool
    func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool
    func trainEnd(_ trainer: Trainer) throws
}

extension Callback {
    public func trainBegin(_ trainer: Trainer) {}
    public func epochBegin(_ epoch: Int, trainer: Trainer) {}
    public func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) throws -> Bool { false }
    public func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool { false }
    public func trainEnd(_ trainer: Trainer) throws {}
}

/// Whether `monitor` should go down ("loss") or up ("accuracy"): `auto` decides by its name.
public enum MonitorMode: Sendable {
    case minimize, maximize, auto
    func resolved(_ monitor: String) -> MonitorMode {
        guard self == .auto else { return self }
        return monitor.contains("acc") ? .maximize : .minimize
    }
}

/// Saves the model (safetensors) every `every` epochs, or only when `monitor` improves
/// (`saveBestOnly`). `{epoch}` in the path is replaced by the epoch number (from 1).
public final class ModelCheckpoint: Callback {
    public let path: String, monitor: String, saveBestOnly: Bool, every: Int
    let mode: MonitorMode
    public private(set) var best: Double?
    /// Epochs (from 1) at which a file was written.
    public private(set) var savedEpochs: [Int] = []

    public init(path: String, monitor: String = "val_loss", mode: MonitorMode = .auto, saveBestOnly: Bool = false, every: Int = 1) {
        (self.path, self.monitor, self.saveBestOnly, self.every) = (path, monitor, saveBestOnly, Swift.max(1, every))
        self.mode = mode.resolved(monitor)
    }

    public func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        if saveBestOnly {
            guard let value = logs[monitor] else {
                throw TrainingError("ModelCheckpoint monitors '\(monitor)', which is not logged (have \(logs.keys.sorted()))")
            }
            if let best, mode == .minimize ? value >= best : value <= best { return false }
            best = value
        } else if (epoch + 1) % every != 0 {
            return false
        }
        let url = URL(fileURLWithPath: path.replacingOccurrences(of: "{epoch}", with: String(epoch + 1)))
        try trainer.model.save(to: url, metadata: ["epoch": String(epoch + 1)])
        savedEpochs.append(epoch + 1)
        return false
    }
}

/// Stops when `monitor` has not improved by more than `minDelta` for `patience` epochs. With
/// `restoreBestWeights`, training ends with the weights (and buffers) of the best epoch.
public final class EarlyStopping: Callback {
    public let monitor: String, patience: Int, minDelta: Double, restoreBestWeights: Bool
    let mode: MonitorMode
    public private(set) var best: Double?
    /// The epoch with the best value so far, numbered from 1 as the progress bar and logs print it.
    public private(set) var bestEpoch: Int?
    /// The epoch after which training stopped, numbered from 1 as the progress bar and logs print it.
    public private(set) var stoppedEpoch: Int?
    private var wait = 0
    private var bestWeights: [String: Tensor]?

    public init(monitor: String = "val_loss", patience: Int = 0, minDelta: Double = 0, mode: MonitorMode = .auto,
                restoreBestWeights: Bool = false) {
        (self.monitor, self.patience, self.minDelta, self.restoreBestWeights) = (monitor, patience, minDelta, restoreBestWeights)
        self.mode = mode.resolved(monitor)
    }

    public func trainBegin(_ trainer: Trainer) {
        (best, bestEpoch, stoppedEpoch, wait, bestWeights) = (nil, nil, nil, 0, nil)
    }

    public func trainEnd(_ trainer: Trainer) throws {
        if let bestWeights { try trainer.model.loadStateDict(bestWeights, source: "EarlyStopping's best weights") }
    }

    public func epochEnd(_ epoch: Int, logs: Logs, trainer: Trainer) throws -> Bool {
        guard let value = logs[monitor] else { throw TrainingError("EarlyStopping monitors '\(monitor)', which is not logged (have \(logs.keys.sorted()))") }
        let improved = best.map { mode == .minimize ? value < $0 - minDelta : value > $0 + minDelta } ?? true
        if improved {
            (best, bestEpoch, wait) = (value, epoch + 1, 0)
            if restoreBestWeights { bestWeights = withoutGrad { trainer.model.stateDict().mapValues { $0.copied() } } }
            return false
        }
        wait += 1
        if wait > patience {
            stoppedEpoch = epoch + 1
            return true
        }
        return false
    }
}

/// Sets the optimizer's learning rate at the start of each epoch from `schedule(epoch, current)`.
public final class LearningRateScheduler: Callback {
    let schedule: (Int, Double) -> Double
    public init(_ schedule: @escaping (Int, Double) -> Double) { self.schedule = schedule }
    public func epochBegin(_ epoch: Int, trainer: Trainer) {
        trainer.optimizer.learningRate = schedule(epoch, trainer.optimizer.learningRate)
    }
}

/// Stops training as soon as a batch loss is NaN or infinite.
public final class TerminateOnNaN: Callback {
    public private(set) var stoppedAtStep: Int?
    public init() {}
    public func batchEnd(_ step: Int, logs: Logs, trainer: Trainer) -> Bool {
        guard let loss = logs["loss"], !loss.isFinite else { return false }
        stoppedAtStep = step
        return true
    }
}

/// A problem while training (a monitored value that is not logged, a NaN loss, …).
public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
