import CApusKernels

/// Window of a 2-D pooling: kernel, stride and padding, each (height, width), and how the output
/// size rounds (PyTorch's `ceil_mode`).
public struct PoolGeometry: Hashable, Sendable {
    /// Window size, stride and zero padding (each side) along height and width.
    public let kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int
    /// Whether the output size rounds up, so that a last, partial window covers the input's end
    /// (never one starting in the right padding).
    public let ceilMode: Bool

    /// A `kernel` (height, width) window moving by `stride` (the kernel when nil) over the input with `padding` on each side; `ceilMode` rounds the output size up (PyTorch's pooling arguments).
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false) {
        (kernelH, kernelW) = kernel
        (strideH, strideW) = stride ?? kernel
        (padH, padW) = padding
        self.ceilMode = ceilMode
    }

    /// Output length along one axis of `size` elements, as PyTorch counts it:
    /// ⌊(size + 2·pad − kernel) / stride⌋ + 1, or with `ceilMode` ⌈…⌉ + 1 less a last window that
    /// would start in the right padding.
    func outputLength(_ size: Int, kernel: Int, stride: Int, pad: Int) -> Int {
        let span = size + 2 * pad - kernel + (ceilMode ? stride - 1 : 0)
        let length = (span >= 0 ? span / stride : -((stride - 1 - span) / stride)) + 1
        return ceilMode && (length - 1) * stride >= size + pad ? length - 1 : length
    }

    func outputShape(_ x: [Int]) -> Result<[Int], ShapeMismatch> {
        guard x.count == 4 else { return .failure(ShapeMismatch("expected input [N, C, H, W]")) }
        guard kernelH > 0, kernelW > 0, strideH > 0, strideW > 0 else { return .failure(ShapeMismatch("kernel and stride must be positive")) }
        guard padH >= 0, padW >= 0, padH * 2 <= kernelH, padW * 2 <= kernelW else {
            return .failure(ShapeMismatch("padding (\(padH), \(padW)) must be non-negative and at most half the kernel \(kernelH)×\(kernelW)"))
        }
        let oh = outputLength(x[2], kernel: kernelH, stride: strideH, pad: padH)
        let ow = outputLength(x[3], kernel: kernelW, stride: strideW, pad: padW)
        guard oh >= 1, ow >= 1 else { return .failure(ShapeMismatch("kernel \(kernelH)×\(kernelW) is larger than the padded input \(x[2])×\(x[3])")) }
        return .success([x[0], x[1], oh, ow])
    }

    func specs(_ op: String, _ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs[0].dtype.isFloatingPoint, op, inputs, "expected a floating-point tensor")
        switch outputShape(inputs[0].shape) {
        case .success(let shape): return [TensorSpec(shape, inputs[0].dtype)]
        case .failure(let mismatch): throw ShapeError(op: op, shapes: inputs.map(\.shape), expected: mismatch.reason)
        }
    }

    /// Splits the N·C planes of `a` [N, C, H, W] and `b` [N, C, H', W'] (both dense) across
    /// cores: `body(planeCount, a's first plane, b's first plane)`.
    static func forPlanes(_ a: Tensor, _ b: Tensor, _ body: (Int64, UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void) {
        let planes = a.shape[0] * a.shape[1]
        let aPlane = a.shape[2] * a.shape[3] * a.dtype.byteSize, bPlane = b.shape[2] * b.shape[3] * b.dtype.byteSize
        let ap = SendablePointer(raw: a.rawPointer), bp = SendablePointer(raw: b.rawPointer)
        CPUThreads.forChunks(planes, costPerItem: a.shape[2] * a.shape[3]) { range in
            body(Int64(range.count), ap.raw + range.lowerBound * aPlane, bp.raw + range.lowerBound * bPlane)
        }
    }

    /// Whether these are 2×2, stride-2 windows without padding that tile a [height, width]
    /// plane exactly (the pooling kernels' fast path).
    func tilesTwoByTwo(height: Int, width: Int) -> Bool {
        (kernelH, kernelW, strideH, strideW, padH, padW) == (2, 2, 2, 2, 0, 0) && height % 2 == 0 && width % 2 == 0
    }

    /// (planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow) for the C kernels.
    func args(_ x: [Int], _ y: [Int]) -> (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) {
        (Int64(x[0] * x[1]), Int64(x[2]), Int64(x[3]), Int64(kernelH), Int64(kernelW), Int64(strideH), Int64(strideW),
         Int64(padH), Int64(padW), Int64(y[2]), Int64(y[3]))
    }
}

