import Apus
import ApusNN
import CApusMPI
import CMPI

extension Communicator {
    /// Copies every parameter and buffer of `module` from rank `root` to every rank, so all ranks
    /// start from the same weights (the start of data-parallel training). Contiguous values are
    /// overwritten in place (a `Parameter` and everything holding it — an optimizer — keeps
    /// working); others are replaced.
    ///
    /// First checks that every rank's module has the same parameter and buffer names, shapes and
    /// dtypes, and throws on every rank if not.
    ///
    /// ```swift
    /// let model = MLP()                        // random weights, different on each rank
    /// try world.broadcastParameters(of: model, from: 0)   // now rank 0's everywhere
    /// ```
    public func broadcastParameters(of module: Module, from root: Int = 0) throws {
        guard (0..<size).contains(root) else {
            throw DistributedError("broadcastParameters: root \(root) is not a rank of this communicator (size \(size))")
        }
        let parameters = module.namedParameters(), buffers = module.namedBuffers()
        let layout = (parameters.map { ($0.0, $0.1.value) } + buffers.map { ($0.0, $0.1.value) })
            .map { name, value in "\(name) \(value.shape) \(value.dtype)" }.joined(separator: "\n")
        let fingerprints = try allGather([Communicator.fingerprint(layout)])
        if let other = fingerprints.firstIndex(where: { $0 != fingerprints[root] }) {
            throw DistributedError("broadcastParameters: the model on rank \(other) has other parameter or buffer names, shapes or dtypes than on rank \(root)")
        }
        for (_, parameter) in parameters where parameter.value.dtype.isFloatingPoint {
            if let replaced = try broadcastValue(parameter.value, root: root) { parameter.wrappedValue = replaced }
        }
        for (_, buffer) in buffers where buffer.value.dtype.isFloatingPoint {
            if let replaced = try broadcastValue(buffer.value, root: root) { buffer.value = replaced }
        }
    }

    /// Broadcasts `value` into its own storage when it is contiguous (nil returned), else
    /// returns a broadcast copy.
    private func broadcastValue(_ value: Tensor, root: Int) throws -> Tensor? {
        guard let handle else { return nil }
        guard value.isContiguous, let count = Int32(exactly: value.count) else {
            var copy = value.detached()
            try broadcast(&copy, root: root)
            return copy
        }
        try DistributedError.check(MPI_Bcast(value.floatElements, count, value.mpiType, Int32(root), handle), "broadcastParameters")
        return nil
    }

    /// A 64-bit FNV-1a hash of `text`: the same in every process (Swift's `Hasher` is seeded per process).
    static func fingerprint(_ text: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return Int64(bitPattern: hash)
    }
}
