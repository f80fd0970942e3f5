import CApusKernels

/// Direct 3×3 convolutions (stride 1, no dilation, one group), without im2col: the forward pass,
/// the input gradient (a convolution of the output gradient with the flipped weights) and the
/// weight gradient. Each image is copied into a zero-padded buffer; the kernels
/// (conv_direct.c) keep tiles of outputs in vector registers, so no column matrix is ever
/// written or read. Measured against the im2col + GEMM path on the VQA layers at 224×224
/// (batch 32): forward 1.3–1.6× faster, input gradient 1.3–1.5×, weight gradient 1.05–1.6×.
enum DirectConv {
    /// Whether the direct kernels apply to input `x` and weight `w`: Float32, one group,
    /// stride 1, no dilation, a 3×3 kernel, and channels that `suits` accepts.
    static func applies(x: Tensor, w: Tensor, geometry: Conv2dGeometry) -> Bool {
        x.dtype == .float32 && w.shape.count == 4 && applies(geometry: geometry, kernel: (w.shape[2], w.shape[3]))
            && suits(inputs: w.shape[1], outputs: w.shape[0])
    }

    /// Whether a convolution with these channel counts runs on the direct kernels: few
    /// channels (the VQA model's layers). With more, im2col + GEMM measured faster (`apus-bench
    /// conv-shapes`: 512 channels on 4×4 images ran at 17 GFLOP/s direct, 89 as GEMMs); graph
    /// mode's fused convolution + pooling needs the direct kernels, and eager mode uses them for
    /// the same layers, so that both sum in the same order (bit-equal results).
    static func suits(inputs c: Int, outputs o: Int) -> Bool { c * o <= 64 * 128 }

    /// Whether the geometry and kernel size suit the direct kernels (the Float32 part aside).
    static func applies(geometry: Conv2dGeometry, kernel: (Int, Int)) -> Bool {
        geometry.groups == 1 && geometry.strideH == 1 && geometry.strideW == 1 && geometry.dilationH == 1 && geometry.dilationW == 1
            && kernel == (3, 3)
    }

    /// Whether the input gradient can run as a direct convolution (padding at most 2).
    static func appliesToInputGradient(x: Tensor, w: Tensor, geometry: Conv2dGeometry) -> Bool {
        applies(x: x, w: w, geometry: geometry) && geometry.padH <= 2 && geometry.padW <= 2
    }

    /// Cotangent elements of a strip of rows, every channel (≈ 512 KB: stays in L2), as in the
    /// weight-gradient kernel for few channels.
    static let stripElements = 131_072

    /// Rows per strip of an output [O, height, width] pooled by 2×2 windows: an even number of
    /// rows (whole windows) holding about `stripElements` floats, at most the whole image.
    static func stripRows(outputs o: Int, height: Int, width: Int) -> Int {
        Swift.min(height, Swift.max(2, stripElements / Swift.max(1, o * width) / 2 * 2))
    }

    /// Input channels up to which the weight gradient runs its vectors along pixels
    /// (`apus_conv3x3_wgrad_lanes_f32`) rather than along output channels.
    static let fewChannels = 4

    /// Rows and row length of the zero-padded copy of one image [C, H, W] whose convolution
    /// output is `outputWidth` wide (vector loads may run 16 floats past a row's end).
    static func paddedSize(height: Int, width: Int, outputWidth: Int, padding: (Int, Int)) -> (rows: Int, rowLength: Int) {
        (height + 2 * padding.0, Swift.max(width + 2 * padding.1, outputWidth + 2) + 16)
    }

    /// Weights [O, C, 3, 3] packed for the forward kernel; `flip`: weights [C, O, 3, 3] of the
    /// convolution whose input gradient this is (swapped and rotated by 180°).
    static func pack(_ w: Tensor, outputs o: Int, inputs c: Int, flip: Bool) -> Tensor {
        let packed = Tensor(uninitialized: [(o + 7) / 8 * c * 9 * 8], dtype: .float32)
        apus_pack_conv3x3_weights_f32(w.pointer(Float.self), Int64(o), Int64(c), flip ? 1 : 0, packed.pointer(Float.self))
        return packed
    }

