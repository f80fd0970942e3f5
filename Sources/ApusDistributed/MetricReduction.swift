extension Communicator {
    /// The mean over ranks of each value of `logs`, each rank's weighted by `weight` (the number
    /// of examples its values cover): Σ weight·value / Σ weight. With each rank's mean loss and
    /// example count this is the loss over all ranks' examples, the same on every rank. Every rank
    /// must pass the same keys (checked: throws on every rank if not). Outside `mpirun`: `logs`.
    ///
    /// Metrics that keep sums (`Accuracy.accumulated` is `[correct, total]`) are exact summed
    /// with `allReduce(_:op: .sum)` instead.
    ///
    /// ```swift
    /// let logs = try world.averaged(["loss": epochLoss, "accuracy": accuracy], weight: Double(seen))
    /// ```
    public func averaged(_ logs: [String: Double], weight: Double) throws -> [String: Double] {
        guard handle != nil else { return logs }
        let keys = logs.keys.sorted()
        let fingerprints = try allGather([Communicator.fingerprint(keys.joined(separator: "\n"))])
        if let other = fingerprints.firstIndex(where: { $0 != fingerprints[0] }) {
            throw DistributedError("averaged: rank \(other) has other keys than rank 0 (here: \(keys.joined(separator: ", ")))")
        }
        let sums = try allReduce(keys.map { logs[$0]! * weight } + [weight], op: .sum)
        let total = sums[keys.count]
        guard total > 0 else { throw DistributedError("averaged: the weights sum to \(total) over all ranks; they must be positive") }
        var result: [String: Double] = [:]
        for (i, key) in keys.enumerated() { result[key] = sums[i] / total }
        return result
    }
}
