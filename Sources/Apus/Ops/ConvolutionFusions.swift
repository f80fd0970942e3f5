// Convolution ops that exist only in graph mode, made by the passes in Graph/Passes.swift:
// a convolution fused with the pooling after it, and a convolution's whole backward pass.

/// Convolution (+ bias, optionally ReLU) followed by max pooling with indices, as one op:
/// (input [N, C, H, W], weight [O, C, 3, 3], bias [O]) → (pooled [N, O, PH, PW], indices int32
/// [N, O, PH, PW], or window codes, see `windowCodes`).
/// The convolution's output never reaches memory: each image's is pooled while it is in cache.
/// Made by graph mode when the convolution's output is read only by the pooling (after the
/// max-pool index rewrite its gradient needs only the pooled output and the indices); Float32
/// 3×3 stride-1 convolutions (the direct kernels). Not differentiable: it only exists in
/// graphs whose backward pass is already traced.
public struct Conv2dMaxPoolOp: Operation {
    /// The convolution's stride, padding, dilation and groups.
    public let convolution: Conv2dGeometry
    /// Whether max(·, 0) follows the bias.
    public let relu: Bool
    /// The pooling window.
    public let pool: PoolGeometry
    /// Whether the second output holds window codes instead of indices (with ReLU and 2×2
    /// windows tiling the convolution's output): one byte per window, its maximum's position
    /// (bit 1: lower row, bit 0: right column) or 255 where the maximum is not positive (its
    /// gradient is zero, so a scatter through the codes needs no mask), packed four to an int32:
    /// [N, ⌈O·PH·PW / 4⌉]. A quarter of the indices' memory traffic; read only by
    /// `Conv2dBackwardOp` with `windowCodes`.
    public let windowCodes: Bool

    /// The convolution of `convolution` (+ bias, ReLU when `relu`) pooled by `pool`; see `windowCodes`.
    public init(convolution: Conv2dGeometry, relu: Bool, pool: PoolGeometry, windowCodes: Bool = false) {
        (self.convolution, self.relu, self.pool, self.windowCodes) = (convolution, relu, pool, windowCodes)
    }

    /// The int32 spec of the window codes of pooled outputs `pooled` [N, O, PH, PW] (four per element).
    public static func windowCodesSpec(pooled: TensorSpec) -> TensorSpec {
        TensorSpec([pooled.shape[0], (pooled.shape.dropFirst().reduce(1, *) + 3) / 4], .int32)
    }
    public var name: String { relu ? "conv2dBiasReLUMaxPool" : "conv2dBiasMaxPool" }
    public var outputCount: Int { 2 }
    public var isDifferentiable: Bool { false }

    /// Whether the fused op can run a convolution of these input and weight specs.
    public static func supports(_ convolution: Conv2dGeometry, input: TensorSpec, weight: TensorSpec) -> Bool {
        input.dtype == .float32 && weight.shape.count == 4 && input.shape.count == 4
            && DirectConv.applies(geometry: convolution, kernel: (weight.shape[2], weight.shape[3]))
            && DirectConv.suits(inputs: weight.shape[1], outputs: weight.shape[0])
    }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try Conv2dBiasReLUOp(geometry: convolution, relu: relu).outputSpecs(inputs)[0]
        try require(Self.supports(convolution, input: inputs[0], weight: inputs[1]), name, inputs, "a Float32 3×3 convolution with stride 1, no dilation, one group, input × output channels ≤ 8192")
        let specs = try MaxPool2dWithIndicesOp(geometry: pool).outputSpecs([y])
        try require(!windowCodes || (relu && pool.tilesTwoByTwo(height: y.shape[2], width: y.shape[3])), name, inputs,
                    "ReLU and 2×2 windows tiling the convolution's output for window codes")
        return windowCodes ? [specs[0], Self.windowCodesSpec(pooled: specs[0])] : specs
    }

    /// The shape [N, O, OH, OW] of the (never materialised) convolution output for these inputs.
    public func convolutionShape(_ inputs: [TensorSpec]) throws -> [Int] {
        try Conv2dBiasReLUOp(geometry: convolution, relu: relu).outputSpecs(inputs)[0].shape
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let pooled = Tensor(uninitialized: outputs[0].shape, dtype: outputs[0].dtype), indices = Tensor(uninitialized: outputs[1].shape, dtype: .int32)
        let shape = try! convolutionShape(inputs.map(\.spec))
        DirectConv.forwardPooled(x: inputs[0].dense, w: inputs[1].dense, bias: inputs[2].dense, relu: relu, geometry: convolution, pool: pool,
                                 convolutionShape: shape, pooled: pooled, indices: indices, windowCodes: windowCodes)
        return [pooled, indices]
    }
}

