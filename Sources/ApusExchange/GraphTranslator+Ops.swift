import Apus

/// The op table of the ONNX export: each traced Apus op as ONNX nodes (opset 17).
extension GraphTranslator {
    /// Emits ONNX nodes for `node` (its twin in the second trace is `other`); returns one name
    /// per output (nil for outputs with no ONNX counterpart), or nil when the op has no mapping.
    mutating func emit(_ node: Graph.Node, _ other: Graph.Node, scope: String) throws -> [String?]? {
        let op = node.op
        if let a = op as? Conv2dInputGradOp, let b = other.op as? Conv2dInputGradOp {
            guard a.geometry == b.geometry, a.inputShape.dropFirst() == b.inputShape.dropFirst() else {
                throw ONNXError(.batchDependent, "ONNX export: transposed convolution at \(scope) changes with the batch size")
            }
        } else if !(op is ReshapeOp || op is ExpandOp || op is SliceOp || op is SplitOp),
           String(describing: op) != String(describing: other.op) {
            throw ONNXError(.batchDependent, "ONNX export: op \(op.name) at \(scope) has attributes that depend on the batch size "
                            + "(\(op) vs \(other.op)); export with a fixed batch (batchAxis: nil)")
        }
        let x = try node.inputs.map { try name($0) }
        let out = node.outputs.first ?? -1
        let dtype = out >= 0 ? spec(out).dtype : .float32
        switch op {
        case let op as BinaryOp:
            let table: [BinaryOp.Kind: String] = [.add: "Add", .sub: "Sub", .mul: "Mul", .div: "Div", .pow: "Pow", .maximum: "Max", .minimum: "Min"]
            guard let onnx = table[op.kind] else { return nil }
            return [builder.node1(onnx, x, scope: scope)]
        case let op as CompareOp:
            switch op.kind {
            case .equal: return [builder.node1("Equal", x, scope: scope)]
            case .notEqual: return [builder.node1("Not", [builder.node1("Equal", x, scope: scope)], scope: scope)]
            case .less: return [builder.node1("Less", x, scope: scope)]
            case .lessEqual: return [builder.node1("LessOrEqual", x, scope: scope)]
            case .greater: return [builder.node1("Greater", x, scope: scope)]
            case .greaterEqual: return [builder.node1("GreaterOrEqual", x, scope: scope)]
            }
        case is WhereOp:
            return [builder.node1("Where", x, scope: scope)]
        case let op as UnaryOp:
            return try unary(op, x[0], dtype: dtype, scope: scope).map { [$0] }
        case let op as CastOp:
            return [builder.node1("Cast", x, scope: scope, [.int("to", Int(ONNXElementType.code(op.dtype)))])]
        case is CopyOp:
            return [builder.node1("Identity", x, scope: scope)]
        case let op as MatMulOp:
            guard op.withBias else { return [builder.node1("MatMul", x, scope: scope)] }
            let product = builder.node1("MatMul", Array(x.prefix(2)), scope: scope)
            return [builder.node1("Add", [product, x[2]], scope: scope)]
        case let op as ConcatOp:
            return [builder.node1("Concat", x, scope: scope, [.int("axis", op.axis)])]
        case let op as SplitOp:
            let axis = op.axis < 0 ? op.axis + spec(node.inputs[0]).shape.count : op.axis
            guard !dynamicAxes(node.inputs[0]).contains(axis) else {
                throw ONNXError(.batchDependent, "ONNX export: split at \(scope) splits the batch axis")
            }
            let sizes = try builder.int64s(op.sizes, scope: scope)
            return builder.node("Split", [x[0], sizes], scope: scope, outputs: op.sizes.count, [.int("axis", axis)]).map { $0 }
        case let op as PadOp:
            let pads = op.padding.map(\.before) + op.padding.map(\.after)
            let value = try builder.scalar(op.value, dtype)
            return [builder.node1("Pad", [x[0], try builder.int64s(pads, scope: scope), value], scope: scope, [.string("mode", "constant")])]
        case let op as Conv2dOp:
            return [builder.node1("Conv", x, scope: scope, convolution(op.geometry, weight: node.inputs[1]))]
        case let op as Conv2dBiasReLUOp:
            let y = builder.node1("Conv", x, scope: scope, convolution(op.geometry, weight: node.inputs[1]))
            return [op.relu ? builder.node1("Relu", [y], scope: scope) : y]
        case let op as Conv2dMaxPoolOp:
            var y = builder.node1("Conv", x, scope: scope, convolution(op.convolution, weight: node.inputs[1]))
            if op.relu { y = builder.node1("Relu", [y], scope: scope) }
            return [builder.node1("MaxPool", [y], scope: scope, pooling(op.pool)), nil]
        case let op as Conv2dInputGradOp:   // a transposed convolution (ConvTranspose2d's forward)
            let g = op.geometry, xs = spec(node.inputs[0]).shape, w = spec(node.inputs[1]).shape
            let extra = [2, 3].map { axis in
                let (stride, pad, dilation) = axis == 2 ? (g.strideH, g.padH, g.dilationH) : (g.strideW, g.padW, g.dilationW)
                return op.inputShape[axis] - ((xs[axis] - 1) * stride - 2 * pad + dilation * (w[axis] - 1) + 1)
            }
            return [builder.node1("ConvTranspose", x, scope: scope, convolution(g, weight: node.inputs[1]) + [.ints("output_padding", extra)])]
        case let op as MaxPool2dOp:
            return [builder.node1("MaxPool", x, scope: scope, pooling(op.geometry))]
        case let op as AvgPool2dOp:
            return [builder.node1("AveragePool", x, scope: scope, pooling(op.geometry) + [.int("count_include_pad", op.countIncludePad ? 1 : 0)])]
        case let op as LayerNormOp:
            return try layerNorm(op, node, x, scope: scope)
        case is ReshapeOp:
            return [builder.node1("Reshape", [x[0], try reshapeTarget(node, scope: scope)], scope: scope)]
        case let op as PermuteOp:
            return [builder.node1("Transpose", x, scope: scope, [.ints("perm", op.permutation)])]
        case is ExpandOp:
            return [builder.node1("Expand", [x[0], try expandTarget(node, scope: scope)], scope: scope)]
        case let op as SliceOp:
            return [try slice(op, other.op as! SliceOp, node, x[0], scope: scope)]
        case let op as FlipOp:
            let rank = spec(node.inputs[0]).shape.count
            let axes = Array(Set(op.axes.map { $0 < 0 ? $0 + rank : $0 })).sorted()
            let n = axes.count
            return [builder.node1("Slice", [x[0], try builder.int64s(Array(repeating: -1, count: n), scope: scope),
                                            try builder.int64s(Array(repeating: Int(Int64.min), count: n), scope: scope),
                                            try builder.int64s(axes, scope: scope),
                                            try builder.int64s(Array(repeating: -1, count: n), scope: scope)], scope: scope)]
        case let op as ReduceOp:
            let keep = ONNXAttribute.int("keepdims", op.keepDims ? 1 : 0)
            switch op.kind {
            case .sum:
                let axes = op.axes.isEmpty ? [] : [try builder.int64s(op.axes, scope: scope)]
                return [builder.node1("ReduceSum", [x[0]] + axes, scope: scope, [keep])]
            case .max, .min, .sumOfSquares:
                let axes: [ONNXAttribute] = op.axes.isEmpty ? [] : [.ints("axes", op.axes)]
                let name = op.kind == .max ? "ReduceMax" : op.kind == .min ? "ReduceMin" : "ReduceSumSquare"
                return [builder.node1(name, x, scope: scope, [keep] + axes)]
            }
        case let op as ArgReduceOp:
            return [builder.node1(op.isMax ? "ArgMax" : "ArgMin", x, scope: scope, [.int("axis", op.axis), .int("keepdims", op.keepDims ? 1 : 0)])]
        case let op as SoftmaxOp:
            return [builder.node1(op.logSpace ? "LogSoftmax" : "Softmax", x, scope: scope, [.int("axis", op.axis)])]
        case is CausalSoftmaxOp:
            let shape = spec(node.inputs[0]).shape
            let (l, s) = (shape[shape.count - 2], shape[shape.count - 1])
            var mask = [Double](repeating: 0, count: l * s)
            for i in 0..<l { for j in 0..<s where j > i { mask[i * s + j] = -.infinity } }
            let maskName = try builder.initializer(Tensor(shape: [l, s], scalars: mask, dtype: dtype), name: "\(scope)/causal_mask")
            return [builder.node1("Softmax", [builder.node1("Add", [x[0], maskName], scope: scope)], scope: scope, [.int("axis", -1)])]
        case let op as IndexSelectOp:
            return [builder.node1("Gather", x, scope: scope, [.int("axis", op.axis)])]
        case let op as GatherOp:
            return [builder.node1("GatherElements", x, scope: scope, [.int("axis", op.axis)])]
        case let op as OneHotOp:
            let depth = try builder.int64s([op.classes], scope: scope)
            let values = try builder.initializer(Tensor(shape: [2], scalars: [0.0, 1.0], dtype: op.dtype), name: "\(scope)/onehot_values")
            return [builder.node1("OneHot", [x[0], depth, values], scope: scope, [.int("axis", -1)])]
        case let op as LSTMSequenceOp:
            return try lstmSequence(op, node, x, scope: scope)
        default:
            return nil
        }
    }