/// 2-D max pooling over [N, C, H, W] (padding counts as −∞).
public struct MaxPool2dOp: Operation {
    /// Kernel, stride, padding and rounding of the pooling window.
    public let geometry: PoolGeometry

    /// An op max-pooling its input [N, C, H, W] with `geometry` (as `torch.nn.functional.max_pool2d`).
    public init(geometry: PoolGeometry) {
        self.geometry = geometry
    }
    public var name: String { "maxPool2d" }
    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { try geometry.specs(name, inputs) }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, y = Tensor(uninitialized: outputs[0].shape, dtype: x.dtype)
        let (_, h, w, kh, kw, sh, sw, ph, pw, oh, ow) = geometry.args(x.shape, y.shape)
        PoolGeometry.forPlanes(x, y) { n, xp, yp in
            if x.dtype == .float32 {
                apus_maxpool_f32(xp.assumingMemoryBound(to: Float.self), n, h, w, kh, kw, sh, sw, ph, pw, oh, ow, yp.assumingMemoryBound(to: Float.self))
            } else {
                apus_maxpool_f64(xp.assumingMemoryBound(to: Double.self), n, h, w, kh, kw, sh, sw, ph, pw, oh, ow, yp.assumingMemoryBound(to: Double.self))
            }
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(MaxPool2dGradOp(geometry: geometry), [c.inputs[0], c.cotangents[0]])[0]]
    }
}

/// Gradient of max pooling: (input, output cotangent) → input-shaped gradient routed to each
/// window's first maximum. Not differentiable again.
public struct MaxPool2dGradOp: Operation {
    /// Kernel, stride, padding and rounding of the forward pooling.
    public let geometry: PoolGeometry

    /// The gradient of max pooling with `geometry`; its inputs are (input, output cotangent).
    public init(geometry: PoolGeometry) {
        self.geometry = geometry
    }
    public var name: String { "maxPool2dGrad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try geometry.specs(name, [inputs[0]])
        try require(y[0] == inputs[1], name, inputs, "cotangent must have the pooled shape \(y[0].shape)")
        return [inputs[0]]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, g = inputs[1].dense, dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let (_, h, w, kh, kw, sh, sw, ph, pw, oh, ow) = geometry.args(x.shape, g.shape)
        let gp = SendablePointer(raw: g.rawPointer), outPlane = Int(oh * ow) * g.dtype.byteSize
        PoolGeometry.forPlanes(x, dx) { n, xp, dxp in
            let first = (xp - x.rawPointer) / (Int(h * w) * x.dtype.byteSize)
            let gPlane = gp.raw + first * outPlane
            if x.dtype == .float32 {
                apus_maxpool_backward_f32(xp.assumingMemoryBound(to: Float.self), gPlane.assumingMemoryBound(to: Float.self), n, h, w, kh, kw,
                                          sh, sw, ph, pw, oh, ow, dxp.assumingMemoryBound(to: Float.self))
            } else {
                apus_maxpool_backward_f64(xp.assumingMemoryBound(to: Double.self), gPlane.assumingMemoryBound(to: Double.self), n, h, w, kh, kw,
                                          sh, sw, ph, pw, oh, ow, dxp.assumingMemoryBound(to: Double.self))
            }
        }
        return [dx]
    }
}

/// 2-D average pooling over [N, C, H, W] → [N, C, OH, OW]. Each window's sum is divided by its
/// size clipped to the padded input (with `ceilMode` a last window may run past it) or, without
/// `countIncludePad`, by the number of input elements it covers: PyTorch's divisors.
public struct AvgPool2dOp: Operation {
    /// Kernel, stride, padding and rounding of the pooling window.
    public let geometry: PoolGeometry
    /// Whether padded positions count in the divisor (PyTorch's default).
    public let countIncludePad: Bool