/// A convolution's backward pass as one op, each image's output cotangent read (or made) once:
/// inputs [x] + ([w] with `inputGradient`) + ([g], or [pooled cotangent, indices or window codes]
/// + [ReLU mask when `masked`] when the cotangent is a max-pool scatter, `pool`) → outputs ([dx] with
/// `inputGradient`) + [dw] + ([db] with `withBias`). A scattered cotangent is expanded one image
/// at a time into a per-thread buffer, so it never reaches memory. Made by graph mode from a
/// convolution's input and weight gradients reading one cotangent, or from a weight gradient
/// whose cotangent is a scatter read by nothing else (the first layer); Float32 3×3 stride-1
/// convolutions with padding ≤ 2. Not differentiable.
public struct Conv2dBackwardOp: Operation {
    /// The convolution's stride, padding, dilation and groups.
    public let convolution: Conv2dGeometry
    /// The weight's shape [O, C, 3, 3].
    public let weightShape: [Int]
    /// Whether the weight is an input and the input gradient dx [N, C, H, W] the first output.
    public let inputGradient: Bool
    /// Whether the bias gradient [O] is the last output.
    public let withBias: Bool
    /// The pooling whose scatter makes the cotangent, when the cotangent arrives pooled.
    public let pool: PoolGeometry?
    /// Whether the pooled cotangent is masked by the pooled output (ReLU's gradient).
    public let masked: Bool
    /// Whether the scatter reads `Conv2dMaxPoolOp`'s window codes rather than indices (they hold
    /// the ReLU mask: never with `masked`).
    public let windowCodes: Bool

    /// The backward pass of a convolution with weights `weightShape`; see the properties.
    public init(convolution: Conv2dGeometry, weightShape: [Int], inputGradient: Bool, withBias: Bool, pool: PoolGeometry?, masked: Bool,
                windowCodes: Bool = false) {
        (self.convolution, self.weightShape, self.inputGradient, self.withBias, self.pool, self.masked, self.windowCodes) =
            (convolution, weightShape, inputGradient, withBias, pool, masked, windowCodes)
    }
    public var name: String { (inputGradient ? "conv2dBackward" : "conv2dWeightGrad") + (pool != nil ? "FromPool" : "") }
    public var outputCount: Int { (inputGradient ? 1 : 0) + 1 + (withBias ? 1 : 0) }
    public var isDifferentiable: Bool { false }

    /// Whether the fused backward supports this convolution.
    public static func supports(_ convolution: Conv2dGeometry, input: TensorSpec, weightShape: [Int]) -> Bool {
        Conv2dMaxPoolOp.supports(convolution, input: input, weight: TensorSpec(weightShape, input.dtype)) && convolution.padH <= 2 && convolution.padW <= 2
    }

    private func convolutionShape(_ input: TensorSpec) throws -> [Int] {
        switch convolution.outputShape(input: input.shape, weight: weightShape) {
        case .success(let shape): return shape
        case .failure(let mismatch): throw ShapeError(op: name, shapes: [input.shape, weightShape], expected: mismatch.reason)
        }
    }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let x = inputs[0], rest = Array(inputs.dropFirst(inputGradient ? 2 : 1))
        try require(Self.supports(convolution, input: x, weightShape: weightShape) && (!inputGradient || inputs[1] == TensorSpec(weightShape, x.dtype)),
                    name, inputs, "a Float32 3×3 convolution with stride 1, no dilation, one group and padding ≤ 2")
        let g: TensorSpec
        if let pool, windowCodes {
            let y = try convolutionShape(x), pooled = try pool.specs(name, [TensorSpec(y, x.dtype)])[0]
            try require(!masked && pool.tilesTwoByTwo(height: y[2], width: y[3]) && rest == [pooled, Conv2dMaxPoolOp.windowCodesSpec(pooled: pooled)],
                        name, inputs, "a cotangent \(pooled) and its window codes, of 2×2 windows tiling the convolution's output")
            g = TensorSpec(y, x.dtype)
        } else {
            g = try pool.map { try MaxPool2dScatterOp(geometry: $0, inputShape: try convolutionShape(x), masked: masked).outputSpecs(rest)[0] } ?? rest[0]
        }
        return (inputGradient ? [x] : []) + (try Conv2dWeightGradOp(geometry: convolution, weightShape: weightShape, withBias: withBias).outputSpecs([x, g]))
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, rest = Array(inputs.dropFirst(inputGradient ? 2 : 1))
        let dx = inputGradient ? Tensor(uninitialized: x.shape, dtype: .float32) : nil
        let dw = Tensor.zeros(weightShape, dtype: .float32), db = withBias ? Tensor.zeros([weightShape[0]], dtype: .float32) : nil
        let cotangent: DirectConv.Cotangent
        if let pool {
            cotangent = windowCodes ? .coded(pooled: rest[0].dense, codes: rest[1].dense)
                : .scattered(pooled: rest[0].dense, indices: rest[1].dense, mask: masked ? rest[2].dense : nil, pool: pool)
        } else {
            cotangent = .dense(rest[0].dense)
        }
        DirectConv.backward(x: x, g: cotangent, outputShape: try! convolutionShape(x.spec), dw: dw, db: db,
                            input: dx.map { (inputs[1].dense, $0) }, geometry: convolution)
        return (dx.map { [$0] } ?? []) + [dw] + (db.map { [$0] } ?? [])
    }
}
