import Apus
import ApusDistributed

/// All-reduce, broadcast, all-gather, split, the non-blocking all-reduce and metric averaging
/// against values computed by hand for any number of ranks N.
func checkCollectives(_ world: Communicator) throws {
    let (r, n) = (Double(world.rank), Double(world.size))
    try world.barrier()

    // Sum over ranks of [r + 1, 2(r + 1)] is N(N+1)/2 · [1, 2]; a copy made before keeps its values.
    var sum = Tensor(shape: [2], scalars: [Float(r + 1), Float(2 * (r + 1))])
    let before = sum
    try world.allReduce(&sum, op: .sum)
    try expectClose(sum.scalars(as: Double.self), [n * (n + 1) / 2, n * (n + 1)], "allReduce sum float32")
    try expectClose(before.scalars(as: Double.self), [r + 1, 2 * (r + 1)], "a copy taken before allReduce")

    // Mean of r in float64 is (N − 1)/2; a strided view (transposed) works too.
    var mean = Tensor(shape: [2, 3], scalars: (0..<6).map { Double($0) + r }, dtype: .float64).transposed()
    try world.allReduce(&mean, op: .mean)
    try expect(mean.dtype == .float64 && mean.shape == [3, 2], "allReduce mean kept shape and dtype: \(mean.spec)")
    try expectClose(mean.scalars(as: Double.self), [0, 3, 1, 4, 2, 5].map { $0 + (n - 1) / 2 }, tolerance: 1e-12, "allReduce mean float64 (transposed)")

    // Broadcast from the last rank.
    var value = Tensor(shape: [3], scalars: [Float(r * 10 + 1), Float(r), -1])
    try world.broadcast(&value, root: world.size - 1)
    try expectClose(value.scalars(as: Double.self), [(n - 1) * 10 + 1, n - 1, -1], "broadcast from rank N-1")

    // All-gather stacks along a new first axis, in rank order.
    let gathered = try world.allGather(Tensor(shape: [2], scalars: [Float(r), 7]))
    try expect(gathered.shape == [world.size, 2], "allGather shape \(gathered.shape)")
    try expectClose(gathered.scalars(as: Double.self), (0..<world.size).flatMap { [Double($0), 7] }, "allGather values")

    // Misuse throws on every rank, with a clear message.
    try expectThrows("broadcast: root \(world.size) is not a rank") { var t = Tensor([1.0]); try world.broadcast(&t, root: world.size) }
    try expectThrows("allReduce: needs a float32 or float64 tensor, got int64") { var t = Tensor([1, 2]); try world.allReduce(&t) }
    if world.size > 1 {
        try expectThrows("allGather: every rank must pass the same shape and dtype; got rank 0: [2] float32, rank 1: [3] float32") {
            _ = try world.allGather(Tensor.zeros([world.rank == 0 ? 2 : 3]))
        }
    }

    // Split: one group in reverse order, then one group per parity of the rank.
    let reversed = try world.split(color: 0, key: -world.rank)
    try expect(reversed.size == world.size && reversed.rank == world.size - 1 - world.rank,
               "split(color: 0, key: -rank): rank \(reversed.rank) of \(reversed.size)")
    var ranks = Tensor([Float(reversed.rank)])
    try reversed.allReduce(&ranks)
    try expectClose(ranks.scalars(as: Double.self), [n * (n - 1) / 2], "allReduce in a split communicator")
    let parity = try world.split(color: world.rank % 2, key: world.rank)
    let parityCount = (world.size - world.rank % 2 + 1) / 2
    try expect(parity.size == parityCount && parity.rank == world.rank / 2, "split by parity: rank \(parity.rank) of \(parity.size)")
    var ones = Tensor([Float(1)])
    try parity.allReduce(&ones)
    try expectClose(ones.scalars(as: Double.self), [Double(parityCount)], "allReduce in the parity group")

    // Non-blocking all-reduce writes the mean into the tensor's own storage.
    let bucket = Tensor(shape: [4], scalars: [Float(r), 1, 2, Float(2 * r)])
    let pending = try world.startAllReduce(bucket, op: .mean)
    try pending.wait()
    try expectClose(bucket.scalars(as: Double.self), [(n - 1) / 2, 1, 2, n - 1], "startAllReduce mean")

    // Metrics: weighted mean over ranks and plain sums.
    let averaged = try world.averaged(["loss": r, "one": 1], weight: r + 1)
    let weights = (0..<world.size).map { Double($0) + 1 }
    let expectedLoss = zip(0..<world.size, weights).map { Double($0) * $1 }.reduce(0, +) / weights.reduce(0, +)
    try expectClose([averaged["loss"]!, averaged["one"]!], [expectedLoss, 1], tolerance: 1e-12, "averaged")
    try expectClose(try world.allReduce([1, r], op: .sum), [n, n * (n - 1) / 2], tolerance: 1e-12, "allReduce of Doubles")
    try world.barrier()
}

/// Throws unless `body` throws a `DistributedError` whose message starts with `prefix`.
func expectThrows(_ prefix: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DistributedError {
        try expect(error.description.hasPrefix(prefix), "expected an error starting \"\(prefix)\", got \"\(error)\"")
        return
    }
    throw CheckFailure(description: "expected an error starting \"\(prefix)\", got none")
}
