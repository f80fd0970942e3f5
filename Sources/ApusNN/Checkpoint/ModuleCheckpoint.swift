import Apus
import Foundation

extension Module {
    /// Parameters and buffers by path, as saved in a checkpoint.
    public func stateDict() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for (name, parameter) in namedParameters() { state[name] = parameter.value.detached() }
        for (name, buffer) in namedBuffers() { state[name] = buffer.value }
        return state
    }

    /// Loads parameters and buffers from `state`. Every problem (a missing name, an unexpected
    /// one with `strict`, a shape or dtype that differs) is reported together in one error and
    /// nothing is changed.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true, source: String = "state") throws {
        let parameters = Dictionary(uniqueKeysWithValues: namedParameters())
        let buffers = Dictionary(uniqueKeysWithValues: namedBuffers())
        var problems: [String] = []
        for name in Set(parameters.keys).union(buffers.keys).sorted() {
            let current = parameters[name]?.value ?? buffers[name]!.value
            guard let saved = state[name] else {
                problems.append("missing '\(name)' (\(current.shape) \(current.dtype))")
                continue
            }
            if saved.shape != current.shape || saved.dtype != current.dtype {
                problems.append("'\(name)' is \(saved.shape) \(saved.dtype) in the file but \(current.shape) \(current.dtype) in the model")
            }
        }
        if strict {
            for name in Set(state.keys).subtracting(parameters.keys).subtracting(buffers.keys).sorted() {
                problems.append("unexpected '\(name)'")
            }
        }
        guard problems.isEmpty else {
            throw CheckpointError("\(source) does not fit the model: " + problems.joined(separator: "; "))
        }
        for (name, parameter) in parameters { parameter.wrappedValue = state[name]!.copied() }
        for (name, buffer) in buffers { buffer.wrappedValue = state[name]!.copied() }
    }

    /// Saves parameters and buffers to a safetensors file (atomically).
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(stateDict(), metadata: metadata, to: url)
    }

    /// Loads parameters and buffers from a safetensors file; returns its metadata.
    @discardableResult
    public func load(from url: URL, strict: Bool = true) throws -> [String: String] {
        let (tensors, metadata) = try SafeTensors.read(from: url)
        try loadStateDict(tensors, strict: strict, source: url.path)
        return metadata
    }
}
