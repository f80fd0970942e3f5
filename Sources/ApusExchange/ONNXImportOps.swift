import Apus

/// The op table of the ONNX import: each supported ONNX node run with Apus ops, so imported
/// models differentiate (fine-tuning) and run wherever Apus runs.
enum ONNXImportOps {
    /// ONNX op types (default domain) the importer runs.
    static let supported: Set<String> = [
        "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "Sub", "Div", "Pow", "Mod", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu",
        "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Softmax", "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool",
        "BatchNormalization", "LayerNormalization", "Flatten", "Reshape", "Transpose", "Concat", "Gather", "Slice", "Unsqueeze",
        "Squeeze", "Split", "LSTM", "GRU", "Dropout", "Identity", "Constant", "Shape", "Cast", "Expand", "ReduceMean", "ReduceSum",
    ]

    /// Runs `node` on the values it reads; returns one tensor per output (nil: not produced).
    static func run(_ node: ONNXNode, _ v: ONNXValues) throws -> [Tensor?] {
        func x(_ k: Int) throws -> Tensor { try v.input(node, k) }
        switch node.opType {
        case "Identity": return [try x(0)]
        case "Dropout": return [try x(0), nil]
        case "Constant": return [try constant(node)]
        case "Add": return [try x(0) + x(1)]
        case "Sub": return [try x(0) - x(1)]
        case "Mul": return [try x(0) * x(1)]
        case "Div": return [try x(0) / x(1)]
        case "Pow": return [Tensor.pow(try x(0), try x(1).cast(to: try x(0).dtype))]
        case "Mod": return [try mod(node, x(0), x(1))]
        case "Relu": return [try x(0).relu()]
        case "LeakyRelu": return [try x(0).leakyRelu(negativeSlope: node.float("alpha", 0.01))]
        case "Sigmoid": return [try x(0).sigmoid()]
        case "Tanh": return [try x(0).tanh()]
        case "Gelu":
            let approximate = try node.string("approximate", "none")
            guard approximate == "none" || approximate == "tanh" else { throw node.error("approximate must be none or tanh") }
            return [try x(0).gelu(approximate: approximate == "tanh" ? .tanh : .none)]
        case "Erf": return [erf(try x(0))]
        case "Sqrt": return [try x(0).sqrt()]
        case "Exp": return [try x(0).exp()]
        case "Log": return [try x(0).log()]
        case "Neg": return [-(try x(0))]
        case "Abs": return [try x(0).abs()]
        case "Reciprocal": return [1 / (try x(0))]
        case "Softmax", "LogSoftmax":
            let input = try x(0)
            return [Tensor.apply(SoftmaxOp(axis: try node.int("axis", -1), logSpace: node.opType == "LogSoftmax"), [input])[0]]
        case "MatMul": return [try matmul(x(0), x(1))]
        case "Gemm": return [try gemm(node, v)]
        case "Conv": return [try ONNXConvolution.conv(node, v)]
        case "ConvTranspose": return [try ONNXConvolution.convTranspose(node, v)]
        case "MaxPool", "AveragePool": return [try ONNXConvolution.pool(node, v), nil]
        case "GlobalAveragePool":
            let input = try x(0)
            guard input.rank >= 3 else { throw node.error("input must be [N, C, …], got \(input.shape)") }
            return [input.mean(axes: Array(2..<input.rank), keepDims: true)]
        case "BatchNormalization": return try batchNorm(node, v)
        case "LayerNormalization": return try layerNorm(node, v)
        case "Flatten":
            let input = try x(0)
            var axis = try node.int("axis", 1)
            if axis < 0 { axis += input.rank }
            guard (0...input.rank).contains(axis) else { throw node.error("axis \(axis) out of range for rank \(input.rank)") }
            return [input.reshaped([input.shape[..<axis].reduce(1, *), input.shape[axis...].reduce(1, *)])]
        case "Reshape": return [try reshape(node, v)]
        case "Transpose":
            let input = try x(0)
            let perm = try node.ints("perm") ?? Array((0..<input.rank).reversed())
            return [input.permuted(perm)]
        case "Concat":
            let tensors = try node.inputs.indices.filter(node.hasInput).map { try v.input(node, $0) }
            guard !tensors.isEmpty else { throw node.error("needs at least one input") }
            return [Tensor.concat(tensors, axis: try node.int("axis", 0))]
        case "Gather": return [try gather(node, x(0), x(1))]
        case "Slice": return [try slice(node, v)]
        case "Unsqueeze": return [try unsqueeze(node, v)]
        case "Squeeze": return [try squeeze(node, v)]
        case "Split": return try split(node, v)
        case "Shape": return [try shape(node, x(0))]
        case "Cast":
            let code = try node.int("to", 0)
            guard let dtype = ONNXElementType.dtype(Int32(clamping: code)) else {
                throw node.unsupported("Cast to \(ONNXElementType.name(Int32(clamping: code))), which Apus has no tensors of")
            }
            return [try x(0).cast(to: dtype)]
        case "Expand":
            let input = try x(0), target = try v.ints(node, 1)
            let rank = Swift.max(input.rank, target.count)
            let a = [Int](repeating: 1, count: rank - input.rank) + input.shape, b = [Int](repeating: 1, count: rank - target.count) + target
            let shape = zip(a, b).map { $0 == 1 ? $1 : $0 }
            guard checkedCount(shape) != nil else { throw node.error("shape \(target) is invalid or too large") }
            return [input.reshaped(a).expanded(to: shape)]
        case "ReduceMean", "ReduceSum": return [try reduce(node, v)]
        case "LSTM": return try ONNXRecurrent.lstm(node, v)
        case "GRU": return try ONNXRecurrent.gru(node, v)
        default: throw node.unsupported("no Apus mapping")
        }
    }

