import Apus
import CApusMPI
import CMPI

/// How `allReduce` combines the ranks' values.
public enum ReduceOp: Sendable {
    /// The element-wise sum over ranks.
    case sum
    /// The element-wise sum divided by the number of ranks.
    case mean
}

extension Communicator {
    /// Combines `tensor` element-wise over every rank of the group, in place: afterwards each
    /// rank's `tensor` holds the sum (or mean) of all ranks' tensors. The tensor first becomes
    /// contiguous and the sole owner of its storage (copy-on-write), so no other tensor changes.
    ///
    /// Every rank passes a Float32 or Float64 tensor of the same shape and dtype (the shape is not
    /// checked: that would cost a round trip per call).
    ///
    /// ```swift
    /// var g = Tensor([Float(world.rank), 1])   // [0, 1] on rank 0, [1, 1] on rank 1
    /// try world.allReduce(&g, op: .mean)      // [0.5, 1] on both
    /// ```
    public func allReduce(_ tensor: inout Tensor, op: ReduceOp = .sum) throws {
        try requireFloat(tensor, "allReduce")
        guard let handle else { return }
        let dtype = tensor.dtype
        try withMPIElements(&tensor, "allReduce") { pointer, count, type in
            try DistributedError.check(MPI_Allreduce(apus_mpi_in_place(), pointer, count, type, apus_mpi_sum(), handle), "allReduce")
            if op == .mean { Communicator.divide(pointer, count: Int(count), dtype: dtype, by: size) }
        }
    }

    /// Copies `tensor` of rank `root` into `tensor` on every rank, in place (copy-on-write as in
    /// `allReduce`). Every rank passes a Float32 or Float64 tensor of the same shape and dtype.
    ///
    /// ```swift
    /// var w = Tensor([Float(world.rank)])
    /// try world.broadcast(&w, root: 0)   // [0] on every rank
    /// ```
    public func broadcast(_ tensor: inout Tensor, root: Int) throws {
        try requireFloat(tensor, "broadcast")
        guard (0..<size).contains(root) else {
            throw DistributedError("broadcast: root \(root) is not a rank of this communicator (size \(size))")
        }
        guard let handle else { return }
        try withMPIElements(&tensor, "broadcast") { pointer, count, type in
            try DistributedError.check(MPI_Bcast(pointer, count, type, Int32(root), handle), "broadcast")
        }
    }

    /// Every rank's `tensor`, stacked along a new first axis in rank order: shape
    /// `[size] + tensor.shape`, the same on every rank (`[1] + shape` outside `mpirun`).
    /// Every rank must pass the same shape and dtype (Float32 or Float64); this is checked first
    /// (one small extra exchange), and a mismatch throws on every rank, naming each rank's shape.
    ///
    /// ```swift
    /// let all = try world.allGather(Tensor([Float(world.rank), 7]))   // [[0, 7], [1, 7]] with 2 ranks
    /// ```
    public func allGather(_ tensor: Tensor) throws -> Tensor {
        try requireFloat(tensor, "allGather")
        guard let handle else { return tensor.contiguous().reshaped([1] + tensor.shape) }
        try requireSameSpec(tensor.spec, "allGather")
        var result = Tensor.zeros([size] + tensor.shape, dtype: tensor.dtype)
        let source = tensor.contiguous()
        try withMPIElements(&result, "allGather") { destination, _, type in
            let count = Int32(tensor.count)   // fits: the result's count did
            let sent = source.dtype == .float64
                ? source.withUnsafeBuffer(of: Double.self) { MPI_Allgather($0.baseAddress, count, type, destination, count, type, handle) }
                : source.withUnsafeBuffer(of: Float.self) { MPI_Allgather($0.baseAddress, count, type, destination, count, type, handle) }
            try DistributedError.check(sent, "allGather")
        }
        return result
    }

    /// The element-wise sum (or mean) over ranks of `values` (the same count on every rank): for
    /// metrics and counters.
    ///
    /// ```swift
    /// let totals = try world.allReduce([correct, seen], op: .sum)
    /// ```
    public func allReduce(_ values: [Double], op: ReduceOp = .sum) throws -> [Double] {
        guard let handle, !values.isEmpty else { return values }
        guard let count = Int32(exactly: values.count) else { throw DistributedError("allReduce: \(values.count) values are more than MPI can send at once") }
        var result = values
        try result.withUnsafeMutableBufferPointer { buffer in
            try DistributedError.check(MPI_Allreduce(apus_mpi_in_place(), buffer.baseAddress, count, apus_mpi_double(), apus_mpi_sum(), handle), "allReduce")
        }
        return op == .mean ? result.map { $0 / Double(size) } : result
    }

