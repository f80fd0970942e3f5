import Apus

/// One training example: named tensors (e.g. "image" [3, 64, 64], "question" [12], "answer" []).
public typealias Example = [String: Tensor]

/// A data set with random access: `count` examples, each loaded on demand.
public protocol Dataset: Sendable {
    var count: Int { get }
    /// Example `index` (0 ≤ index < count); throws a `DataError` naming the file on bad data.
    func example(_ index: Int) throws -> Example
}

/// A data set whose examples differ from epoch to epoch (random augmentation): a `DataLoader`
/// asks it for example `index` *of epoch `epoch`*, so a run — and a resumed run — draws the
/// same augmentations whatever the order in which worker threads load.
public protocol EpochDependentDataset: Dataset {
    func example(_ index: Int, epoch: Int) throws -> Example
}

extension Dataset {
    /// Example `index` as it is in `epoch` (the same in every epoch unless the data set is an
    /// `EpochDependentDataset`).
    public func example(_ index: Int, inEpoch epoch: Int) throws -> Example {
        if let varying = self as? any EpochDependentDataset { return try varying.example(index, epoch: epoch) }
        return try example(index)
    }
}

/// Each example of `base` with `transform` applied to its image (key `key`, Float32 [C, H, W]):
/// random transforms draw from a generator seeded by `seed`, the epoch and the index.
///
/// ```swift
/// let train = TransformedDataset(cifar, transform: Compose([RandomCrop(height: 32, width: 32, padding: 4), RandomHorizontalFlip()]))
/// ```
public struct TransformedDataset: EpochDependentDataset, @unchecked Sendable {
    public let base: any Dataset
    public let transform: any ImageTransform
    public let key: String
    public let seed: UInt64

    public init(_ base: any Dataset, transform: any ImageTransform, key: String = "image", seed: UInt64 = 0) {
        (self.base, self.transform, self.key, self.seed) = (base, transform, key, seed)
    }

    public var count: Int { base.count }
    public func example(_ index: Int) throws -> Example { try example(index, epoch: 0) }

    public func example(_ index: Int, epoch: Int) throws -> Example {
        var example = try base.example(index, inEpoch: epoch)
        guard let image = example[key] else { throw DataError("<example \(index)>", "no '\(key)' to transform (it has \(example.keys.sorted()))") }
        guard image.rank == 3, image.dtype == .float32 else {
            throw DataError("<example \(index)>", "'\(key)' is \(image.shape) \(image.dtype), not a Float32 [C, H, W] image")
        }
        let generator = RandomGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xBF58_476D_1CE4_E5B9)
        do {
            example[key] = try Tensor.checking { transform(image, generator: generator) }
        } catch {
            throw DataError("<example \(index)>", "the image transform does not fit '\(key)': \(error)")
        }
        return example
    }
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
public struct Subset: EpochDependentDataset {
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
    public func example(_ index: Int, epoch: Int) throws -> Example { try base.example(indices[index], inEpoch: epoch) }

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
