import Apus
import ApusNN
import Foundation

extension Optimizer {
    /// Saves the optimizer state (tensors and scalars) to a safetensors file, scalars in its metadata.
    public func save(to url: URL) throws {
        let s = state()
        let metadata = s.scalars.mapValues { String($0) }
        try SafeTensors.write(s.tensors, metadata: metadata, to: url)
    }

    /// Restores state saved by `save(to:)`; throws a clear error if it does not fit.
    public func load(from url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError("\(url.path): cannot read the file (missing or unreadable)")
        }
        try load(from: data, source: url.path)
    }

    /// Restores state from the bytes of a file saved by `save(to:)` (`source` names it in errors).
    public func load(from data: Data, source: String = "optimizer state data") throws {
        let (tensors, metadata) = try SafeTensors.decode(data, source: source)
        var scalars: [String: Double] = [:]
        for (key, text) in metadata {
            guard let value = Double(text) else { throw CheckpointError("\(source): metadata '\(key)' = '\(text)' is not a number") }
            scalars[key] = value
        }
        do {
            try load(OptimizerState(tensors: tensors, scalars: scalars))
        } catch let error as OptimizerStateError {
            throw CheckpointError("\(source): \(error.description)")
        }
    }
}