    /// Whether `emit` maps `op` (for naming unsupported ops after an earlier failure).
    static func hasMapping(_ op: any Operation) -> Bool {
        switch op {
        case let op as BinaryOp: return op.kind != .reluGrad
        case let op as UnaryOp: return ![.geluDerivative, .geluTanhDerivative, .clampMask].contains(op.kind)
        case is CompareOp, is WhereOp, is CastOp, is CopyOp, is MatMulOp, is ConcatOp, is SplitOp, is PadOp, is Conv2dOp,
             is Conv2dBiasReLUOp, is Conv2dMaxPoolOp, is Conv2dInputGradOp, is MaxPool2dOp, is AvgPool2dOp, is LayerNormOp, is ReshapeOp, is PermuteOp,
             is ExpandOp, is SliceOp, is FlipOp, is ReduceOp, is ArgReduceOp, is SoftmaxOp, is CausalSoftmaxOp, is IndexSelectOp,
             is GatherOp, is OneHotOp, is LSTMSequenceOp:
            return true
        default:
            return false
        }
    }

    // MARK: - Elementwise

    mutating func unary(_ op: UnaryOp, _ x: String, dtype: DType, scope: String) throws -> String? {
        func constant(_ v: Double) throws -> String { try builder.scalar(v, dtype) }
        let simple: [UnaryOp.Kind: String] = [.neg: "Neg", .exp: "Exp", .log: "Log", .sqrt: "Sqrt", .abs: "Abs", .sin: "Sin",
                                              .cos: "Cos", .tanh: "Tanh", .sigmoid: "Sigmoid", .relu: "Relu", .softplus: "Softplus",
                                              .sign: "Sign"]
        if let name = simple[op.kind] { return builder.node1(name, [x], scope: scope) }
        switch op.kind {
        case .rsqrt:
            return builder.node1("Reciprocal", [builder.node1("Sqrt", [x], scope: scope)], scope: scope)
        case .leakyRelu:
            return builder.node1("LeakyRelu", [x], scope: scope, [.float("alpha", op.p0)])
        case .gelu:   // x · ½(1 + erf(x/√2))
            let erf = builder.node1("Erf", [builder.node1("Mul", [x, try constant(1 / 2.0.squareRoot())], scope: scope)], scope: scope)
            let half = builder.node1("Mul", [x, try constant(0.5)], scope: scope)
            return builder.node1("Mul", [half, builder.node1("Add", [erf, try constant(1)], scope: scope)], scope: scope)
        case .geluTanh:   // ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
            let cube = builder.node1("Mul", [builder.node1("Mul", [x, x], scope: scope), x], scope: scope)
            let inner = builder.node1("Add", [x, builder.node1("Mul", [cube, try constant(0.044715)], scope: scope)], scope: scope)
            let t = builder.node1("Tanh", [builder.node1("Mul", [inner, try constant((2 / Double.pi).squareRoot())], scope: scope)], scope: scope)
            let half = builder.node1("Mul", [x, try constant(0.5)], scope: scope)
            return builder.node1("Mul", [half, builder.node1("Add", [t, try constant(1)], scope: scope)], scope: scope)
        case .clamp:
            let low = op.p0.isInfinite ? "" : try constant(op.p0), high = op.p1.isInfinite ? "" : try constant(op.p1)
            return builder.node1("Clip", [x, low, high], scope: scope)
        case .step:
            return builder.node1("Cast", [builder.node1("Greater", [x, try constant(0)], scope: scope)], scope: scope,
                                 [.int("to", Int(ONNXElementType.code(dtype)))])
        case .affine:
            var y = x
            if op.p0 != 1 { y = builder.node1("Mul", [y, try constant(op.p0)], scope: scope) }
            if op.p1 != 0 { y = builder.node1("Add", [y, try constant(op.p1)], scope: scope) }
            return y == x ? builder.node1("Identity", [x], scope: scope) : y
        case .powScalar:
            return builder.node1("Pow", [x, try constant(op.p0)], scope: scope)
        default:
            return nil   // gradient-only kinds (geluDerivative, clampMask, …)
        }
    }

