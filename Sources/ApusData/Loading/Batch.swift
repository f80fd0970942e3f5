import Apus

/// One batch of a `DataLoader` met in a `for` loop: its tensors by key, read as `try batch.image`
/// or `try batch["image"]` (a missing key throws, naming the keys there are). A batch that
/// could not be loaded (a bad file) throws that loading error from every accessor, and the
/// loop ends after it.
///
/// ```swift
/// for batch in loader {
///     let logits = model(try batch.image)      // [B, classes]
///     let loss = crossEntropy(logits: logits, labels: try batch.label)
/// }
/// ```
@dynamicMemberLookup
public struct Batch: @unchecked Sendable {
    let content: Result<Example, Error>

    /// A batch of these tensors (each with the batch dimension first).
    public init(_ tensors: Example) { content = .success(tensors) }

    /// A batch that failed to load with `error`.
    init(failure error: Error) { content = .failure(error) }

    /// All tensors by key; throws the loading error.
    public var tensors: Example { get throws { try content.get() } }

    /// The keys of the batch (none for a batch that failed to load).
    public var keys: [String] { ((try? content.get()) ?? [:]).keys.sorted() }

    /// The tensor under `key`; throws when there is none (or the loading error).
    public subscript(key: String) -> Tensor {
        get throws {
            let tensors = try content.get()
            guard let tensor = tensors[key] else { throw DataError("<batch>", "no '\(key)' (the batch has \(tensors.keys.sorted()))") }
            return tensor
        }
    }

    /// `batch.image` is `batch["image"]`.
    public subscript(dynamicMember key: String) -> Tensor {
        get throws { try self[key] }
    }

    /// Examples in the batch (the first dimension of its tensors; 0 for a failed batch).
    public var count: Int { ((try? content.get())?.values.first?.shape.first) ?? 0 }
}

/// Iterates the batches of one epoch for `for … in`: a loading error becomes a failed `Batch`
/// (whose accessors throw it) and ends the iteration.
public struct BatchIterator: IteratorProtocol {
    let epoch: DataLoader.Epoch
    var failed = false

    public mutating func next() -> Batch? {
        guard !failed else { return nil }
        do {
            return try epoch.next().map(Batch.init)
        } catch {
            failed = true
            return Batch(failure: error)
        }
    }
}

extension DataLoader.Epoch: Sequence {
    /// The epoch's remaining batches, for `for batch in loader.epoch(n)`.
    public func makeIterator() -> BatchIterator { BatchIterator(epoch: self) }
}

extension DataLoader: Sequence {
    /// A new epoch's batches, as PyTorch's `for batch in loader`: each loop over the loader is the
    /// next epoch (0, 1, 2, …: shuffled anew from the seed and the epoch number).
    public func makeIterator() -> BatchIterator { BatchIterator(epoch: epoch(nextEpoch())) }
}
