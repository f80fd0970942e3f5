import CApusKernels
import Foundation

/// Geometry of a 2-D convolution: stride, padding, dilation (each (height, width)) and groups.
public struct Conv2dGeometry: Hashable, Sendable {
    /// Stride, zero padding (each side) and dilation along height and width.
    public let strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int
    /// Number of channel groups: input and output channels are split into `groups` independent convolutions.
    public let groups: Int

    /// Stride, zero padding and dilation, each (height, width), and the number of channel groups (PyTorch's `Conv2d` arguments).
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
/// col2im(Wᵀ·G); weight gradient Σ G·colᵀ.
///
/// Images are shared out over the worker pool, each thread with its own column buffer (and, for
/// the weight gradient, its own accumulator, summed at the end), so every GEMM runs whole on
/// one core and nothing is packed twice. A single image instead splits its GEMMs over the pool.
/// Images of fewer than `minimumGEMMWidth` output pixels go several at a time: their columns
/// side by side, so each GEMM is wide.
enum ConvKernel {
    enum Product { case forward, inputGradient, weightGradient }

    /// Runs `product` over every image and group. `x`: input [N, C, H, W] (or its gradient, zeroed),
    /// `w`: weight (or its gradient, zeroed), `y`: output (or its gradient); the one being computed is written.
    static func run(_ product: Product, x: Tensor, w: Tensor, y: Tensor, geometry: Conv2dGeometry,
                    epilogue: ((Int) -> Void)? = nil) {
        if product == .forward && WinogradConv.suits(x: x, w: w, geometry: geometry) {
            return WinogradConv.forward(x: x, w: w, y: y, geometry: geometry, epilogue: epilogue)
        }
        if product == .weightGradient && WinogradConv.suits(x: x, w: w, geometry: geometry) {
            return WinogradConv.weightGradient(x: x, g: y, dw: w, geometry: geometry)
        }
        let n = x.shape[0], parts = Swift.min(WorkerPool.shared.threads, n)
        guard n > 0 else { return }
        let colRows = Int(geometry.im2colArgs(x.shape, w.shape, y.shape).0) * w.shape[2] * w.shape[3]
        let pixels = y.shape[2] * y.shape[3], perPart = (n + parts - 1) / parts
        let chunk = imagesPerChunk(pixels: pixels, perPart: perPart)
        let colShape = chunk > 1 ? [colRows, chunk * pixels]
                                 : [colRows, rowsPerBlock(colRows: colRows, outputWidth: y.shape[3], outputHeight: y.shape[2]) * y.shape[3]]
        let columns = (0..<parts).map { _ in Tensor(uninitialized: colShape, dtype: x.dtype) }
        let gathered = chunk > 1 ? (0..<parts).map { _ in Tensor(uninitialized: [w.shape[0] / geometry.groups, chunk * pixels], dtype: x.dtype) } : []
        let accumulators = product == .weightGradient ? [w] + (1..<parts).map { _ in Tensor.zeros(w.shape, dtype: w.dtype) } : []
        CPUThreads.forParts(parts) { part in
            let weight = accumulators.isEmpty ? w : accumulators[part]
            let images = Swift.min(n, part * perPart)..<Swift.min(n, (part + 1) * perPart)
            for first in stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                let block = first..<Swift.min(images.upperBound, first + chunk)
                if chunk > 1 {
                    convolve(product, block, x, weight, y, columns[part], gathered[part], geometry)
                } else {
                    convolve(product, first, x, weight, y, columns[part], geometry, splitsGEMMs: parts == 1)
                }
                block.forEach { epilogue?($0) }   // while these outputs are still in cache
            }
        }
        for extra in accumulators.dropFirst() {
            let layout = StridedLayout(outShape: w.shape, operands: [w, extra])
            if w.dtype == .float32 {
                apus_binary_f32(Int32(APUS_ADD.rawValue), layout.rank, layout.shape, w.pointer(Float.self), layout.strides[0],
                                extra.pointer(Float.self), layout.strides[1], w.pointer(Float.self))
            } else {
                apus_binary_f64(Int32(APUS_ADD.rawValue), layout.rank, layout.shape, w.pointer(Double.self), layout.strides[0],
                                extra.pointer(Double.self), layout.strides[1], w.pointer(Double.self))
            }
        }
    }

    /// Column-buffer budget (elements): a block of output rows whose columns fit in L2 cache.
    static let blockElements = 1 << 18

    /// Output pixels below which images are convolved several at a time: one GEMM per chunk of
    /// images, at least this many columns wide (a GEMM a few pixels wide runs far below peak).
    static let minimumGEMMWidth = Int(ProcessInfo.processInfo.environment["APUS_GEMMW"] ?? "256")!