    /// Every rank's `values` (the same count on every rank), in rank order.
    func allGather(_ values: [Int64]) throws -> [[Int64]] {
        guard let handle else { return [values] }
        var result = [Int64](repeating: 0, count: values.count * size)
        let count = Int32(values.count)
        try values.withUnsafeBufferPointer { source in
            try result.withUnsafeMutableBufferPointer { destination in
                try DistributedError.check(MPI_Allgather(source.baseAddress, count, apus_mpi_int64(), destination.baseAddress, count,
                                                         apus_mpi_int64(), handle), "allGather")
            }
        }
        return (0..<size).map { Array(result[($0 * values.count)..<(($0 + 1) * values.count)]) }
    }

    /// Throws on every rank unless every rank passed the same shape and dtype.
    func requireSameSpec(_ spec: TensorSpec, _ operation: String) throws {
        let ranks = try allGather([Int64(spec.shape.count)])
        let longest = ranks.map { Int($0[0]) }.max() ?? 0
        let code = Int64(DType.allCases.firstIndex(of: spec.dtype)!)
        let mine = [code] + spec.shape.map(Int64.init) + Array(repeating: -1, count: longest - spec.shape.count)
        let all = try allGather(mine)
        guard all.allSatisfy({ $0 == all[0] }) else {
            let described = all.enumerated().map { rank, row in
                "rank \(rank): \(Array(row.dropFirst().prefix(Int(ranks[rank][0])))) \(DType.allCases[Int(row[0])])"
            }
            throw DistributedError("\(operation): every rank must pass the same shape and dtype; got \(described.joined(separator: ", "))")
        }
    }

    /// Throws unless `tensor` holds Float32 or Float64 data.
    func requireFloat(_ tensor: Tensor, _ operation: String) throws {
        guard tensor.dtype == .float32 || tensor.dtype == .float64 else {
            throw DistributedError("\(operation): needs a float32 or float64 tensor, got \(tensor.dtype)")
        }
        guard !tensor.isSymbolic else { throw DistributedError("\(operation): cannot communicate a symbolic tensor (while tracing)") }
    }

    /// Runs `body` on `tensor`'s elements for writing (contiguous and unshared first), with the
    /// count and datatype MPI needs.
    func withMPIElements(_ tensor: inout Tensor, _ operation: String,
                         _ body: (UnsafeMutableRawPointer, Int32, MPI_Datatype) throws -> Void) throws {
        guard let count = Int32(exactly: tensor.count) else {
            throw DistributedError("\(operation): \(tensor.count) elements are more than MPI can send at once (\(Int32.max))")
        }
        if tensor.dtype == .float64 {
            try tensor.withUnsafeMutableBuffer(of: Double.self) { try body(UnsafeMutableRawPointer($0.baseAddress!), count, apus_mpi_double()) }
        } else {
            try tensor.withUnsafeMutableBuffer(of: Float.self) { try body(UnsafeMutableRawPointer($0.baseAddress!), count, apus_mpi_float()) }
        }
    }

    /// Divides `count` elements of `dtype` at `pointer` by `size` (a mean from a sum).
    static func divide(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType, by size: Int) {
        if dtype == .float64 {
            let values = pointer.assumingMemoryBound(to: Double.self), divisor = Double(size)
            for i in 0..<count { values[i] /= divisor }
        } else {
            let values = pointer.assumingMemoryBound(to: Float.self), divisor = Float(size)
            for i in 0..<count { values[i] /= divisor }
        }
    }
}

extension Tensor {
    /// The first element of a contiguous Float32 or Float64 tensor, for writing in place.
    var floatElements: UnsafeMutableRawPointer {
        dtype == .float64 ? UnsafeMutableRawPointer(unsafeMutableElements(of: Double.self))
                          : UnsafeMutableRawPointer(unsafeMutableElements(of: Float.self))
    }

    /// MPI's datatype for a Float32 or Float64 tensor's elements.
    var mpiType: MPI_Datatype { dtype == .float64 ? apus_mpi_double() : apus_mpi_float() }
}
