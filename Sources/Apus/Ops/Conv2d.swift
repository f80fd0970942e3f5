import CApusKernels
import CBLAS

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

/// The three products a convolution is made of, per image and group, with
/// col = im2col(x) [C/g·KH·KW, OH·OW], W [O/g, C/g·KH·KW], Y [O/g, OH·OW]:
/// forward Y = W·col; input gradient col2im(Wᵀ·G); weight gradient G·colᵀ.
enum ConvKernel {
    enum Product { case forward, inputGradient, weightGradient }

    /// Runs `product` over every image and group. `x`: input [N, C, H, W] (or its gradient, filled),
    /// `w`: weight (or its gradient), `y`: output (or its gradient); the one being computed is written.
    static func run(_ product: Product, x: Tensor, w: Tensor, y: Tensor, geometry: Conv2dGeometry) {
        BLASSetup.ensure()
        let g = geometry.groups
        let (c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow) = geometry.im2colArgs(x.shape, w.shape, y.shape)
        let n = x.shape[0], outPerGroup = w.shape[0] / g
        let colRows = Int(c * kh * kw), colCols = Int(oh * ow)
        let col = Tensor(uninitialized: [colRows, colCols], dtype: x.dtype)
        let isFloat = x.dtype == .float32
        for image in 0..<n {
            for group in 0..<g {
                let xOffset = (image * x.shape[1] + group * Int(c)) * Int(h * width)
                let yOffset = (image * w.shape[0] + group * outPerGroup) * colCols
                let wOffset = group * outPerGroup * colRows
                if product != .inputGradient {
                    if isFloat {
                        apus_im2col_f32(x.pointer(Float.self) + xOffset, c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, col.pointer(Float.self))
                    } else {
                        apus_im2col_f64(x.pointer(Double.self) + xOffset, c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, col.pointer(Double.self))
                    }
                }
                switch product {
                case .forward:
                    gemm(isFloat, CblasNoTrans, CblasNoTrans, outPerGroup, colCols, colRows, w, wOffset, colRows, col, 0, colCols, 0, y, yOffset, colCols)
                case .weightGradient:
                    gemm(isFloat, CblasNoTrans, CblasTrans, outPerGroup, colRows, colCols, y, yOffset, colCols, col, 0, colCols, 1, w, wOffset, colRows)
                case .inputGradient:
                    gemm(isFloat, CblasTrans, CblasNoTrans, colRows, colCols, outPerGroup, w, wOffset, colRows, y, yOffset, colCols, 0, col, 0, colCols)
                    if isFloat {
                        apus_col2im_f32(col.pointer(Float.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, x.pointer(Float.self) + xOffset)
                    } else {
                        apus_col2im_f64(col.pointer(Double.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, x.pointer(Double.self) + xOffset)
                    }
                }
            }
        }
    }

    /// C[m×n] = A·B + beta·C on sub-blocks (row-major) of dense tensors.
    private static func gemm(_ isFloat: Bool, _ ta: CBLAS_TRANSPOSE, _ tb: CBLAS_TRANSPOSE, _ m: Int, _ n: Int, _ k: Int,
                             _ a: Tensor, _ ao: Int, _ lda: Int, _ b: Tensor, _ bo: Int, _ ldb: Int, _ beta: Double,
                             _ c: Tensor, _ co: Int, _ ldc: Int) {
        if isFloat {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a.pointer(Float.self) + ao, Int32(lda),
                        b.pointer(Float.self) + bo, Int32(ldb), Float(beta), c.pointer(Float.self) + co, Int32(ldc))
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a.pointer(Double.self) + ao, Int32(lda),
                        b.pointer(Double.self) + bo, Int32(ldb), beta, c.pointer(Double.self) + co, Int32(ldc))
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
