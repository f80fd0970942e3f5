/// One operation, defined once: its shape rule, its kernel(s) and its gradient.
///
/// Every built-in op (add, matmul, conv2d, …) and every user-registered primitive conforms;
/// `Tensor.apply(_:_:)` is the single dispatch point that runs (eager) or records (tracing) it.
///
/// ```swift
/// struct Square: Operation {
///     var name: String { "square" }
///     func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { [inputs[0]] }
///     func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] { [inputs[0] * inputs[0]] }
///     func vjp(_ c: VJPContext) -> [Tensor?] { [c.cotangents[0] * c.inputs[0] * 2] }
/// }
/// let y = Tensor.apply(Square(), [x])[0]
/// ```
public protocol Operation {
    /// The op's name in errors, graphs and profiles.
    var name: String { get }
    /// Shape rule: output shapes and dtypes from input shapes and dtypes. Throws `ShapeError`
    /// naming the op, the shapes and what was expected when the inputs do not fit.
    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec]
    /// CPU kernel: computes the outputs (whose specs the shape rule gave) from concrete inputs.
    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor]
    /// Vector-Jacobian product written with Apus ops: gradients for each input (nil where an
    /// input needs none) from the cotangents of the outputs.
    func vjp(_ context: VJPContext) -> [Tensor?]
    /// False for ops whose outputs carry no gradient (comparisons, argmax, one-hot, …).
    var isDifferentiable: Bool { get }
    /// How many outputs the op returns (1 unless it says otherwise).
    var outputCount: Int { get }
    /// Whether running the op matters beyond its outputs (an in-place optimizer update): graph
    /// passes never remove, merge or fold it.
    var hasSideEffects: Bool { get }
    /// Whether outputs may share storage with input 0 (views: reshape, permute, slice, …). The
    /// graph memory planner keeps such an input's buffer alive as long as its views.
    var returnsView: Bool { get }
    /// Inputs whose buffer the output may overwrite while the op runs: the op reads element i
    /// of that input only to write element i of its output (elementwise ops, when the input
    /// already has the output's shape). The memory planner lets the output reuse such an
    /// input's slot when the input dies at this op.
    func inPlaceInputs(_ inputs: [TensorSpec], _ outputs: [TensorSpec]) -> [Int]
    /// Which input and output values `vjp` reads, given which inputs need a gradient (every
    /// input's and output's shape and dtype stay readable regardless). Eager autograd keeps only
    /// these alive until the backward pass, as PyTorch's saved tensors: an op that declares less
    /// than all lets the memory of the rest go as soon as nothing else holds it.
    func savedForBackward(_ needsGradient: [Bool]) -> SavedValues
}

/// The values an op's `vjp` reads (`Operation.savedForBackward`): input and output indices.
public struct SavedValues: Sendable, Equatable {
    /// Indices of the inputs whose values the vjp reads; nil: all of them.
    public let inputs: [Int]?
    /// Indices of the outputs whose values the vjp reads; nil: all of them.
    public let outputs: [Int]?

    /// The values of `inputs` and `outputs`.
    public init(inputs: [Int]? = [], outputs: [Int]? = []) { (self.inputs, self.outputs) = (inputs, outputs) }
    /// Every input and output (the default).
    public static let all = SavedValues(inputs: nil, outputs: nil)
    /// No values: the vjp needs only shapes and dtypes (add, reshape, copy, …).
    public static let none = SavedValues()
}

extension Operation {
    public var isDifferentiable: Bool { true }
    public var outputCount: Int { 1 }
    public var hasSideEffects: Bool { false }
    public var returnsView: Bool { false }
    public func inPlaceInputs(_ inputs: [TensorSpec], _ outputs: [TensorSpec]) -> [Int] { [] }
    public func savedForBackward(_ needsGradient: [Bool]) -> SavedValues { .all }
    public func vjp(_ context: VJPContext) -> [Tensor?] {
        fatalError("\(name) has no gradient (vjp); higher-order differentiation through it is not supported")
    }
}

/// What a vjp sees: the op's inputs and outputs and the cotangents of its outputs.
public struct VJPContext {
    /// The op's inputs, as it was applied to them.
    public let inputs: [Tensor]
    /// The op's outputs.
    public let outputs: [Tensor]
    /// The cotangent of each output, shaped as that output (a broadcast zero for an output that got none).
    public let cotangents: [Tensor]
    let needed: [Bool]
    let received: [Bool]
    /// Whether input `i` needs a gradient (skip expensive work otherwise).
    public func needsGradient(_ i: Int) -> Bool { needed[i] }
    /// Whether output `i` got a cotangent (else its cotangent is a broadcast zero: no output
    /// that depends on it was differentiated).
    public func receivedCotangent(_ i: Int) -> Bool { received[i] }
}

/// A shape rule's rejection: the op, the input shapes, what it expected.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    /// The name of the op that rejected its inputs.
    public let op: String
    /// The shapes of the op's inputs, in order.
    public let shapes: [[Int]]
    /// What the op expected of them, in words.
    public let expected: String
    /// Where the op was called from (a module path), when known.
    public var location: String?

    /// A rejection by `op` of inputs with `shapes`; `expected` says what it required.
    public init(op: String, shapes: [[Int]], expected: String) {
        self.op = op
        self.shapes = shapes
        self.expected = expected
    }

    /// "op: got shapes [..], [..]; expected", prefixed by the location when known.
    public var description: String {
        let shapeText = shapes.map { "\($0)" }.joined(separator: ", ")
        let prefix = location.map { "\($0): " } ?? ""
        return "\(prefix)\(op): got shapes \(shapeText); \(expected)"
    }
}

/// A misuse of differentiation: `backward()` on a tensor no gradient flows to.
public struct GradientError: Error, CustomStringConvertible, Equatable {
    /// What was wrong, in words.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// An integer that selects outside its range, found when an op reads it: an index of `gather`
/// or `indexSelect` (an embedding lookup), a class label of a loss.
public struct IndexError: Error, CustomStringConvertible, Equatable {
    /// The name of the op that read the value.
    public let op: String
    /// What the value is: "index" or "label".
    public let kind: String
    /// The offending value.
    public let value: Int64
    /// The size of the range, `0..<bound`.
    public let bound: Int
    /// Where the op was called from (a module path), when known.
    public var location: String?

    /// An out-of-range `value` read by `op`, with `kind` "index" or "label" and the valid range `0..<bound`.
    public init(op: String, kind: String = "index", value: Int64, bound: Int) {
        (self.op, self.kind, self.value, self.bound) = (op, kind, value, bound)
    }

    /// "op: index 7 is out of range for an axis of size 5", prefixed by the location when known.
    public var description: String {
        let range = kind == "label" ? "\(bound) classes (0..<\(bound))" : "an axis of size \(bound)"
        return (location.map { "\($0): " } ?? "") + "\(op): \(kind) \(value) is out of range for \(range)"
    }
}

/// Throws a `ShapeError` for `op` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ op: String, _ inputs: [TensorSpec], _ expected: @autoclosure () -> String) throws {
    if !condition { throw ShapeError(op: op, shapes: inputs.map(\.shape), expected: expected()) }
}

/// Normalises a possibly negative axis for a tensor of `rank` dimensions.
func normalizeAxis(_ axis: Int, rank: Int, op: String, _ inputs: [TensorSpec]) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    try require(a >= 0 && a < max(rank, 1), op, inputs, "axis \(axis) out of range for rank \(rank)")
    return a
}

/// Why a geometry (convolution, pooling) does not fit its input, for a `ShapeError`.
struct ShapeMismatch: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