    // MARK: - Convolution, pooling, normalisation

    func convolution(_ g: Conv2dGeometry, weight: Int) -> [ONNXAttribute] {
        let w = spec(weight).shape
        return [.ints("kernel_shape", [w[2], w[3]]), .ints("strides", [g.strideH, g.strideW]),
                .ints("pads", [g.padH, g.padW, g.padH, g.padW]), .ints("dilations", [g.dilationH, g.dilationW]), .int("group", g.groups)]
    }

    func pooling(_ g: PoolGeometry) -> [ONNXAttribute] {
        [.ints("kernel_shape", [g.kernelH, g.kernelW]), .ints("strides", [g.strideH, g.strideW]),
         .ints("pads", [g.padH, g.padW, g.padH, g.padW]), .int("ceil_mode", g.ceilMode ? 1 : 0)]
    }

    /// LayerNormalization over the trailing dims holding `count` elements; Apus's mean and
    /// inverse-deviation outputs (for the backward) get no name.
    mutating func layerNorm(_ op: LayerNormOp, _ node: Graph.Node, _ x: [String], scope: String) throws -> [String?] {
        let shape = spec(node.inputs[0]).shape
        var axis = shape.count, size = 1
        while axis > 0 && size < op.count {
            axis -= 1
            size *= shape[axis]
        }
        guard size == op.count else {
            throw ONNXError(.unsupported, "ONNX export: layerNorm at \(scope) normalises \(op.count) elements, not whole trailing dims of \(shape)")
        }
        let trailing = Array(shape[axis...])
        let dtype = spec(node.inputs[0]).dtype
        func shaped(_ name: String) throws -> String {
            trailing.count == 1 ? name : builder.node1("Reshape", [name, try builder.int64s(trailing, scope: scope)], scope: scope)
        }
        var next = 1
        let scale = op.hasWeight ? try shaped(x[next]) : try builder.initializer(Tensor.ones(trailing, dtype: dtype), name: "\(scope)/ones")
        if op.hasWeight { next += 1 }
        let bias = op.hasBias ? try shaped(x[next]) : ""
        let y = builder.node1("LayerNormalization", [x[0], scale] + (bias.isEmpty ? [] : [bias]), scope: scope,
                              [.int("axis", axis), .float("epsilon", op.epsilon)])
        return [y, nil, nil]
    }