    /// erf(x) from Apus ops (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5·10⁻⁷), so it differentiates:
    /// sign(x)·(1 − p(t)·e^(−x²)) with t = 1/(1 + 0.3275911·|x|). PyTorch exports GELU through it.
    static func erf(_ x: Tensor) -> Tensor {
        let a: Tensor = x.abs()
        let t: Tensor = 1 / (a * 0.3275911 + 1)
        var p: Tensor = t * 1.061405429 - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        p = p * t
        let y: Tensor = 1 - p * (-(a * a)).exp()
        return x.sign() * y
    }

    /// Gather along `axis`; constant negative indices count from the end (as ONNX allows).
    static func gather(_ node: ONNXNode, _ data: Tensor, _ indices: Tensor) throws -> Tensor {
        var axis = try node.int("axis", 0)
        if axis < 0 { axis += data.rank }
        guard (0..<Swift.max(data.rank, 1)).contains(axis), data.rank > 0 else { throw node.error("axis out of range for \(data.shape)") }
        var index = indices
        if !indices.isSymbolic, indices.dtype == .int64 || indices.dtype == .int32, indices.count <= 1 << 20 {
            let size = Int64(data.shape[axis])
            let values = indices.scalars(as: Int64.self)
            if values.contains(where: { $0 < 0 }) { index = Tensor(shape: indices.shape, scalars: values.map { $0 < 0 ? $0 + size : $0 }) }
        }
        return Tensor.apply(IndexSelectOp(axis: axis), [data, index])[0]
    }

    static func constant(_ node: ONNXNode) throws -> Tensor {
        if let a = node.attributes["value"] { return try Tensor(onnx: a.t) }
        if let a = node.attributes["value_float"] { return Tensor.full([], Double(a.f)) }
        if let a = node.attributes["value_floats"] { return Tensor(shape: [a.floats.count], scalars: a.floats) }
        if let a = node.attributes["value_int"] { return Tensor(shape: [], scalars: [a.i]) }
        if let a = node.attributes["value_ints"] { return Tensor(shape: [a.ints.count], scalars: a.ints) }
        throw node.unsupported("a Constant needs value, value_float(s) or value_int(s)")
    }

    /// Integer Mod on constants (shape arithmetic), with fmod = 0 (the divisor's sign) or 1.
    static func mod(_ node: ONNXNode, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard !a.isSymbolic && !b.isSymbolic, a.dtype == .int64 || a.dtype == .int32, a.dtype == b.dtype, a.shape == b.shape || b.count == 1 else {
            throw node.unsupported("Mod is supported on constant integer tensors only")
        }
        let x = a.scalars(as: Int64.self), y = b.scalars(as: Int64.self)
        let fmod = try node.int("fmod", 0) == 1
        let values: [Int64] = try x.indices.map { i in
            let d = y[b.count == 1 ? 0 : i]
            guard d != 0 else { throw node.error("division by zero") }
            if d == -1 { return 0 }
            let r = x[i] % d
            return !fmod && r != 0 && (r < 0) != (d < 0) ? r + d : r
        }
        return Tensor(shape: a.shape, scalars: values).cast(to: a.dtype)
    }

