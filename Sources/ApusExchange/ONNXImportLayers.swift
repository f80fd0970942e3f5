import Apus

/// ONNX convolutions and pooling (2-D, explicit symmetric padding) as Apus ops.
enum ONNXConvolution {
    /// (height, width) padding from ONNX `pads` [top, left, bottom, right] (symmetric only) and `auto_pad`.
    static func padding(_ node: ONNXNode) throws -> (Int, Int) {
        let autoPad = try node.string("auto_pad", "NOTSET")
        guard autoPad == "NOTSET" || autoPad == "VALID" else { throw node.unsupported("auto_pad \(autoPad) (only explicit pads)") }
        let pads = autoPad == "VALID" ? [0, 0, 0, 0] : (try node.ints("pads") ?? [0, 0, 0, 0])
        guard pads.count == 4 else { throw node.unsupported("only 2-D windows (pads \(pads))") }
        guard pads[0] == pads[2] && pads[1] == pads[3] else { throw node.unsupported("asymmetric pads \(pads)") }
        return (pads[0], pads[1])
    }

    static func pair(_ node: ONNXNode, _ key: String, _ fallback: (Int, Int)) throws -> (Int, Int) {
        guard let values = try node.ints(key) else { return fallback }
        guard values.count == 2 else { throw node.unsupported("only 2-D windows (\(key) \(values))") }
        return (values[0], values[1])
    }

    static func conv(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0), w = try v.input(node, 1)
        guard w.rank == 4 && x.rank == 4 else { throw node.unsupported("only 2-D convolutions (x \(x.shape), W \(w.shape))") }
        if let k = try node.ints("kernel_shape"), k != [w.shape[2], w.shape[3]] { throw node.error("kernel_shape \(k) differs from W \(w.shape)") }
        return conv2d(x, weight: w, bias: try v.optional(node, 2), stride: try pair(node, "strides", (1, 1)), padding: try padding(node),
                      dilation: try pair(node, "dilations", (1, 1)), groups: try node.int("group", 1))
    }

    static func convTranspose(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0), w = try v.input(node, 1)
        guard w.rank == 4 && x.rank == 4 else { throw node.unsupported("only 2-D transposed convolutions (x \(x.shape), W \(w.shape))") }
        guard node.attributes["output_shape"] == nil else { throw node.unsupported("output_shape (give pads and output_padding)") }
        let stride = try pair(node, "strides", (1, 1)), pad = try padding(node), dilation = try pair(node, "dilations", (1, 1))
        let extra = try pair(node, "output_padding", (0, 0)), groups = try node.int("group", 1)
        let oh = (x.shape[2] - 1) * stride.0 - 2 * pad.0 + dilation.0 * (w.shape[2] - 1) + extra.0 + 1
        let ow = (x.shape[3] - 1) * stride.1 - 2 * pad.1 + dilation.1 * (w.shape[3] - 1) + extra.1 + 1
        guard groups > 0, oh > 0, ow > 0, oh < 1 << 20, ow < 1 << 20, extra.0 >= 0, extra.1 >= 0 else { throw node.error("invalid geometry for input \(x.shape) and W \(w.shape)") }
        let geometry = Conv2dGeometry(stride: stride, padding: pad, dilation: dilation, groups: groups)
        let y = Tensor.apply(Conv2dInputGradOp(geometry: geometry, inputShape: [x.shape[0], w.shape[1] * groups, oh, ow]), [x, w])[0]
        return try v.optional(node, 2).map { y + $0.reshaped([1, -1, 1, 1]) } ?? y
    }

    static func pool(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0)
        guard let kernel = try node.ints("kernel_shape"), kernel.count == 2, x.rank == 4 else {
            throw node.unsupported("only 2-D pooling with kernel_shape (input \(x.shape))")
        }
        guard node.outputs.count == 1 || node.outputs[1].isEmpty else { throw node.unsupported("the Indices output") }
        guard try pair(node, "dilations", (1, 1)) == (1, 1), try node.int("storage_order", 0) == 0 else {
            throw node.unsupported("dilated pooling or storage_order 1")
        }
        let stride = try pair(node, "strides", (1, 1)), pad = try padding(node), ceil = try node.int("ceil_mode", 0) != 0
        if node.opType == "MaxPool" {
            return maxPool2d(x, kernel: (kernel[0], kernel[1]), stride: stride, padding: pad, ceilMode: ceil)
        }
        return avgPool2d(x, kernel: (kernel[0], kernel[1]), stride: stride, padding: pad, ceilMode: ceil,
                         countIncludePad: try node.int("count_include_pad", 0) != 0)
    }
}