    /// Images per chunk for `pixels` output pixels per image, `perPart` images per thread.
    static func imagesPerChunk(pixels: Int, perPart: Int) -> Int {
        pixels >= minimumGEMMWidth ? 1 : Swift.max(1, Swift.min(perPart, (minimumGEMMWidth + pixels - 1) / pixels))
    }

    /// A chunk of images, all groups, as wide GEMMs: their columns side by side in `col`
    /// [C/g·KH·KW, images·pixels], the output (or its cotangent) gathered into `gathered`
    /// [O/g, images·pixels].
    private static func convolve(_ product: Product, _ images: Range<Int>, _ x: Tensor, _ w: Tensor, _ y: Tensor, _ col: Tensor,
                                 _ gathered: Tensor, _ geometry: Conv2dGeometry) {
        let groups = geometry.groups
        let (c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow) = geometry.im2colArgs(x.shape, w.shape, y.shape)
        let outPerGroup = w.shape[0] / groups, colRows = Int(c * kh * kw), pixels = Int(oh * ow)
        let size = x.dtype.byteSize, isFloat = x.dtype == .float32, columns = images.count * pixels
        let (xImage, yImage) = (x.shape[1] * Int(h * width) * size, w.shape[0] * pixels * size)
        for group in 0..<groups {
            let input = x.rawPointer + images.lowerBound * xImage + group * Int(c * h * width) * size
            let output = y.rawPointer + images.lowerBound * yImage + group * outPerGroup * pixels * size
            let weight = w.rawPointer + group * outPerGroup * colRows * size
            if product != .inputGradient {
                for j in 0..<images.count {
                    let image = input + j * xImage
                    if isFloat {
                        apus_im2col_f32(image.assumingMemoryBound(to: Float.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw,
                                        0, oh, ow, Int64(columns), col.pointer(Float.self) + j * pixels)
                    } else {
                        apus_im2col_f64(image.assumingMemoryBound(to: Double.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw,
                                        0, oh, ow, Int64(columns), col.pointer(Double.self) + j * pixels)
                    }
                }
            }
            if product != .forward {
                apus_gather_images(output, Int64(images.count), Int64(yImage), Int64(outPerGroup), Int64(pixels * size), gathered.rawPointer)
            }
            switch product {
            case .forward:
                RawGEMM.singleThreaded(x.dtype, false, false, outPerGroup, columns, colRows, weight, colRows, col.rawPointer, columns,
                                       0, gathered.rawPointer, columns)
                apus_scatter_images(gathered.rawPointer, Int64(images.count), Int64(yImage), Int64(outPerGroup), Int64(pixels * size), output)
            case .weightGradient:
                RawGEMM.singleThreaded(x.dtype, false, true, outPerGroup, colRows, columns, gathered.rawPointer, columns,
                                       col.rawPointer, columns, 1, weight, colRows)
            case .inputGradient:
                RawGEMM.singleThreaded(x.dtype, true, false, colRows, columns, outPerGroup, weight, colRows, gathered.rawPointer, columns,
                                       0, col.rawPointer, columns)
                for j in 0..<images.count {
                    let image = input + j * xImage
                    if isFloat {
                        apus_col2im_f32(col.pointer(Float.self) + j * pixels, c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, 0, oh, ow,
                                        Int64(columns), image.assumingMemoryBound(to: Float.self))
                    } else {
                        apus_col2im_f64(col.pointer(Double.self) + j * pixels, c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, 0, oh, ow,
                                        Int64(columns), image.assumingMemoryBound(to: Double.self))
                    }
                }
            }
        }
    }

    /// Output rows per block for a column matrix of `colRows` rows and `outputWidth` pixels per output row.
    static func rowsPerBlock(colRows: Int, outputWidth: Int, outputHeight: Int) -> Int {
        Swift.max(1, Swift.min(outputHeight, blockElements / Swift.max(1, colRows * outputWidth)))
    }

    /// One image, all groups, in blocks of output rows, using `col` as the column buffer; its
    /// GEMMs split over the pool when `splitsGEMMs` (a single image), else each runs whole.
    private static func convolve(_ product: Product, _ image: Int, _ x: Tensor, _ w: Tensor, _ y: Tensor, _ col: Tensor,
                                 _ geometry: Conv2dGeometry, splitsGEMMs: Bool) {
        let groups = geometry.groups
        let (c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow) = geometry.im2colArgs(x.shape, w.shape, y.shape)
        let outPerGroup = w.shape[0] / groups, colRows = Int(c * kh * kw), pixels = Int(oh * ow)
        let size = x.dtype.byteSize, isFloat = x.dtype == .float32
        let blockRows = rowsPerBlock(colRows: colRows, outputWidth: Int(ow), outputHeight: Int(oh))
        for group in 0..<groups {
            let input = x.rawPointer + (image * x.shape[1] + group * Int(c)) * Int(h * width) * size
            let output = y.rawPointer + (image * w.shape[0] + group * outPerGroup) * pixels * size
            let weight = w.rawPointer + group * outPerGroup * colRows * size
            for oy0 in stride(from: 0, to: Int(oh), by: blockRows) {
                let oy1 = Swift.min(Int(oh), oy0 + blockRows), n = (oy1 - oy0) * Int(ow)
                let block = output + oy0 * Int(ow) * size   // these output pixels, rows `pixels` apart
                if product != .inputGradient {
                    if isFloat {
                        apus_im2col_f32(input.assumingMemoryBound(to: Float.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw,
                                        Int64(oy0), Int64(oy1), ow, Int64(n), col.pointer(Float.self))
                    } else {
                        apus_im2col_f64(input.assumingMemoryBound(to: Double.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw,
                                        Int64(oy0), Int64(oy1), ow, Int64(n), col.pointer(Double.self))
                    }
                }
                let gemm = splitsGEMMs ? RawGEMM.run : RawGEMM.singleThreaded
                switch product {
                case .forward:
                    gemm(x.dtype, false, false, outPerGroup, n, colRows, weight, colRows, col.rawPointer, n, 0, block, pixels)
                case .weightGradient:
                    gemm(x.dtype, false, true, outPerGroup, colRows, n, block, pixels, col.rawPointer, n, 1, weight, colRows)
                case .inputGradient:
                    gemm(x.dtype, true, false, colRows, n, outPerGroup, weight, colRows, block, pixels, 0, col.rawPointer, n)
                    if isFloat {
                        apus_col2im_f32(col.pointer(Float.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, Int64(oy0), Int64(oy1), ow,
                                        Int64(n), input.assumingMemoryBound(to: Float.self))
                    } else {
                        apus_col2im_f64(col.pointer(Double.self), c, h, width, kh, kw, sh, sw, ph, pw, dh, dw, Int64(oy0), Int64(oy1), ow,
                                        Int64(n), input.assumingMemoryBound(to: Double.self))
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
/// → [N, O, OH, OW]. Bias is a separate broadcast add. Always im2col + GEMM: the direct kernels
/// serve the biased convolutions graph mode fuses with pooling (see `DirectConv.suits`).
public struct Conv2dOp: Operation {
    /// Stride, padding, dilation and groups of the convolution.
    public let geometry: Conv2dGeometry

    /// An op convolving (input, weight) with `geometry`.
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
        return [c.needsGradient(0) ? Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape, direct: false), [g, w])[0] : nil,
                c.needsGradient(1) ? Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape, direct: false), [x, g])[0] : nil]
    }
}

/// Convolution, bias and (optionally) ReLU as one op: input [N, C, H, W], weight
/// [O, C/groups, KH, KW], bias [O] → [N, O, OH, OW]. The bias and ReLU are applied to each image
/// right after its GEMM, so no separate passes and no intermediate tensors exist; the backward
/// keeps only the output (ReLU's mask is `output > 0`).
public struct Conv2dBiasReLUOp: Operation {
    /// Stride, padding, dilation and groups of the convolution.
    public let geometry: Conv2dGeometry
    /// Whether max(·, 0) follows the bias.
    public let relu: Bool

    /// An op convolving (input, weight, bias) with `geometry`, then max(·, 0) when `relu` is true.
    public init(geometry: Conv2dGeometry, relu: Bool) {
        self.geometry = geometry
        self.relu = relu
    }
    public var name: String { relu ? "conv2dBiasReLU" : "conv2dBias" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let shape = try convSpecs(name, inputs, x: inputs[0].shape, w: inputs[1].shape, geometry)
        try require(inputs.count == 3 && inputs[2] == TensorSpec([shape[1]], inputs[0].dtype), name, inputs,
                    "bias must be [\(shape[1])] \(inputs[0].dtype)")
        return [TensorSpec(shape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor(uninitialized: outputs[0].shape, dtype: outputs[0].dtype)
        let bias = inputs[2].dense
        if DirectConv.applies(x: inputs[0], w: inputs[1], geometry: geometry) {
            DirectConv.forward(x: inputs[0].dense, w: inputs[1].dense, bias: bias, relu: relu, y: y, geometry: geometry)
            return [y]
        }
        let (channels, pixels) = (y.shape[1], y.shape[2] * y.shape[3])
        let yp = SendablePointer(raw: y.rawPointer), bp = SendablePointer(raw: bias.rawPointer)
        let size = y.dtype.byteSize, flag: Int32 = relu ? 1 : 0, isFloat = y.dtype == .float32
        ConvKernel.run(.forward, x: inputs[0].dense, w: inputs[1].dense, y: y, geometry: geometry) { image in
            let out = yp.raw + image * channels * pixels * size
            if isFloat {
                apus_bias_relu_f32(Int64(channels), Int64(pixels), out.assumingMemoryBound(to: Float.self), bp.raw.assumingMemoryBound(to: Float.self), flag)
            } else {
                apus_bias_relu_f64(Int64(channels), Int64(pixels), out.assumingMemoryBound(to: Double.self), bp.raw.assumingMemoryBound(to: Double.self), flag)
            }
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let x = c.inputs[0], w = c.inputs[1]
        let g = relu ? Tensor.binary(.reluGrad, c.cotangents[0], c.outputs[0]) : c.cotangents[0]
        let input = c.needsGradient(0) ? Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g, w])[0] : nil
        if c.needsGradient(1) && c.needsGradient(2) {   // one pass over the cotangent for both
            let grads = Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape, withBias: true), [x, g])
            return [input, grads[0], grads[1]]
        }
        return [input, c.needsGradient(1) ? Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape), [x, g])[0] : nil,
                c.needsGradient(2) ? g.sum(axes: [0, 2, 3]) : nil]
    }
}

/// Gradient of conv2d with respect to its input: (output cotangent [N, O, OH, OW], weight) → [N, C, H, W].
public struct Conv2dInputGradOp: Operation {
    /// Stride, padding, dilation and groups of the forward convolution.
    public let geometry: Conv2dGeometry
    /// The forward input's shape [N, C, H, W]: the result's shape.
    public let inputShape: [Int]
    /// Whether the direct kernels may run it (as for the forward op it is the gradient of).
    public let direct: Bool

    /// The input gradient of a convolution with `geometry` whose input had `inputShape`; `direct` lets the direct kernels run it.
    public init(geometry: Conv2dGeometry, inputShape: [Int], direct: Bool = true) {
        self.geometry = geometry
        self.inputShape = inputShape
        self.direct = direct
    }
    public var name: String { "conv2dInputGrad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try convSpecs(name, inputs, x: inputShape, w: inputs[1].shape, geometry)
        try require(y == inputs[0].shape, name, inputs, "cotangent must have the convolution's output shape \(y)")
        return [TensorSpec(inputShape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        if direct && DirectConv.appliesToInputGradient(x: inputs[0], w: inputs[1], geometry: geometry) {
            let dx = Tensor(uninitialized: inputShape, dtype: inputs[0].dtype)
            DirectConv.inputGradient(g: inputs[0].dense, w: inputs[1].dense, dx: dx, geometry: geometry)
            return [dx]
        }
        if let flipped = flippedConvolution(weightShape: inputs[1].shape) {
            // Stride 1: the input gradient is a forward convolution of the cotangent with the
            // weights swapped and rotated by 180° — deeper GEMMs, and no col2im scatter.
            let dx = Tensor(uninitialized: inputShape, dtype: inputs[0].dtype)
            ConvKernel.run(.forward, x: inputs[0].dense, w: Self.rotated(inputs[1].dense), y: dx, geometry: flipped)
            return [dx]
        }
        let dx = Tensor.zeros(inputShape, dtype: inputs[0].dtype)
        ConvKernel.run(.inputGradient, x: dx, w: inputs[1].dense, y: inputs[0].dense, geometry: geometry)
        return [dx]
    }

    /// The geometry of the forward convolution that computes this gradient (stride 1, no
    /// dilation, one group, padding below the kernel size), or nil.
    func flippedConvolution(weightShape w: [Int]) -> Conv2dGeometry? {
        guard geometry.strideH == 1, geometry.strideW == 1, geometry.dilationH == 1, geometry.dilationW == 1, geometry.groups == 1,
              geometry.padH < w[2], geometry.padW < w[3] else { return nil }
        return Conv2dGeometry(padding: (w[2] - 1 - geometry.padH, w[3] - 1 - geometry.padW))
    }

    /// Weights [O, C, KH, KW] → [C, O, KH, KW] rotated by 180° in the kernel plane.
    static func rotated(_ w: Tensor) -> Tensor {
        let (o, c, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]), taps = kh * kw
        let r = Tensor(uninitialized: [c, o, kh, kw], dtype: w.dtype)
        func rotate<T>(_ type: T.Type) {
            let (source, target) = (w.pointer(T.self), r.pointer(T.self))
            for oi in 0..<o {
                for ci in 0..<c {
                    let from = source + (oi * c + ci) * taps, to = target + (ci * o + oi) * taps + taps - 1
                    for t in 0..<taps { to[-t] = from[t] }
                }
            }
        }
        if w.dtype == .float32 { rotate(Float.self) } else { rotate(Double.self) }
        return r
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let u = c.cotangents[0], g = c.inputs[0], w = c.inputs[1]
        return [c.needsGradient(0) ? Tensor.apply(Conv2dOp(geometry: geometry), [u, w])[0] : nil,
                c.needsGradient(1) ? Tensor.apply(Conv2dWeightGradOp(geometry: geometry, weightShape: w.shape), [u, g])[0] : nil]
    }
}

/// Gradient of conv2d with respect to its weight: (input [N, C, H, W], output cotangent) → [O, C/groups, KH, KW],
/// and with `withBias` also the bias gradient [O] (the cotangent summed over N, H, W), taken in
/// the same pass over the cotangent.
public struct Conv2dWeightGradOp: Operation {
    /// Stride, padding, dilation and groups of the forward convolution.
    public let geometry: Conv2dGeometry
    /// The weight's shape [O, C/groups, KH, KW]: the (first) result's shape.
    public let weightShape: [Int]
    /// Whether the bias gradient [O] is a second output.
    public let withBias: Bool
    /// Whether the direct kernels may run it (as for the forward op it is the gradient of).
    public let direct: Bool

    /// The weight gradient (and with `withBias`, the bias gradient) of a convolution with `geometry`; `direct` lets the direct kernels run it.
    public init(geometry: Conv2dGeometry, weightShape: [Int], withBias: Bool = false, direct: Bool = true) {
        self.geometry = geometry
        self.weightShape = weightShape
        self.withBias = withBias
        self.direct = direct
    }
    public var name: String { withBias ? "conv2dWeightBiasGrad" : "conv2dWeightGrad" }
    public var outputCount: Int { withBias ? 2 : 1 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try convSpecs(name, inputs, x: inputs[0].shape, w: weightShape, geometry)
        try require(y == inputs[1].shape, name, inputs, "cotangent must have the convolution's output shape \(y)")
        let dw = TensorSpec(weightShape, inputs[0].dtype)
        return withBias ? [dw, TensorSpec([weightShape[0]], inputs[0].dtype)] : [dw]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let dw = Tensor.zeros(weightShape, dtype: inputs[0].dtype)
        let g = inputs[1].dense
        if direct && DirectConv.applies(x: inputs[0], w: dw, geometry: geometry) {
            let db = withBias ? Tensor.zeros([weightShape[0]], dtype: dw.dtype) : nil
            DirectConv.backward(x: inputs[0].dense, g: .dense(g), outputShape: g.shape, dw: dw, db: db, input: nil, geometry: geometry)
            return [dw] + (db.map { [$0] } ?? [])
        }
        ConvKernel.run(.weightGradient, x: inputs[0].dense, w: dw, y: g, geometry: geometry)
        return withBias ? [dw, ReduceOp(.sum, axes: [0, 2, 3], keepDims: false).cpu([g], [outputs[1]])[0]] : [dw]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let v = c.cotangents[0], x = c.inputs[0], g = c.inputs[1]
        var gg = c.needsGradient(1) ? Tensor.apply(Conv2dOp(geometry: geometry), [x, v])[0] : nil
        if withBias, let gg0 = gg { gg = gg0 + c.cotangents[1].reshaped([1, -1, 1, 1]) }
        return [c.needsGradient(0) ? Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: x.shape), [g, v])[0] : nil, gg]
    }
}

/// 2-D convolution of `input` [N, C, H, W] with `weight` [O, C/groups, KH, KW], plus an optional
/// `bias` [O] and, with `relu`, max(·, 0): → [N, O, OH, OW]. With a bias or ReLU it runs as one
/// fused op (`Conv2dBiasReLUOp`).
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, relu: Bool = false) -> Tensor {
    let geometry = Conv2dGeometry(stride: stride, padding: padding, dilation: dilation, groups: groups)
    guard bias != nil || relu else { return Tensor.apply(Conv2dOp(geometry: geometry), [input, weight])[0] }
    let b = bias ?? Tensor.zeros([weight.shape.first ?? 0], dtype: weight.dtype)
    return Tensor.apply(Conv2dBiasReLUOp(geometry: geometry, relu: relu), [input, weight, b])[0]
}