    static func shape(_ node: ONNXNode, _ input: Tensor) throws -> Tensor {
        var start = try node.int("start", 0), end = try node.int("end", input.rank)
        if start < 0 { start += input.rank }
        if end < 0 { end += input.rank }
        (start, end) = (Swift.min(Swift.max(start, 0), input.rank), Swift.min(Swift.max(end, 0), input.rank))
        let dims = start < end ? Array(input.shape[start..<end]) : []
        return Tensor(shape: [dims.count], scalars: dims.map(Int64.init))
    }

    /// ONNX MatMul (NumPy's): 1-D operands get a unit dim that is dropped again.
    static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let a2 = a.rank == 1 ? a.reshaped([1, -1]) : a, b2 = b.rank == 1 ? b.reshaped([-1, 1]) : b
        var y = a2.matmul(b2)
        if b.rank == 1 { y = y.squeezed(axis: -1) }
        if a.rank == 1 { y = y.squeezed(axis: -2) }
        return y
    }

    static func gemm(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        var a = try v.input(node, 0), b = try v.input(node, 1)
        guard a.rank == 2 && b.rank == 2 else { throw node.error("Gemm needs 2-D A and B, got \(a.shape), \(b.shape)") }
        if try node.int("transA", 0) != 0 { a = a.transposed() }
        if try node.int("transB", 0) != 0 { b = b.transposed() }
        let alpha = try node.float("alpha", 1), beta = try node.float("beta", 1)
        var y = a.matmul(b)
        if alpha != 1 { y = y * alpha }
        if let c = try v.optional(node, 2) { y = y + (beta == 1 ? c : c * beta) }
        return y
    }

    /// Inference BatchNormalization: (x − mean)·γ/√(var + ε) + β over axis 1.
    static func batchNorm(_ node: ONNXNode, _ v: ONNXValues) throws -> [Tensor?] {
        guard try node.int("training_mode", 0) == 0 else { throw node.unsupported("training_mode = 1 (export the model in eval mode)") }
        let x = try v.input(node, 0), scale = try v.input(node, 1), bias = try v.input(node, 2)
        let mean = try v.input(node, 3), variance = try v.input(node, 4)
        guard x.rank >= 2, [scale, bias, mean, variance].allSatisfy({ $0.shape == [x.shape[1]] }) else {
            throw node.error("needs x [N, C, …] and scale, B, mean, var of [C]; got \([x, scale, bias, mean, variance].map(\.shape))")
        }
        let broadcast = [1, -1] + [Int](repeating: 1, count: x.rank - 2)
        let factor = (variance + (try node.float("epsilon", 1e-5))).rsqrt() * scale
        let shift = bias - mean * factor
        return [x * factor.reshaped(broadcast) + shift.reshaped(broadcast), nil, nil]
    }

    static func layerNorm(_ node: ONNXNode, _ v: ONNXValues) throws -> [Tensor?] {
        let x = try v.input(node, 0), scale = try v.input(node, 1), bias = try v.optional(node, 2)
        var axis = try node.int("axis", -1)
        if axis < 0 { axis += x.rank }
        guard (0..<x.rank).contains(axis) else { throw node.error("axis out of range for \(x.shape)") }
        let count = x.shape[axis...].reduce(1, *)
        guard scale.count == count, bias.map({ $0.count == count }) ?? true else { throw node.error("Scale and B must hold \(count) elements") }
        let y = Apus.layerNorm(x, count: count, weight: scale.reshaped([count]), bias: bias?.reshaped([count]),
                               epsilon: try node.float("epsilon", 1e-5)).output
        return [y, nil, nil]
    }

    static func reshape(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0)
        var target = try v.ints(node, 1)
        if try node.int("allowzero", 0) == 0 {
            for i in target.indices where target[i] == 0 {
                guard i < x.rank else { throw node.error("shape \(target) copies dim \(i) of a rank-\(x.rank) input") }
                target[i] = x.shape[i]
            }
        }
        guard target.allSatisfy({ $0 >= -1 }), checkedCount(target.map { $0 == -1 ? 1 : $0 }) != nil else {
            throw node.error("shape \(target) is invalid or too large")
        }
        return x.reshaped(target)
    }

    /// Slice with constant starts, ends, axes and steps (ONNX's clamping; steps may be negative).
    static func slice(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0)
        let starts = try v.ints(node, 1), ends = try v.ints(node, 2)
        let axes = node.hasInput(3) ? try v.ints(node, 3) : Array(starts.indices)
        let steps = node.hasInput(4) ? try v.ints(node, 4) : [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw node.error("starts, ends, axes and steps must have one length")
        }
        var ranges = x.shape.map { SliceRange(start: 0, end: $0, step: 1) }
        var flips: [Int] = []
        for (k, rawAxis) in axes.enumerated() {
            let axis = rawAxis < 0 ? rawAxis + x.rank : rawAxis
            guard (0..<x.rank).contains(axis), steps[k] != 0 else { throw node.error("axis \(rawAxis) or step 0 out of range for \(x.shape)") }
            let size = x.shape[axis]
            let step = Swift.max(Swift.min(steps[k], Swift.max(size, 1)), -Swift.max(size, 1))   // larger steps take one element
            func clamp(_ i: Int, _ low: Int, _ high: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + size : i, low), high) }
            if step > 0 {
                let s = clamp(starts[k], 0, size), e = clamp(ends[k], 0, size)
                ranges[axis] = SliceRange(start: s, end: Swift.max(s, e), step: step)
            } else {
                // Backwards from start to end (exclusive): flip the axis, then slice forwards.
                let s = clamp(starts[k], -1, size - 1), e = clamp(ends[k], -1, size - 1)
                let (fs, fe) = (size - 1 - s, size - 1 - e)
                flips.append(axis)
                ranges[axis] = SliceRange(start: fs, end: Swift.max(fs, fe), step: -step)
            }
        }
        let source = flips.isEmpty ? x : Tensor.apply(FlipOp(axes: flips), [x])[0]
        return Tensor.apply(SliceOp(ranges: ranges), [source])[0]
    }

    static func axes(_ node: ONNXNode, _ v: ONNXValues) throws -> [Int]? {
        if node.hasInput(1) { return try v.ints(node, 1) }
        return try node.ints("axes")
    }

    static func unsqueeze(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0)
        guard let given = try axes(node, v) else { throw node.error("needs axes") }
        let rank = x.rank + given.count
        let axes = Set(given.map { $0 < 0 ? $0 + rank : $0 })
        guard axes.count == given.count, axes.allSatisfy({ (0..<rank).contains($0) }) else { throw node.error("axes \(given) invalid for output rank \(rank)") }
        var shape: [Int] = [], source = x.shape.makeIterator()
        for i in 0..<rank { shape.append(axes.contains(i) ? 1 : source.next()!) }
        return x.reshaped(shape)
    }

    static func squeeze(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0)
        let given = try axes(node, v) ?? x.shape.indices.filter { x.shape[$0] == 1 }
        let axes = Set(given.map { $0 < 0 ? $0 + x.rank : $0 })
        guard axes.allSatisfy({ (0..<x.rank).contains($0) && x.shape[$0] == 1 }) else { throw node.error("can only squeeze dims of size 1 of \(x.shape)") }
        return x.reshaped(x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] })
    }

    static func split(_ node: ONNXNode, _ v: ONNXValues) throws -> [Tensor?] {
        let x = try v.input(node, 0)
        var axis = try node.int("axis", 0)
        if axis < 0 { axis += x.rank }
        guard (0..<x.rank).contains(axis), !node.outputs.isEmpty else { throw node.error("axis out of range for \(x.shape)") }
        let size = x.shape[axis], n = node.outputs.count
        let sizes: [Int]
        if node.hasInput(1) {
            sizes = try v.ints(node, 1)
        } else if let given = try node.ints("split") {
            sizes = given
        } else {
            let chunk = (size + n - 1) / n
            sizes = (0..<n).map { Swift.max(0, Swift.min(chunk, size - $0 * chunk)) }
        }
        guard sizes.count == n, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == size else {
            throw node.error("split sizes \(sizes) must be \(n) non-negative sizes adding up to \(size)")
        }
        return Tensor.apply(SplitOp(axis: axis, sizes: sizes), [x]).map { Optional($0) }
    }

    static func reduce(_ node: ONNXNode, _ v: ONNXValues) throws -> Tensor {
        let x = try v.input(node, 0)
        let axes = try axes(node, v) ?? []
        let noop = try node.int("noop_with_empty_axes", 0) == 1
        if axes.isEmpty && noop { return x }
        let keep = try node.int("keepdims", 1) != 0
        return node.opType == "ReduceMean" ? x.mean(axes: axes, keepDims: keep) : x.sum(axes: axes, keepDims: keep)
    }
}