/// ONNX LSTM and GRU (forward, reverse or bidirectional, default activations, layout 0) as
/// Apus ops: LSTM directions run as the fused `lstmSequence` op.
enum ONNXRecurrent {
    struct Shapes {
        let steps: Int, batch: Int, directions: Int, hidden: Int
        let reverse: [Bool]
    }

    static func check(_ node: ONNXNode, _ v: ONNXValues, gates: Int) throws -> Shapes {
        let x = try v.input(node, 0), w = try v.input(node, 1), r = try v.input(node, 2)
        let hidden = try node.int("hidden_size", r.rank == 3 ? r.shape[2] : 0)
        let direction = try node.string("direction", "forward")
        guard let reverse = ["forward": [false], "reverse": [true], "bidirectional": [false, true]][direction] else {
            throw node.error("direction \(direction)")
        }
        guard try node.int("layout", 0) == 0 else { throw node.unsupported("layout 1 (batch first)") }
        guard node.attributes["activations"] == nil, node.attributes["clip"] == nil, try node.int("input_forget", 0) == 0 else {
            throw node.unsupported("custom activations, clip or input_forget")
        }
        guard !node.hasInput(4) else { throw node.unsupported("sequence_lens (variable lengths)") }
        guard !node.hasInput(7) else { throw node.unsupported("peephole weights P") }
        let d = reverse.count
        guard x.rank == 3, hidden > 0, w.shape == [d, gates * hidden, x.shape[2]], r.shape == [d, gates * hidden, hidden] else {
            throw node.error("expected X [T, B, I], W [\(d), \(gates)·H, I], R [\(d), \(gates)·H, H]; got \(x.shape), \(w.shape), \(r.shape)")
        }
        if let b = try v.optional(node, 3), b.shape != [d, 2 * gates * hidden] { throw node.error("B must be [\(d), \(2 * gates * hidden)], got \(b.shape)") }
        for k in [5, 6] where node.hasInput(k) {
            let s = try v.input(node, k)
            guard s.shape == [d, x.shape[1], hidden] else { throw node.error("initial state must be [\(d), B, \(hidden)], got \(s.shape)") }
        }
        return Shapes(steps: x.shape[0], batch: x.shape[1], directions: d, hidden: hidden, reverse: reverse)
    }

    /// Rows of gate blocks `order` (each `hidden` rows) of a [G·H, ·] matrix.
    static func rows(_ order: [Int], hidden: Int) -> Tensor {
        Tensor(shape: [order.count * hidden], scalars: order.flatMap { g in (0..<hidden).map { Int64(g * hidden + $0) } })
    }

    static func pick(_ t: Tensor, _ index: Int) -> Tensor { Tensor.apply(IndexSelectOp(axis: 0), [t, Tensor(shape: [], scalars: [Int64(index)])])[0] }