    /// An op average-pooling its input [N, C, H, W] with `geometry` (as `torch.nn.functional.avg_pool2d`).
    public init(geometry: PoolGeometry, countIncludePad: Bool = true) {
        self.geometry = geometry
        self.countIncludePad = countIncludePad
    }
    public var name: String { "avgPool2d" }
    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { try geometry.specs(name, inputs) }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, y = Tensor(uninitialized: outputs[0].shape, dtype: x.dtype)
        let (p, h, w, kh, kw, sh, sw, ph, pw, oh, ow) = geometry.args(x.shape, y.shape)
        let includePad: Int32 = countIncludePad ? 1 : 0
        if x.dtype == .float32 {
            apus_avgpool_f32(x.pointer(Float.self), p, h, w, kh, kw, sh, sw, ph, pw, oh, ow, includePad, y.pointer(Float.self))
        } else {
            apus_avgpool_f64(x.pointer(Double.self), p, h, w, kh, kw, sh, sw, ph, pw, oh, ow, includePad, y.pointer(Double.self))
        }
        return [y]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        let op = AvgPool2dGradOp(geometry: geometry, inputShape: c.inputs[0].shape, countIncludePad: countIncludePad)
        return [Tensor.apply(op, [c.cotangents[0]])[0]]
    }
}

/// Gradient of average pooling: output cotangent [N, C, OH, OW] → input-shaped gradient, each
/// window's cotangent over its divisor spread on the window (its own adjoint is avgPool2d).
public struct AvgPool2dGradOp: Operation {
    /// Kernel, stride, padding and rounding of the forward pooling.
    public let geometry: PoolGeometry
    /// The forward input's shape [N, C, H, W]: the result's shape.
    public let inputShape: [Int]
    /// Whether padded positions count in the divisor, as in the pooling this is the gradient of.
    public let countIncludePad: Bool

    /// The gradient of average pooling with `geometry` of an input of `inputShape`; its input is the output cotangent.
    public init(geometry: PoolGeometry, inputShape: [Int], countIncludePad: Bool = true) {
        self.geometry = geometry
        self.inputShape = inputShape
        self.countIncludePad = countIncludePad
    }
    public var name: String { "avgPool2dGrad" }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let y = try geometry.specs(name, [TensorSpec(inputShape, inputs[0].dtype)])
        try require(y[0] == inputs[0], name, inputs, "cotangent must have the pooled shape \(y[0].shape)")
        return [TensorSpec(inputShape, inputs[0].dtype)]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let g = inputs[0].dense, dx = Tensor.zeros(inputShape, dtype: g.dtype)
        let (p, h, w, kh, kw, sh, sw, ph, pw, oh, ow) = geometry.args(inputShape, g.shape)
        let includePad: Int32 = countIncludePad ? 1 : 0
        if g.dtype == .float32 {
            apus_avgpool_backward_f32(g.pointer(Float.self), p, h, w, kh, kw, sh, sw, ph, pw, oh, ow, includePad, dx.pointer(Float.self))
        } else {
            apus_avgpool_backward_f64(g.pointer(Double.self), p, h, w, kh, kw, sh, sw, ph, pw, oh, ow, includePad, dx.pointer(Double.self))
        }
        return [dx]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        [Tensor.apply(AvgPool2dOp(geometry: geometry, countIncludePad: countIncludePad), [c.cotangents[0]])[0]]
    }
}

/// Max pooling of [N, C, H, W] → [N, C, OH, OW]; `stride` defaults to the kernel size, padding
/// counts as −∞, and `ceilMode` rounds the output size up (PyTorch's `ceil_mode`).
///
///     maxPool2d(x, kernel: (3, 3), stride: (2, 2), ceilMode: true)   // [1, 1, 6, 6] → [1, 1, 3, 3]
public func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false) -> Tensor {
    Tensor.apply(MaxPool2dOp(geometry: PoolGeometry(kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)), [x])[0]
}

/// Average pooling of [N, C, H, W] → [N, C, OH, OW]; `stride` defaults to the kernel size,
/// `ceilMode` rounds the output size up, and `countIncludePad: false` divides each window by the
/// input elements it covers only (PyTorch's `ceil_mode` and `count_include_pad`).
///
///     avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false)
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
    let geometry = PoolGeometry(kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    return Tensor.apply(AvgPool2dOp(geometry: geometry, countIncludePad: countIncludePad), [x])[0]
}
