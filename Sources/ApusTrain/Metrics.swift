import Apus

/// A quantity accumulated over the batches of an epoch (Keras' metrics).
public protocol Metric: AnyObject {
    var name: String { get }
    func reset()
    /// Adds one batch: `prediction` (logits or values) and `target`.
    func update(prediction: Tensor, target: Tensor)
    var value: Double { get }
    /// What the metric has accumulated since `reset`, as numbers: saved with a mid-epoch
    /// checkpoint and set back on resume, so the epoch's value is as if never interrupted.
    /// (The default keeps nothing: a resumed epoch's value then covers the batches after it.)
    var accumulated: [Double] { get set }
}

extension Metric {
    public var accumulated: [Double] {
        get { [] }
        set {}
    }
}

/// Fraction of correct predictions: argmax of logits [B, C] against class ids [B] (or, for a
/// prediction shaped like its target, binary logits thresholded at 0 against targets at 0.5).
public final class Accuracy: Metric {
    public let name: String
    private var correct = 0.0, total = 0.0
    public init(name: String = "accuracy") { self.name = name }
    public func reset() { (correct, total) = (0, 0) }
    public func update(prediction: Tensor, target: Tensor) {
        let hits: Tensor
        if prediction.shape == target.shape {
            hits = (prediction .> 0).equal(target.cast(to: prediction.dtype) .> 0.5)
        } else {
            hits = prediction.argmax(axis: -1).equal(target.cast(to: .int64))
        }
        correct += hits.cast(to: .float64).sum().item()
        total += Double(hits.count)
    }
    public var value: Double { total > 0 ? correct / total : 0 }
    public var accumulated: [Double] {
        get { [correct, total] }
        set { if newValue.count == 2 { (correct, total) = (newValue[0], newValue[1]) } }
    }
}

/// Fraction of examples whose class is among the `k` largest logits.
public final class TopKAccuracy: Metric {
    public let k: Int
    public var name: String { "top\(k)_accuracy" }
    private var correct = 0.0, total = 0.0
    public init(k: Int) { self.k = k }
    public func reset() { (correct, total) = (0, 0) }
    public func update(prediction: Tensor, target: Tensor) {
        let labels = target.cast(to: .int64).unsqueezed(axis: 1)
        let own = prediction.gathered(axis: 1, index: labels)                       // logit of the true class
        let larger = (prediction .> own).cast(to: .float64).sum(axis: 1)            // classes ranked above it
        correct += (larger .< Double(k)).cast(to: .float64).sum().item()
        total += Double(target.count)
    }
    public var value: Double { total > 0 ? correct / total : 0 }
    public var accumulated: [Double] {
        get { [correct, total] }
        set { if newValue.count == 2 { (correct, total) = (newValue[0], newValue[1]) } }
    }
}

/// Mean |prediction − target|.
public final class MeanAbsoluteError: Metric {
    public var name: String { "mae" }
    private var sum = 0.0, total = 0.0
    public init() {}
    public func reset() { (sum, total) = (0, 0) }
    public func update(prediction: Tensor, target: Tensor) {
        sum += (prediction - target.cast(to: prediction.dtype)).abs().cast(to: .float64).sum().item()
        total += Double(prediction.count)
    }
    public var value: Double { total > 0 ? sum / total : 0 }
    public var accumulated: [Double] {
        get { [sum, total] }
        set { if newValue.count == 2 { (sum, total) = (newValue[0], newValue[1]) } }
    }
}

/// Counts of (true class, predicted class); `value` is the accuracy it implies.
public final class ConfusionMatrix: Metric {
    public let classes: Int
    public var name: String { "confusion_accuracy" }
    /// counts[true][predicted].
    public private(set) var counts: [[Int]]
    public init(classes: Int) {
        self.classes = classes
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }
    public func reset() { counts = Array(repeating: Array(repeating: 0, count: classes), count: classes) }
    public func update(prediction: Tensor, target: Tensor) {
        let predicted = prediction.argmax(axis: -1).scalars(as: Int.self), truth = target.cast(to: .int64).scalars(as: Int.self)
        for (t, p) in zip(truth, predicted) where (0..<classes).contains(t) && (0..<classes).contains(p) { counts[t][p] += 1 }
    }
    public var accumulated: [Double] {
        get { counts.joined().map(Double.init) }
        set {
            guard newValue.count == classes * classes else { return }
            counts = (0..<classes).map { t in (0..<classes).map { Int(newValue[t * classes + $0]) } }
        }
    }
    public var value: Double {
        let total = counts.joined().reduce(0, +)
        return total > 0 ? Double((0..<classes).map { counts[$0][$0] }.reduce(0, +)) / Double(total) : 0
    }
}
