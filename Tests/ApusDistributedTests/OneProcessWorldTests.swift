import Apus
@testable import ApusDistributed
import ApusNN
import ApusTestSupport
import Testing

/// A process started without mpirun is a world of one: collectives leave values as they are,
/// and misuse still throws as it would under mpirun.
@Suite struct OneProcessWorldTests {
    @Test func worldIsRankZeroOfOne() throws {
        #expect(!Communicator.isLaunchedByMPI)
        let world = try Communicator.world()
        #expect(world.rank == 0 && world.size == 1 && !world.usesMPI)
        #expect(try Communicator.world() === world)
        try world.barrier()
        let split = try world.split(color: 3, key: -1)
        #expect(split.rank == 0 && split.size == 1)
        #expect(throws: DistributedError.self) { _ = try world.split(color: -1, key: 0) }
    }

    @Test func collectivesLeaveValuesUnchanged() throws {
        let world = try Communicator.world()
        var sum = Tensor([1.0, -2.0, 3.0])
        try world.allReduce(&sum, op: .sum)
        expectClose(sum, [1, -2, 3])
        var mean = Tensor(shape: [2, 2], scalars: [1.0, 2, 3, 4], dtype: .float64).transposed()
        try world.allReduce(&mean, op: .mean)
        #expect(mean.dtype == .float64)
        expectClose(mean, [1, 3, 2, 4])
        var value = Tensor([5.0])
        try world.broadcast(&value, root: 0)
        expectClose(value, [5])
        let gathered = try world.allGather(Tensor(shape: [2, 3], scalars: (0..<6).map(Float.init)))
        #expect(gathered.shape == [1, 2, 3])
        expectClose(gathered, [0, 1, 2, 3, 4, 5])
        let bucket = Tensor([2.0, 4.0])
        let pending = try world.startAllReduce(bucket, op: .mean)
        #expect(try pending.isComplete())
        try pending.wait()
        expectClose(pending.tensor, [2, 4])
        #expect(try world.allReduce([1.5, 2], op: .mean) == [1.5, 2])
        #expect(try world.averaged(["loss": 0.25], weight: 8) == ["loss": 0.25])
    }

    @Test func misuseThrowsClearErrors() throws {
        let world = try Communicator.world()
        var ints = Tensor([1, 2, 3])
        #expect(throws: DistributedError("allReduce: needs a float32 or float64 tensor, got int64")) { try world.allReduce(&ints) }
        var value = Tensor([1.0])
        #expect(throws: DistributedError("broadcast: root 1 is not a rank of this communicator (size 1)")) { try world.broadcast(&value, root: 1) }
        #expect(throws: DistributedError("startAllReduce: the tensor must be contiguous (call .contiguous() first)")) {
            _ = try world.startAllReduce(Tensor.zeros([2, 3]).transposed())
        }
        #expect(throws: DistributedError("broadcastParameters: root 2 is not a rank of this communicator (size 1)")) {
            try world.broadcastParameters(of: Linear(2, 2), from: 2)
        }
        #expect(throws: DistributedError.self) { _ = try DataParallel(Linear(2, 2), communicator: world, bucketCapacity: 0) }
    }

    @Test func errorsFromMPINameTheOperationAndCode() {
        // Without mpirun MPI never starts, and Open MPI must not be asked for its error string.
        let error = DistributedError.fromMPI(15, "allReduce")
        #expect(error.mpiCode == 15)
        #expect(error.description == "allReduce: MPI error 15 (MPI is not running)")
    }
}
