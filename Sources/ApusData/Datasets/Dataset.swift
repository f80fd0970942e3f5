import Apus

/// One training example: named tensors (e.g. "image" [3, 64, 64], "question" [12], "answer" []).
public typealias Example = [String: Tensor]

/// A data set with random access: `count` examples, each loaded on demand.
public protocol Dataset: Sendable {
    var count: Int { get }
    /// Example `index` (0 ≤ index < count); throws a `DataError` naming the file on bad data.
    func example(_ index: Int) throws -> Example
}

/// A data set read as a stream, in order (for sources without random access).
public protocol IterableDataset: Sendable {
    func makeIterator() -> AnyIterator<Result<Example, Error>>
}

/// Stacks examples with the same keys and shapes into one batch: each key gets a new leading
/// batch dimension ([3, 64, 64] → [B, 3, 64, 64]; scalars → [B]).
public func collate(_ examples: [Example]) throws -> Example {
    guard let first = examples.first else { return [:] }
    var batch: Example = [:]
    for key in first.keys {
        let tensors = try examples.map { example -> Tensor in
            guard let t = example[key] else { throw DataError("<batch>", "an example lacks '\(key)'") }
            guard t.shape == first[key]!.shape, t.dtype == first[key]!.dtype else {
                throw DataError("<batch>", "'\(key)' has shape \(t.shape) \(t.dtype) in one example and \(first[key]!.shape) \(first[key]!.dtype) in another")
            }
            return t
        }
        batch[key] = Tensor.stack(tensors, axis: 0)
    }
    return batch
}

/// The examples `indices` of another data set, in that order (a validation split, say).
public struct Subset: Dataset {
    public let base: any Dataset
    public let indices: [Int]

    /// The examples of `base` at `indices` (each in 0..<base.count).
    public init<S: Sequence>(_ base: any Dataset, indices: S) where S.Element == Int {
        self.base = base
        self.indices = Array(indices)
        precondition(self.indices.allSatisfy { (0..<base.count).contains($0) }, "Subset: indices must lie in 0..<\(base.count)")
    }

    public var count: Int { indices.count }
    public func example(_ index: Int) throws -> Example { try base.example(indices[index]) }

    /// `dataset` cut in two, Keras' `validation_split`: the first examples for training and the
    /// last `fraction` (rounded down, at least one when `fraction` > 0) for validation.
    public static func split(_ dataset: any Dataset, validationFraction fraction: Double) -> (train: Subset, validation: Subset) {
        let held = fraction > 0 ? Swift.max(1, Int(Double(dataset.count) * fraction)) : 0
        let cut = Swift.max(0, dataset.count - held)
        return (Subset(dataset, indices: 0..<cut), Subset(dataset, indices: cut..<dataset.count))
    }
}

/// A data set built from in-memory tensors: example i holds row i of each tensor.
public struct TensorDataset: Dataset {
    public let tensors: [String: Tensor]
    public let count: Int

    public init(_ tensors: [String: Tensor]) {
        let counts = Set(tensors.values.map { $0.shape.first ?? 0 })
        precondition(counts.count == 1, "TensorDataset: tensors must share their first dimension, got \(tensors.mapValues(\.shape))")
        self.tensors = tensors
        count = counts.first!
    }

    public func example(_ index: Int) throws -> Example { tensors.mapValues { $0[index] } }
}