    /// Splits the images into one part per pool thread, each part with its own buffers of the
    /// given element counts (zero-filled where asked): `body(images, buffers)`, in parallel when
    /// the pool is free. Returns every part's buffers.
    @discardableResult
    private static func forImages(_ n: Int, buffers sizes: [(elements: Int, zeroed: Bool)],
                                  _ body: (Range<Int>, [UnsafeMutablePointer<Float>]) -> Void) -> [[Tensor]] {
        guard n > 0 else { return [] }
        let parts = Swift.min(WorkerPool.shared.threads, n)
        let buffers = (0..<parts).map { _ in
            sizes.map { $0.zeroed ? Tensor.zeros([$0.elements], dtype: .float32) : Tensor(uninitialized: [$0.elements], dtype: .float32) }
        }
        let perPart = (n + parts - 1) / parts
        CPUThreads.forParts(parts) { part in
            let range = Swift.min(n, part * perPart)..<Swift.min(n, (part + 1) * perPart)
            if !range.isEmpty { body(range, buffers[part].map { $0.pointer(Float.self) }) }
        }
        return buffers
    }

    /// y [N, O, OH, OW] = conv(x, w) + bias, then ReLU when `relu`.
    static func forward(x: Tensor, w: Tensor, bias: Tensor?, relu: Bool, y: Tensor, geometry: Conv2dGeometry) {
        convolve(x, weights: pack(w, outputs: y.shape[1], inputs: x.shape[1], flip: false), bias: bias, relu: relu, into: y,
                 padding: (geometry.padH, geometry.padW))
    }

    /// dx [N, C, H, W] = the input gradient for output cotangent g [N, O, OH, OW]: g convolved
    /// (padding 2 − p) with the weights [O, C, 3, 3] swapped to [C, O] and rotated by 180°.
    static func inputGradient(g: Tensor, w: Tensor, dx: Tensor, geometry: Conv2dGeometry) {
        convolve(g, weights: pack(w, outputs: dx.shape[1], inputs: g.shape[1], flip: true), bias: nil, relu: false, into: dx,
                 padding: (2 - geometry.padH, 2 - geometry.padW))
    }