    // MARK: - Shapes that may follow the batch

    /// Reshape's target: fixed dims, `-1` for the one that follows the batch, `0` (copy) for
    /// further ones that keep the input's batch-sized dim in place.
    mutating func reshapeTarget(_ node: Graph.Node, scope: String) throws -> String {
        let input = node.inputs[0], output = node.outputs[0]
        var target = spec(output).shape
        let dynamic = dynamicAxes(output)
        if dynamic.count == 1 {
            target[dynamic[0]] = -1
        } else if dynamic.count > 1 {
            let inA = first.values[input].shape, inB = second.values[input].shape, outB = second.values[output].shape
            var remaining: [Int] = []
            for axis in dynamic {
                if axis < inA.count && inA[axis] == target[axis] && inB[axis] == outB[axis] { target[axis] = 0 } else { remaining.append(axis) }
            }
            guard remaining.count <= 1 else {
                throw ONNXError(.batchDependent, "ONNX export: reshape at \(scope) to \(spec(output).shape) has several dims that follow the batch")
            }
            if let axis = remaining.first { target[axis] = -1 }
        }
        return try builder.int64s(target, scope: scope)
    }

    /// Expand's target with each batch-sized dim given as 1 (kept from the input).
    mutating func expandTarget(_ node: Graph.Node, scope: String) throws -> String {
        let input = spec(node.inputs[0]).shape, inputDynamic = Set(dynamicAxes(node.inputs[0]))
        var target = spec(node.outputs[0]).shape
        let offset = target.count - input.count
        for axis in dynamicAxes(node.outputs[0]) {
            guard axis - offset >= 0, inputDynamic.contains(axis - offset) else {
                throw ONNXError(.batchDependent, "ONNX export: expand at \(scope) broadcasts a dim to the batch size")
            }
            target[axis] = 1
        }
        return try builder.int64s(target, scope: scope)
    }