    static func lstm(_ node: ONNXNode, _ v: ONNXValues) throws -> [Tensor?] {
        let s = try check(node, v, gates: 4)
        let x = try v.input(node, 0), w = try v.input(node, 1), r = try v.input(node, 2), b = try v.optional(node, 3)
        let order = rows([0, 2, 3, 1], hidden: s.hidden)   // Apus i, f, g, o from ONNX i, o, f, c
        var ys: [Tensor] = [], hs: [Tensor] = [], cs: [Tensor] = []
        for d in 0..<s.directions {
            let wd = Tensor.apply(IndexSelectOp(axis: 0), [pick(w, d), order])[0]
            let rd = Tensor.apply(IndexSelectOp(axis: 0), [pick(r, d), order])[0]
            var gates = x.matmul(wd.transposed())
            if let b {
                let bd = pick(b, d), both = bd.split(count: 2, axis: 0)
                gates = gates + Tensor.apply(IndexSelectOp(axis: 0), [both[0] + both[1], order])[0]
            }
            let zeros = Tensor.zeros([s.batch, s.hidden], dtype: x.dtype)
            let h0 = try v.optional(node, 5).map { pick($0, d) } ?? zeros, c0 = try v.optional(node, 6).map { pick($0, d) } ?? zeros
            let (y, h, c) = lstmSequence(inputGates: gates, h0: h0, c0: c0, weightHH: rd, reverse: s.reverse[d])
            (ys, hs, cs) = (ys + [y], hs + [h], cs + [c])
        }
        return [Tensor.stack(ys, axis: 1), Tensor.stack(hs, axis: 0), Tensor.stack(cs, axis: 0)]
    }

    static func gru(_ node: ONNXNode, _ v: ONNXValues) throws -> [Tensor?] {
        let s = try check(node, v, gates: 3)
        let x = try v.input(node, 0), w = try v.input(node, 1), r = try v.input(node, 2), b = try v.optional(node, 3)
        let linearBeforeReset = try node.int("linear_before_reset", 0) != 0
        var ys: [Tensor] = [], hs: [Tensor] = []
        for d in 0..<s.directions {
            let wd = pick(w, d), rd = pick(r, d)   // gates z, r, h
            var projected = x.matmul(wd.transposed())                  // [T, B, 3H]
            var recurrentBias: [Tensor]? = nil
            if let b {
                let halves = pick(b, d).split(count: 2, axis: 0)
                projected = projected + halves[0]
                recurrentBias = halves[1].split(count: 3, axis: 0)
            }
            let rz = rd.split(count: 3, axis: 0)
            let rzr = Tensor.concat([rz[0], rz[1]], axis: 0).transposed()   // [H, 2H]
            let rh = rz[2].transposed()                                     // [H, H]
            let steps = projected.unstacked(axis: 0)
            var h = try v.optional(node, 5).map { pick($0, d) } ?? Tensor.zeros([s.batch, s.hidden], dtype: x.dtype)
            var outputs = [Tensor](repeating: h, count: s.steps)
            for t in (s.reverse[d] ? Array((0..<s.steps).reversed()) : Array(0..<s.steps)) {
                let xg = steps[t].split(count: 3, axis: 1)
                var hzr = h.matmul(rzr)
                if let rb = recurrentBias { hzr = hzr + Tensor.concat([rb[0], rb[1]], axis: 0) }
                let hg = hzr.split(count: 2, axis: 1)
                let z = (xg[0] + hg[0]).sigmoid(), reset = (xg[1] + hg[1]).sigmoid()
                let candidate: Tensor
                if linearBeforeReset {
                    var hh = h.matmul(rh)
                    if let rb = recurrentBias { hh = hh + rb[2] }
                    candidate = (xg[2] + reset * hh).tanh()
                } else {
                    var hh = (reset * h).matmul(rh)
                    if let rb = recurrentBias { hh = hh + rb[2] }
                    candidate = (xg[2] + hh).tanh()
                }
                h = candidate + z * (h - candidate)
                outputs[t] = h
            }
            ys.append(Tensor.stack(outputs, axis: 0))
            hs.append(h)
        }
        return [Tensor.stack(ys, axis: 1), Tensor.stack(hs, axis: 0)]
    }
}
