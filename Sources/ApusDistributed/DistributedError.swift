import CApusMPI
import CMPI

/// A failed distributed operation: an MPI call that returned an error (with MPI's own message),
/// or a misuse found before calling MPI (a root rank out of range, tensors that differ between
/// ranks, an integer tensor given to a float collective).
///
/// ```swift
/// do { try world.broadcast(&t, root: 5) }
/// catch let error as DistributedError { print(error) }   // "broadcast: root 5 is not a rank of this communicator (size 2)"
/// ```
public struct DistributedError: Error, CustomStringConvertible, Equatable {
    /// What failed and why, in one line.
    public let description: String
    /// MPI's error code, when the error came from MPI.
    public let mpiCode: Int32?

    public init(_ description: String, mpiCode: Int32? = nil) {
        self.description = description
        self.mpiCode = mpiCode
    }

    /// Throws unless `code` is `MPI_SUCCESS`, naming `operation` and quoting MPI's error string.
    static func check(_ code: Int32, _ operation: String) throws {
        if code != MPI_SUCCESS { throw fromMPI(code, operation) }
    }

    /// The error for MPI's `code` in `operation`: "allReduce: MPI error 15: MPI_ERR_TRUNCATE: …".
    /// (Open MPI aborts a process that asks for an error string while MPI is not running, so
    /// then the code alone is given.)
    static func fromMPI(_ code: Int32, _ operation: String) -> DistributedError {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        guard initialized != 0, !MPIRuntime.isFinished else {
            return DistributedError("\(operation): MPI error \(code) (MPI is not running)", mpiCode: code)
        }
        var buffer = [CChar](repeating: 0, count: Int(apus_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        let text = MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS
            ? String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown MPI error"
        return DistributedError("\(operation): MPI error \(code): \(text)", mpiCode: code)
    }
}
