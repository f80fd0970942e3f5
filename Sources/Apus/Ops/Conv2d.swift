import CApusKernels

/// Geometry of a 2-D convolution: stride, padding, dilation (each (height, width)) and groups.
public struct Conv2dGeometry: Hashable, Sendable {
    let strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int
    public let groups: Int

    public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        (strideH, strideW) = stride
        (padH, padW) = padding
        (dilationH, dilationW) = dilation
        self.groups = groups
    }

    /// Output size along one dimension.
    func outputSize(_ input: Int, kernel: Int, stride: Int, pad: Int, dilation: Int) -> Int {
        let span = input + 2 * pad - dilation * (kernel - 1) - 1
        return span < 0 ? 0 : span / stride + 1
    }

    /// Output [N, O, OH, OW] for input [N, C, H, W] and weight [O, C/groups, KH, KW], or a reason.
    func outputShape(input x: [Int], weight w: [Int]) -> Result<[Int], ShapeMismatch> {
        guard x.count == 4, w.count == 4 else { return .failure(ShapeMismatch("input [N, C, H, W] and weight [O, C/groups, KH, KW] must both have rank 4")) }
        guard strideH > 0, strideW > 0, dilationH > 0, dilationW > 0, padH >= 0, padW >= 0, groups > 0 else {
            return .failure(ShapeMismatch("stride and dilation must be positive, padding non-negative"))
        }
        guard x[1] % groups == 0, w[0] % groups == 0, w[1] * groups == x[1] else {
            return .failure(ShapeMismatch("input channels \(x[1]) must equal weight's \(w[1]) × groups \(groups), and output channels \(w[0]) divide by groups"))
        }
        let oh = outputSize(x[2], kernel: w[2], stride: strideH, pad: padH, dilation: dilationH)
        let ow = outputSize(x[3], kernel: w[3], stride: strideW, pad: padW, dilation: dilationW)
        guard oh > 0, ow > 0 else { return .failure(ShapeMismatch("kernel \(w[2])×\(w[3]) (dilated) is larger than the padded input \(x[2])×\(x[3])")) }
        return .success([x[0], w[0], oh, ow])
    }

    func im2colArgs(_ x: [Int], _ w: [Int], _ y: [Int]) -> (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) {
        (Int64(x[1] / groups), Int64(x[2]), Int64(x[3]), Int64(w[2]), Int64(w[3]), Int64(strideH), Int64(strideW),
         Int64(padH), Int64(padW), Int64(dilationH), Int64(dilationW), Int64(y[2]), Int64(y[3]))
    }

}

/// The three products a convolution is made of, per image and group, with col = im2col(x)
/// [C/g·KH·KW, OH·OW], W [O/g, C/g·KH·KW], Y [O/g, OH·OW]: forward Y = W·col; input gradient
/// col2im(Wᵀ·G); weight gradient Σ G·colᵀ. The columns of a chunk of images are built (and
/// folded back) on both cores, then each image's GEMM reads and writes its tensors in place.
enum ConvKernel {
    enum Product { case forward, inputGradient, weightGradient }

    /// Column-matrix budget per chunk, in elements.
    static let chunkElements = 8 << 20

