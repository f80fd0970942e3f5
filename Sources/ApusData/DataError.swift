/// A problem with input data: the file (or folder) and what is wrong with it.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String
    public init(_ file: String, _ reason: String) {
        self.file = file
        self.reason = reason
    }
    public var description: String { "\(file): \(reason)" }
}
