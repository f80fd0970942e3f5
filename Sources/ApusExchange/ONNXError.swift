import Apus

/// Why an ONNX export or import failed: one clear message, never a crash.
///
/// ```swift
/// do { _ = try ONNXModel(contentsOf: url) }
/// catch let error as ONNXError { print(error) }   // "ONNX import: unsupported nodes: …"
/// ```
public struct ONNXError: Error, CustomStringConvertible, Equatable {
    /// What went wrong, in categories a caller may branch on.
    public enum Kind: String, Sendable {
        /// Ops (export) or nodes (import) with no mapping; the message names every one.
        case unsupported
        /// The file is not a well-formed ONNX model (bad protobuf, dangling names, wrong attributes or shapes).
        case malformed
        /// The traced graph changes with the batch size in a way ONNX's dynamic batch cannot express.
        case batchDependent
        /// The model could not be traced or run (a shape error, wrong inputs).
        case invalidInput
        /// Reading or writing the file failed.
        case io
    }

    /// The category of the failure.
    public let kind: Kind
    /// The full, one-line explanation.
    public let message: String

    /// A failure of `kind` explained by `message`.
    public init(_ kind: Kind, _ message: String) {
        (self.kind, self.message) = (kind, message)
    }

    public var description: String { message }
}