    /// y = conv(x, packed weights) (+ bias, ReLU), image by image.
    private static func convolve(_ x: Tensor, weights packed: Tensor, bias: Tensor?, relu: Bool, into y: Tensor, padding: (Int, Int)) {
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, oh, ow) = (y.shape[1], y.shape[2], y.shape[3])
        let (hp, wp) = paddedSize(height: h, width: width, outputWidth: ow, padding: padding)
        withExtendedLifetime((x, packed, bias, y)) {
            _ = forImages(n, buffers: [(c * hp * wp, false)]) { images, buffers in
                for image in images {
                    apus_pad_image_f32(x.pointer(Float.self) + image * c * h * width, Int64(c), Int64(h), Int64(width),
                                       Int64(padding.0), Int64(padding.1), Int64(hp), Int64(wp), buffers[0])
                    apus_conv3x3_direct_f32(buffers[0], Int64(c), Int64(hp), Int64(wp), packed.pointer(Float.self), Int64(o),
                                            bias?.pointer(Float.self), relu ? 1 : 0, Int64(oh), Int64(ow), Int64(oh * ow), y.pointer(Float.self) + image * o * oh * ow)
                }
            }
        }
    }

    /// Convolution (+ bias, ReLU) then max pooling with indices, image by image: each image's
    /// convolution output goes to a per-thread buffer (for 2×2 windows a strip of rows at a time,
    /// so that it is still in L2 when it is pooled) and only the pooled output [N, O, PH, PW] and
    /// the indices (or, with `windowCodes`, `Conv2dMaxPoolOp`'s window codes) reach memory.
    static func forwardPooled(x: Tensor, w: Tensor, bias: Tensor, relu: Bool, geometry: Conv2dGeometry, pool: PoolGeometry,
                              convolutionShape: [Int], pooled: Tensor, indices: Tensor, windowCodes: Bool = false) {
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, oh, ow) = (convolutionShape[1], convolutionShape[2], convolutionShape[3])
        let (ph, pw) = (pooled.shape[2], pooled.shape[3])
        let wp = paddedSize(height: h, width: width, outputWidth: ow, padding: (geometry.padH, geometry.padW)).rowLength
        let (_, _, _, kh, kw, sh, sw, pph, ppw, poh, pow) = pool.args([1, o, oh, ow], [1, o, ph, pw])
        let packed = pack(w, outputs: o, inputs: c, flip: false)
        // 2×2 windows tiling the output: a strip of rows at a time, padded, convolved and pooled in cache.
        let tiled = pool.tilesTwoByTwo(height: oh, width: ow)
        precondition(!windowCodes || (tiled && relu), "DirectConv.forwardPooled: window codes need ReLU and 2×2 windows tiling the output")
        let strip = tiled ? stripRows(outputs: o, height: oh, width: ow) : oh
        withExtendedLifetime((x, packed, bias, pooled, indices)) {
            _ = forImages(n, buffers: [(c * (strip + 2) * wp, false), (o * strip * ow, false)]) { images, buffers in
                for image in images {
                    let y = pooled.pointer(Float.self) + image * o * ph * pw
                    let at = windowCodes ? nil : indices.pointer(Int32.self) + image * o * ph * pw
                    let codes = windowCodes ? windowCodesPointer(indices, image: image) : nil
                    for y0 in stride(from: 0, to: oh, by: strip) {
                        let rows = Swift.min(strip, oh - y0)
                        apus_pad_rows_f32(x.pointer(Float.self) + image * c * h * width, Int64(c), Int64(h), Int64(width),
                                          Int64(geometry.padH), Int64(geometry.padW), Int64(y0), Int64(rows + 2), Int64(wp), buffers[0])
                        apus_conv3x3_direct_f32(buffers[0], Int64(c), Int64(rows + 2), Int64(wp), packed.pointer(Float.self), Int64(o),
                                                bias.pointer(Float.self), relu ? 1 : 0, Int64(rows), Int64(ow), Int64(rows * ow), buffers[1])
                        if tiled {
                            apus_maxpool_rows_f32(buffers[1], Int64(o), Int64(ow), Int64(ph), Int64(pw), Int64(y0 / 2), Int64((y0 + rows) / 2),
                                                  y, at, codes)
                        } else {
                            apus_maxpool_indices_f32(buffers[1], Int64(o), Int64(oh), Int64(ow), kh, kw, sh, sw, pph, ppw, poh, pow, y, at)
                        }
                    }
                }
            }
        }
    }

    /// The first window code of `image` in `codes` ([N, ⌈O·PH·PW / 4⌉] int32, four one-byte codes
    /// per element; see `Conv2dMaxPoolOp.windowCodes`).
    private static func windowCodesPointer(_ codes: Tensor, image: Int) -> UnsafeMutablePointer<UInt8> {
        UnsafeMutableRawPointer(codes.pointer(Int32.self) + image * codes.shape[1]).assumingMemoryBound(to: UInt8.self)
    }

    /// The output cotangent of a weight gradient: a tensor, or a max-pool scatter expanded one
    /// image at a time: from the cotangent of the pooled output with indices (and an optional
    /// ReLU mask), or with `Conv2dMaxPoolOp`'s window codes (2×2 windows tiling the output).
    enum Cotangent {
        case dense(Tensor)
        case scattered(pooled: Tensor, indices: Tensor, mask: Tensor?, pool: PoolGeometry)
        case coded(pooled: Tensor, codes: Tensor)
    }

    /// The backward pass of a convolution, image by image: dw [O, C, 3, 3] += the weight
    /// gradient for input x and output cotangent g [N, O, OH, OW]; with `db`, db [O] += g summed
    /// over images and pixels; with `input` (padding ≤ 2), input.dx = the input gradient for
    /// weights input.w. Each image's cotangent is read (or, scattered, made) once for all of them.
    static func backward(x: Tensor, g cotangent: Cotangent, outputShape: [Int], dw: Tensor, db: Tensor?,
                         input: (w: Tensor, dx: Tensor)?, geometry: Conv2dGeometry) {
        precondition(input == nil || (geometry.padH <= 2 && geometry.padW <= 2), "DirectConv.backward: input gradient needs padding ≤ 2")
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        if case let .coded(pooled, codes) = cotangent, c > fewChannels, geometry.padH == 1, geometry.padW == 1 {
            return backwardFromCodes(x: x, pooled: pooled, codes: codes, dw: dw, db: db, input: input)
        }
        let (o, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let wp = paddedSize(height: h, width: width, outputWidth: ow, padding: (geometry.padH, geometry.padW)).rowLength
        let cotangentPadding = (2 - geometry.padH, 2 - geometry.padW)
        let (gh, gw) = paddedSize(height: oh, width: ow, outputWidth: width, padding: cotangentPadding)
        let o32 = (o + 31) / 32 * 32, accumulatorElements = c * 9 * o32 + 16 * o
        // A scattered cotangent is made and read a strip of rows at a time, in cache. For the input
        // gradient (with "same" padding) each strip is scattered into a zero-bordered buffer
        // together with the pooled rows above and below it, which give the halo rows it reads.
        let (scattered, tiled): (Bool, Bool) = switch cotangent {
        case .dense: (false, false)
        case let .scattered(_, _, _, pool): (true, pool.tilesTwoByTwo(height: oh, width: ow))
        case .coded: (true, true)
        }
        let strip = tiled && (input == nil || (geometry.padH == 1 && geometry.padW == 1)) ? stripRows(outputs: o, height: oh, width: ow) : oh
        let paddedStrips = strip < oh && input != nil, paddedRows = strip + 4
        let packed = input.map { pack($0.w, outputs: c, inputs: o, flip: true) }
        // Per part: the padded input rows, the weight kernel's transposed strip, the accumulators
        // ([C, 9, O32] weights, then [O, 16] bias lane sums); then either the padded cotangent strip
        // [O, strip + 4, GW] (zero borders) or the scattered cotangent image or strip [O, strip, OW]
        // and the padded cotangent image [O, GH, GW] for the input gradient.
        var sizes: [(elements: Int, zeroed: Bool)] = [(c * (strip + 2) * wp, false), (Swift.max(65536, ow * o32), false), (accumulatorElements, true)]
        if paddedStrips {
            sizes.append((o * paddedRows * gw, true))
        } else {
            if scattered { sizes.append((o * strip * ow, false)) }
            if input != nil { sizes.append((o * gh * gw, false)) }
        }
        let buffers = withExtendedLifetime((x, cotangent, packed, input)) {
            forImages(n, buffers: sizes) { images, buffers in
                /// Adds the weight (and bias) gradient of output rows y0 ..< y0 + rows of `image`, from the padded input
                /// rows they read and their cotangent g (row r of channel o at g + o·planeStride + r·rowStride).
                func weightGradient(_ g: UnsafeMutablePointer<Float>, rowStride: Int, planeStride: Int, image: Int, rows y0: Int, _ rows: Int) {
                    let biasLanes = db == nil ? nil : buffers[2] + c * 9 * o32
                    apus_pad_rows_f32(x.pointer(Float.self) + image * c * h * width, Int64(c), Int64(h), Int64(width),
                                      Int64(geometry.padH), Int64(geometry.padW), Int64(y0), Int64(rows + 2), Int64(wp), buffers[0])
                    if c <= DirectConv.fewChannels {
                        apus_conv3x3_wgrad_lanes_f32(buffers[0], Int64(c), Int64(rows + 2), Int64(wp), g, Int64(rowStride), Int64(planeStride),
                                                     Int64(o), Int64(rows), Int64(ow), buffers[2], biasLanes)
                    } else {
                        apus_conv3x3_direct_wgrad_f32(buffers[0], Int64(c), Int64(rows + 2), Int64(wp), g, Int64(rowStride), Int64(planeStride),
                                                      Int64(o), Int64(rows), Int64(ow), buffers[1], buffers[2], biasLanes)
                    }
                }
                /// dx rows y0 ..< y0 + rows of `image` from the padded cotangent [O, planeRows, GW] at `padded`.
                func inputGradient(_ padded: UnsafeMutablePointer<Float>, planeRows: Int, image: Int, rows y0: Int, _ rows: Int) {
                    guard let input, let packed else { return }
                    apus_conv3x3_direct_f32(padded, Int64(o), Int64(planeRows), Int64(gw), packed.pointer(Float.self), Int64(c),
                                            nil, 0, Int64(rows), Int64(width), Int64(h * width), input.dx.pointer(Float.self) + image * c * h * width + y0 * width)
                }
                for image in images {
                    let g: UnsafeMutablePointer<Float>
                    switch cotangent {
                    case .dense(let tensor):
                        g = tensor.pointer(Float.self) + image * o * oh * ow
                    case .scattered(let pooled, _, _, _), .coded(let pooled, _):
                        g = buffers[3]
                        let (ph, pw) = (pooled.shape[2], pooled.shape[3]), offset = image * o * ph * pw
                        let gp = pooled.pointer(Float.self) + offset
                        let (ip, cp, mp): (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Float>?) = switch cotangent {
                        case let .scattered(_, indices, mask, _): (indices.pointer(Int32.self) + offset, nil, mask.map { $0.pointer(Float.self) + offset })
                        case let .coded(_, codes): (nil, windowCodesPointer(codes, image: image), nil)
                        case .dense: (nil, nil, nil)
                        }
                        /// Output rows 2·py0 ..< 2·py1, scattered to `into` (row r of channel o at into + o·planeStride + r·rowStride).
                        func scatter(_ py0: Int, _ py1: Int, into: UnsafeMutablePointer<Float>, rowStride: Int, planeStride: Int) {
                            apus_maxpool_scatter_rows_f32(gp, ip, cp, mp, Int64(o), Int64(ow), Int64(ph), Int64(pw), Int64(py0), Int64(py1),
                                                          Int64(rowStride), Int64(planeStride), into)
                        }
                        guard strip < oh else {
                            if tiled {
                                scatter(0, ph, into: g, rowStride: ow, planeStride: oh * ow)
                            } else {
                                apus_maxpool_scatter_f32(gp, ip, mp, Int64(o), Int64(oh), Int64(ow), Int64(ph), Int64(pw), 0, g)
                            }
                            break
                        }
                        for y0 in stride(from: 0, to: oh, by: strip) {
                            let rows = Swift.min(strip, oh - y0)
                            guard paddedStrips else {
                                scatter(y0 / 2, (y0 + rows) / 2, into: g, rowStride: ow, planeStride: rows * ow)
                                weightGradient(g, rowStride: ow, planeStride: rows * ow, image: image, rows: y0, rows)
                                continue
                            }
                            // Row j of each plane is output row y0 − 2 + j, from column 1; rows outside the image are zero.
                            let (first, last) = (Swift.max(0, y0 / 2 - 1), Swift.min(ph, (y0 + rows) / 2 + 1))
                            scatter(first, last, into: g + (2 * (first - y0 / 2 + 1)) * gw + 1, rowStride: gw, planeStride: paddedRows * gw)
                            for row in (y0 == 0 ? [0, 1] : []) + (y0 + rows == oh ? [rows + 2, rows + 3] : []) {
                                for plane in 0..<o { (g + (plane * paddedRows + row) * gw).update(repeating: 0, count: gw) }
                            }
                            weightGradient(g + 2 * gw + 1, rowStride: gw, planeStride: paddedRows * gw, image: image, rows: y0, rows)
                            inputGradient(g + gw, planeRows: paddedRows, image: image, rows: y0, rows)
                        }
                        continue
                    }
                    weightGradient(g, rowStride: ow, planeStride: oh * ow, image: image, rows: 0, oh)
                    if input != nil {
                        let padded = buffers[scattered ? 4 : 3]
                        apus_pad_image_f32(g, Int64(o), Int64(oh), Int64(ow), Int64(cotangentPadding.0), Int64(cotangentPadding.1), Int64(gh), Int64(gw), padded)
                        inputGradient(padded, planeRows: gh, image: image, rows: 0, h)
                    }
                }
            }
        }
        for part in buffers {
            let acc = part[2].pointer(Float.self)
            apus_conv3x3_wgrad_finish_f32(acc, Int64(o), Int64(c), dw.pointer(Float.self))
            if let db { addBiasLanes(acc + c * 9 * o32, to: db) }
        }
    }

    /// db [O] += each channel's 16 bias lanes [O, 16] (one part's), summed lane 0 to 15: the one
    /// order both backward passes keep, so their bias gradients agree bit for bit.
    private static func addBiasLanes(_ lanes: UnsafeMutablePointer<Float>, to db: Tensor) {
        let out = db.pointer(Float.self)
        for i in 0..<db.count { out[i] += (0..<16).reduce(Float(0)) { $0 + lanes[16 * i + $1] } }
    }

    /// Windows per strip of the backward pass from window codes (the strip's rows of the
    /// channel-last input and input gradient, 16 channels at a time, stay in L1 while every output
    /// channel runs over them; the buffers hold whole padded images).
    static let codedStripWindows = 32

    /// The backward pass of a ReLU convolution (padding 1) pooled by 2×2 windows, from the pooled
    /// cotangent [N, O, PH, PW] and its window codes: only the pixel each window names gets a
    /// gradient, so the passes run over those pixels (apus_conv3x3_pooled_backward_f32), with a
    /// quarter of the dense passes' multiplications or fewer, and sum in the dense kernels' order
    /// (for finite values, the same results bit for bit). dw [O, C, 3, 3] and db [O] += the
    /// weight and bias gradients; with `input`, input.dx [N, C, H, W] = the input gradient.
    private static func backwardFromCodes(x: Tensor, pooled: Tensor, codes: Tensor, dw: Tensor, db: Tensor?, input: (w: Tensor, dx: Tensor)?) {
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, ph, pw) = (pooled.shape[1], pooled.shape[2], pooled.shape[3])
        guard n > 0, o > 0, ph > 0, pw > 0 else {   // nothing flows back: dx is zero (or empty)
            if let input { input.dx.pointer(Float.self).update(repeating: 0, count: input.dx.count) }
            return
        }
        let c16 = (c + 15) / 16 * 16, rowLength = (width + 2) * c16, padded = (h + 2) * rowLength
        precondition(padded <= Int(Int32.max), "DirectConv.backwardFromCodes: an image of \(padded) padded elements")   // the kernel's int32 offsets
        let strip = Swift.max(1, codedStripWindows / pw), laneRows = Int(apus_conv3x3_wgrad_strip_rows(Int64(o), Int64(width)))
        let wt = input.map { input in
            let wt = Tensor(uninitialized: [o * 9 * c16], dtype: .float32)
            apus_pack_conv3x3_nhwc_weights_f32(input.w.pointer(Float.self), Int64(o), Int64(c), Int64(c16), wt.pointer(Float.self))
            return wt
        }
        // Per part: the channel-last padded input and input gradient, the weight accumulators, the
        // bias lanes [O, 16], the kernel's scratch (its pixel lists, int32s in a float buffer).
        let sizes = [(padded, false), (input == nil ? 1 : padded, false), (o * 9 * c16, true), (o * 16, true), (o * (2 * strip + 2) * (2 * pw + 1), false)]
        let buffers = withExtendedLifetime((x, pooled, codes, wt, input)) {
            forImages(n, buffers: sizes) { images, buffers in
                let (xt, dxt) = (buffers[0], input == nil ? nil : buffers[1])
                for image in images {
                    let xImage = x.pointer(Float.self) + image * c * h * width
                    for py0 in stride(from: 0, to: ph, by: strip) {
                        let py1 = Swift.min(ph, py0 + strip)
                        // Padded rows up to 2·py0 + 2 are there from the strip before.
                        apus_nchw_to_padded_nhwc_rows_f32(xImage, Int64(c), Int64(h), Int64(width), Int64(c16),
                                                          Int64(py0 == 0 ? 0 : 2 * py0 + 2), Int64(2 * py1 + 2), xt)
                        // The strip writes image rows 2·py0 ..< 2·py1 of dx (padded rows one lower), and the border rows at the edges.
                        let (first, last) = (py0 == 0 ? 0 : 2 * py0 + 1, py1 == ph ? h + 2 : 2 * py1 + 1)
                        if let dxt { (dxt + first * rowLength).update(repeating: 0, count: (last - first) * rowLength) }
                        apus_conv3x3_pooled_backward_f32(xt, wt?.pointer(Float.self), pooled.pointer(Float.self) + image * o * ph * pw,
                                                         windowCodesPointer(codes, image: image), Int64(o), Int64(c16), Int64(ph), Int64(pw),
                                                         Int64(py0), Int64(py1), Int64(laneRows), buffers[2], db == nil ? nil : buffers[3], dxt,
                                                         UnsafeMutableRawPointer(buffers[4]).assumingMemoryBound(to: Int32.self))
                        if let dxt, let input {
                            apus_padded_nhwc_to_nchw_rows_f32(dxt, Int64(c), Int64(h), Int64(width), Int64(c16), Int64(2 * py0), Int64(2 * py1),
                                                              input.dx.pointer(Float.self) + image * c * h * width)
                        }
                    }
                }
            }
        }
        for part in buffers {
            apus_conv3x3_nhwc_wgrad_finish_f32(part[2].pointer(Float.self), Int64(o), Int64(c), Int64(c16), dw.pointer(Float.self))
            if let db { addBiasLanes(part[3].pointer(Float.self), to: db) }
        }
    }
}