    /// Slice over the ranges that are not whole dims; a range running to the end of a dim that
    /// follows the batch runs to the end at any batch.
    mutating func slice(_ op: SliceOp, _ twin: SliceOp, _ node: Graph.Node, _ x: String, scope: String) throws -> String {
        let shape = spec(node.inputs[0]).shape, shapeB = second.values[node.inputs[0]].shape
        var starts: [Int] = [], ends: [Int] = [], axes: [Int] = [], steps: [Int] = []
        for (axis, (r, t)) in zip(op.ranges, twin.ranges).enumerated() {
            let whole = r.start == 0 && r.step == 1 && r.end == shape[axis]
            if shape[axis] == shapeB[axis] {
                guard r == t else { throw ONNXError(.batchDependent, "ONNX export: slice at \(scope) depends on the batch size") }
                if whole { continue }
                (starts, ends, axes, steps) = (starts + [r.start], ends + [r.end], axes + [axis], steps + [r.step])
            } else {
                let wholeB = t.start == 0 && t.step == 1 && t.end == shapeB[axis]
                if whole && wholeB { continue }
                guard r.start == t.start && r.step == t.step && r.end == shape[axis] && t.end == shapeB[axis] else {
                    throw ONNXError(.batchDependent, "ONNX export: slice at \(scope) takes part of the batch axis")
                }
                (starts, ends, axes, steps) = (starts + [r.start], ends + [Int(Int64.max)], axes + [axis], steps + [r.step])
            }
        }
        if axes.isEmpty { return builder.node1("Identity", [x], scope: scope) }
        return builder.node1("Slice", [x, try builder.int64s(starts, scope: scope), try builder.int64s(ends, scope: scope),
                                       try builder.int64s(axes, scope: scope), try builder.int64s(steps, scope: scope)], scope: scope)
    }

    // MARK: - LSTM

    /// One LSTM direction over precomputed input gates [T, B, 4H] (Apus gate order i, f, g, o)
    /// as ONNX `LSTM`: X = the gates, W = the permutation [1, 4H, 4H] to ONNX's order i, o, f, c
    /// (exact: one 1 per row), R = weightHH's rows in that order, zero initial states omitted.
    /// Outputs y [T, B, H], hT, cT [B, H]; the op's saved-for-backward outputs get no name.
    mutating func lstmSequence(_ op: LSTMSequenceOp, _ node: Graph.Node, _ x: [String], scope: String) throws -> [String?] {
        guard node.inputs.count == 4 else {
            throw ONNXError(.unsupported, "ONNX export: lstmSequence at \(scope) has a step mask (variable lengths); export it without lengths/mask")
        }
        let weight = spec(node.inputs[3]), hidden = weight.shape[1], dtype = weight.dtype
        let order = [0, 3, 1, 2]   // ONNX gate k is Apus gate order[k]
        var permutation = [Double](repeating: 0, count: 16 * hidden * hidden)
        for k in 0..<4 { for j in 0..<hidden { permutation[(k * hidden + j) * 4 * hidden + order[k] * hidden + j] = 1 } }
        let w = try builder.initializer(Tensor(shape: [1, 4 * hidden, 4 * hidden], scalars: permutation, dtype: dtype), name: "\(scope)/gate_order")
        let rows = order.flatMap { g in (0..<hidden).map { g * hidden + $0 } }
        let rowsName = try builder.initializer(Tensor(shape: [rows.count], scalars: rows.map(Int64.init)), name: "\(scope)/gate_rows")
        let r = builder.node1("Unsqueeze", [builder.node1("Gather", [x[3], rowsName], scope: scope, [.int("axis", 0)]),
                                            try builder.int64s([0], scope: scope)], scope: scope)
        func state(_ k: Int) throws -> String {
            let id = node.inputs[k]
            if let c = first.constants[id], first.literals.contains(id), c.count <= 1 << 22, c.scalars(as: Double.self).allSatisfy({ $0 == 0 }) {
                return ""
            }
            return builder.node1("Unsqueeze", [x[k], try builder.int64s([0], scope: scope)], scope: scope)
        }
        let (h0, c0) = (try state(1), try state(2))
        let outs = builder.node("LSTM", [x[0], w, r, "", "", h0, c0], scope: scope, outputs: 3,
                                [.int("hidden_size", hidden), .string("direction", op.reverse ? "reverse" : "forward")])
        let y = builder.node1("Squeeze", [outs[0], try builder.int64s([1], scope: scope)], scope: scope)
        let h = builder.node1("Squeeze", [outs[1], try builder.int64s([0], scope: scope)], scope: scope)
        let c = builder.node1("Squeeze", [outs[2], try builder.int64s([0], scope: scope)], scope: scope)
        return [y, h, c, nil, nil, nil, nil]
    }
}
