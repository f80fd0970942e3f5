/// Why reading a Caffe network, solver or `.caffemodel` failed: one clear message.
public struct CaffeError: Error, CustomStringConvertible, Equatable {
    /// What went wrong.
    public enum Kind: String, Sendable {
        /// Layers (or solver settings) Apus has no mapping for; the message names every one.
        case unsupported
        /// Not a valid prototxt / caffemodel, or a network that does not wire up (an unknown bottom, a bad shape).
        case malformed
        /// Reading a file failed.
        case io
    }
    /// The category of the failure.
    public let kind: Kind
    /// The full, one-line explanation.
    public let message: String
    /// A failure of `kind` explained by `message`.
    public init(_ kind: Kind, _ message: String) { (self.kind, self.message) = (kind, message) }
    public var description: String { message }
}
