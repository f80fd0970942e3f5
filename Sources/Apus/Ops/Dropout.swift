/// A dropout mask drawn from a generator when the op runs: () → [shape] of 0 (probability `p`)
/// and 1/(1−p). Eagerly it draws at once; in a compiled graph it draws on every run, in the
/// order the eager code would, so masks follow the generator's seed in both modes (and a
/// resumed run that restores the generator draws the same masks).
public struct DropoutMaskOp: Operation {
    /// The mask's shape, drop probability and dtype.
    public let shape: [Int], p: Double, dtype: DType
    /// Where the mask's random numbers come from.
    public let generator: RandomGenerator

    /// A mask of `shape` and `dtype` dropping with probability `p`, drawn from `generator`.
    public init(shape: [Int], p: Double, dtype: DType, generator: RandomGenerator) {
        (self.shape, self.p, self.dtype, self.generator) = (shape, p, dtype, generator)
    }
    public var name: String { "dropoutMask" }
    public var isDifferentiable: Bool { false }
    /// Each run draws new numbers: graph passes must neither fold nor merge it.
    public var hasSideEffects: Bool { true }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.isEmpty && dtype.isFloatingPoint && (0..<1).contains(p), name, inputs,
                    "no inputs, a float dtype and p in [0, 1) (got \(dtype), p = \(p))")
        return [TensorSpec(shape, dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        [Tensor.dropoutMask(shape, p: p, dtype: dtype, generator: generator)]
    }
}

/// Inverted dropout: in training, zeroes each element with probability `p` and scales the rest
/// by 1/(1−p); otherwise returns `x` unchanged. The mask comes from `DropoutMaskOp`, so a
/// compiled step draws a fresh one from `generator` on every run.
public func dropout(_ x: Tensor, p: Double, training: Bool = true, generator: RandomGenerator = .global) -> Tensor {
    guard training && p > 0 else { return x }
    return x * Tensor.apply(DropoutMaskOp(shape: x.shape, p: p, dtype: x.dtype, generator: generator), [])[0]
}