    /// Runs `product` over every image and group. `x`: input [N, C, H, W] (or its gradient, zeroed),
    /// `w`: weight (or its gradient, zeroed), `y`: output (or its gradient); the one being computed is written.
    static func run(_ product: Product, x: Tensor, w: Tensor, y: Tensor, geometry: Conv2dGeometry) {
        BLASSetup.ensure()
        let groups = geometry.groups
        let (c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow) = geometry.im2colArgs(x.shape, w.shape, y.shape)
        let n = x.shape[0], outPerGroup = w.shape[0] / groups
        let colRows = Int(c * kh * kw), pixels = Int(oh * ow), imageSize = x.shape[1] * Int(h * width)
        let chunk = Swift.max(1, Swift.min(n, chunkElements / Swift.max(colRows * pixels, 1)))
        let col = Tensor(uninitialized: [colRows, chunk * pixels], dtype: x.dtype)
        let size = x.dtype.byteSize, isFloat = x.dtype == .float32
        let xp = SendablePointer(raw: x.rawPointer), cp = SendablePointer(raw: col.rawPointer)
        for start in stride(from: 0, to: n, by: chunk) {
            let count = Swift.min(chunk, n - start), ld = count * pixels
            for group in 0..<groups {
                let channelOffset = group * Int(c) * Int(h * width)
                let wOffset = group * outPerGroup * colRows
                if product != .inputGradient {
                    CPUThreads.forChunks(count, costPerItem: colRows * pixels) { range in
                        for i in range {
                            let image = xp.raw + ((start + i) * imageSize + channelOffset) * size
                            let columns = cp.raw + i * pixels * size
                            if isFloat {
                                apus_im2col_f32(image.assumingMemoryBound(to: Float.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow,
                                                Int64(ld), columns.assumingMemoryBound(to: Float.self))
                            } else {
                                apus_im2col_f64(image.assumingMemoryBound(to: Double.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow,
                                                Int64(ld), columns.assumingMemoryBound(to: Double.self))
                            }
                        }
                    }
                }
                // One GEMM per image, reading and writing y in place (its rows are contiguous).
                for i in 0..<count {
                    let yOffset = ((start + i) * w.shape[0] + group * outPerGroup) * pixels * size
                    let columns = col.rawPointer + i * pixels * size
                    switch product {
                    case .forward:
                        RawGEMM.run(x.dtype, transA: false, transB: false, m: outPerGroup, n: pixels, k: colRows, a: w.rawPointer + wOffset * size,
                                    lda: colRows, b: columns, ldb: ld, beta: 0, c: y.rawPointer + yOffset, ldc: pixels)
                    case .weightGradient:
                        RawGEMM.run(x.dtype, transA: false, transB: true, m: outPerGroup, n: colRows, k: pixels, a: y.rawPointer + yOffset, lda: pixels,
                                    b: columns, ldb: ld, beta: 1, c: w.rawPointer + wOffset * size, ldc: colRows)
                    case .inputGradient:
                        RawGEMM.run(x.dtype, transA: true, transB: false, m: colRows, n: pixels, k: outPerGroup, a: w.rawPointer + wOffset * size,
                                    lda: colRows, b: y.rawPointer + yOffset, ldb: pixels, beta: 0, c: columns, ldc: ld)
                    }
                }
                if product == .inputGradient {
                    CPUThreads.forChunks(count, costPerItem: colRows * pixels) { range in
                        for i in range {
                            let image = xp.raw + ((start + i) * imageSize + channelOffset) * size
                            let columns = cp.raw + i * pixels * size
                            if isFloat {
                                apus_col2im_f32(columns.assumingMemoryBound(to: Float.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow,
                                                Int64(ld), image.assumingMemoryBound(to: Float.self))
                            } else {
                                apus_col2im_f64(columns.assumingMemoryBound(to: Double.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow,
                                                Int64(ld), image.assumingMemoryBound(to: Double.self))
                            }
                        }
                    }
                }
            }
        }
    }
}

private func convSpecs(_ op: String, _ inputs: [TensorSpec], x: [Int], w: [Int], _ geometry: Conv2dGeometry) throws -> [Int] {
    try require(inputs[0].dtype == inputs[1].dtype && inputs[0].dtype.isFloatingPoint, op, inputs, "operands must share a float dtype")
    switch geometry.outputShape(input: x, weight: w) {
    case .success(let shape): return shape
    case .failure(let mismatch): throw ShapeError(op: op, shapes: inputs.map(\.shape), expected: mismatch.reason)
    }
}

/// 2-D convolution (cross-correlation, as PyTorch): input [N, C, H, W], weight [O, C/groups, KH, KW]
/// → [N, O, OH, OW]. Bias is a separate broadcast add.
public struct Conv2dOp: Operation {
    public let geometry: Conv2dGeometry

    public init(geometry: Conv2dGeometry) {
        self.geometry = geometry
    }
    public var name: String { "conv2d" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        [TensorSpec(try convSpecs(name, inputs, x: inputs[0].shape, w: inputs[1].shape, geometry), inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor(uninitialized: outputs[0].shape, dtype: outputs[0].dtype)
        ConvKernel.run(.forward, x: inputs[0].dense, w: inputs[1].dense, y: y, geometry: geometry)
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let g = c.cotangents[0], x = c.inputs[0], w = c.inputs[1]
        return [c.needsGradient(0) ? Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g, w])[0] : nil,
                c.needsGradient(1) ? Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape), [x, g])[0] : nil]
    }
}

/// Gradient of conv2d with respect to its input: (output cotangent [N, O, OH, OW], weight) → [N, C, H, W].
public struct Conv2dInputGradOp: Operation {
    public let geometry: Conv2dGeometry
    public let inputShape: [Int]

    public init(geometry: Conv2dGeometry, inputShape: [Int]) {
        self.geometry = geometry
        self.inputShape = inputShape
    }
    public var name: String { "conv2dInputGrad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try convSpecs(name, inputs, x: inputShape, w: inputs[1].shape, geometry)
        try require(y == inputs[0].shape, name, inputs, "cotangent must have the convolution's output shape \(y)")
        return [TensorSpec(inputShape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let dx = Tensor.zeros(inputShape, dtype: inputs[0].dtype)
        ConvKernel.run(.inputGradient, x: dx, w: inputs[1].dense, y: inputs[0].dense, geometry: geometry)
        return [dx]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let u = c.cotangents[0], g = c.inputs[0], w = c.inputs[1]
        return [c.needsGradient(0) ? Tensor.apply(Conv2dOp(geometry: geometry), [u, w])[0] : nil,
                c.needsGradient(1) ? Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape), [u, g])[0] : nil]
    }
}

/// Gradient of conv2d with respect to its weight: (input [N, C, H, W], output cotangent) → [O, C/groups, KH, KW].
public struct Conv2dWeightGradOp: Operation {
    public let geometry: Conv2dGeometry
    public let weightShape: [Int]

    public init(geometry: Conv2dGeometry, weightShape: [Int]) {
        self.geometry = geometry
        self.weightShape = weightShape
    }
    public var name: String { "conv2dWeightGrad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try convSpecs(name, inputs, x: inputs[0].shape, w: weightShape, geometry)
        try require(y == inputs[1].shape, name, inputs, "cotangent must have the convolution's output shape \(y)")
        return [TensorSpec(weightShape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let dw = Tensor.zeros(weightShape, dtype: inputs[0].dtype)
        ConvKernel.run(.weightGradient, x: inputs[0].dense, w: dw, y: inputs[1].dense, geometry: geometry)
        return [dw]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let v = c.cotangents[0], x = c.inputs[0], g = c.inputs[1]
        return [c.needsGradient(0) ? Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g, v])[0] : nil,
                c.needsGradient(1) ? Tensor.apply(Conv2dOp(geometry: geometry), [x, v])[0] : nil]
    }
}

/// 2-D convolution of `input` [N, C, H, W] with `weight` [O, C/groups, KH, KW], plus an optional
/// `bias` [O]: → [N, O, OH, OW].
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let geometry = Conv2dGeometry(stride: stride, padding: padding, dilation: dilation, groups: groups)
    let y = Tensor.apply(Conv2dOp(geometry: geometry), [input, weight])[0]
    guard let bias else { return y }
    return y + bias.reshaped([1, -1, 1, 1])
}
