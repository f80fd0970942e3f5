import CApusKernels

/// Softmax cross-entropy as one op: logits [N, C] and class ids [N] (int32 or int64, each in
/// 0..<C) → the loss of each row [N] (log-sum-exp − logit of the label) and the log-sum-exp [N]
/// that the backward pass reads. The probabilities are never written: the backward pass makes
/// g·(softmax − one-hot) in one pass over the logits (`SoftmaxCrossEntropyGradOp`).
public struct SoftmaxCrossEntropyOp: Operation {
    /// Creates the op; its inputs are (logits [N, C], labels [N]).
    public init() {}
    public var name: String { "softmaxCrossEntropy" }
    public var outputCount: Int { 2 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 2 && inputs[0].shape.count == 2 && inputs[0].dtype.isFloatingPoint && inputs[0].shape[1] > 0
                    && (inputs[1].dtype == .int64 || inputs[1].dtype == .int32) && inputs[1].shape == [inputs[0].shape[0]], name, inputs,
                    "float logits [N, C] (C > 0) and integer labels [N]")
        let rows = TensorSpec([inputs[0].shape[0]], inputs[0].dtype)
        return [rows, rows]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, (rows, classes) = (x.shape[0], x.shape[1])
        guard let labels = indicesInt64(inputs[1], size: classes, op: "crossEntropy", kind: "label") else {
            return outputs.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
        }
        let loss = Tensor(uninitialized: [rows], dtype: x.dtype), lse = Tensor(uninitialized: [rows], dtype: x.dtype)
        withExtendedLifetime((x, labels, loss, lse)) {
            CPUThreads.forChunks(rows, costPerItem: 2 * classes) { r in
                let (start, count) = (r.lowerBound, Int64(r.count))
                if x.dtype == .float32 {
                    apus_cross_entropy_f32(count, Int64(classes), x.pointer(Float.self) + start * classes, labels.pointer(Int64.self) + start,
                                           loss.pointer(Float.self) + start, lse.pointer(Float.self) + start)
                } else {
                    apus_cross_entropy_f64(count, Int64(classes), x.pointer(Double.self) + start * classes, labels.pointer(Int64.self) + start,
                                           loss.pointer(Double.self) + start, lse.pointer(Double.self) + start)
                }
            }
        }
        return [loss, lse]
    }

    public func vjp(_ c: VJPContext) -> [Tensor?] {
        // A cotangent of the log-sum-exp output (d lse / d logits = softmax) adds its own term.
        let logits = c.inputs[0], labels = c.inputs[1]
        if isGradEnabled {   // the gradient will be differentiated again: written with differentiable ops
            let p = logits.softmax(axis: 1), classes = logits.shape[1]
            let weighted = p * (c.cotangents[0] + c.cotangents[1]).unsqueezed(axis: 1)
            return [weighted - labels.oneHot(classes: classes, dtype: logits.dtype) * c.cotangents[0].unsqueezed(axis: 1), nil]
        }
        var gradient = Tensor.apply(SoftmaxCrossEntropyGradOp(), [logits, labels, c.outputs[1], c.cotangents[0]])[0]
        if c.receivedCotangent(1) {
            gradient = gradient + (logits - c.outputs[1].unsqueezed(axis: 1)).exp() * c.cotangents[1].unsqueezed(axis: 1)
        }
        return [gradient, nil]
    }
}

/// The gradient of `SoftmaxCrossEntropyOp`: (logits [N, C], labels [N], log-sum-exp [N],
/// cotangent of the loss [N]) → g·(softmax − one-hot) [N, C]. Used when the gradient is not
/// differentiated again (then the loss's vjp writes it with differentiable ops).
public struct SoftmaxCrossEntropyGradOp: Operation {
    /// Creates the op; its inputs are (logits, labels, log-sum-exp, cotangent).
    public init() {}
    public var name: String { "softmaxCrossEntropyGrad" }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 4 && inputs[0].shape.count == 2 && inputs[2] == inputs[3]
                    && (inputs[1].dtype == .int64 || inputs[1].dtype == .int32) && inputs[1].shape == [inputs[0].shape[0]]
                    && inputs[2] == TensorSpec([inputs[0].shape[0]], inputs[0].dtype), name, inputs,
                    "logits [N, C], labels [N], log-sum-exp and cotangent [N] of the logits' dtype")
        return [inputs[0]]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, (rows, classes) = (x.shape[0], x.shape[1])
        guard let labels = indicesInt64(inputs[1], size: classes, op: "crossEntropy", kind: "label") else {
            return [Tensor.zeros(x.shape, dtype: x.dtype)]
        }
        let lse = inputs[2].dense
        let (g, stride) = rowCotangent(inputs[3])
        let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
        withExtendedLifetime((x, labels, lse, g, dx)) {
            CPUThreads.forChunks(rows, costPerItem: 2 * classes) { r in
                let (start, count) = (r.lowerBound, Int64(r.count))
                if x.dtype == .float32 {
                    apus_cross_entropy_grad_f32(count, Int64(classes), x.pointer(Float.self) + start * classes, labels.pointer(Int64.self) + start,
                                                lse.pointer(Float.self) + start, g.pointer(Float.self) + start * stride, Int64(stride),
                                                dx.pointer(Float.self) + start * classes)
                } else {
                    apus_cross_entropy_grad_f64(count, Int64(classes), x.pointer(Double.self) + start * classes, labels.pointer(Int64.self) + start,
                                                lse.pointer(Double.self) + start, g.pointer(Double.self) + start * stride, Int64(stride),
                                                dx.pointer(Double.self) + start * classes)
                }
            }
        }
        return [dx]
    }
}

/// `SoftmaxCrossEntropyOp` and its gradient in one pass over the logits, for graph mode when the
/// loss's cotangent is known before the loss (a compiled training step's seed): (logits [N, C],
/// labels [N], cotangent [N]) → (loss [N], log-sum-exp [N], g·(softmax − one-hot) [N, C]). Each
/// block of rows is read for the gradient while it is still in cache from the loss, with the
/// same kernels as the two ops, so the results are the same bits. `Graph.fuseCrossEntropyGradient`
/// makes it.
public struct SoftmaxCrossEntropyWithGradientOp: Operation {
    /// Creates the op; its inputs are (logits, labels, cotangent of the loss).
    public init() {}
    public var name: String { "softmaxCrossEntropy+grad" }
    public var outputCount: Int { 3 }
    public var isDifferentiable: Bool { false }

    /// Rows per block: a few rows of logits stay in L2 cache between the two kernels.
    static let rowsPerBlock = 4

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.count == 3, name, inputs, "inputs are logits, labels and the loss's cotangent")
        let rows = try SoftmaxCrossEntropyOp().outputSpecs(Array(inputs.prefix(2)))
        try require(inputs[2] == rows[0], name, inputs, "the cotangent must be [N] of the logits' dtype")
        return rows + [inputs[0]]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let x = inputs[0].dense, (rows, classes) = (x.shape[0], x.shape[1])
        guard let labels = indicesInt64(inputs[1], size: classes, op: "crossEntropy", kind: "label") else {
            return outputs.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
        }
        let loss = Tensor(uninitialized: [rows], dtype: x.dtype), lse = Tensor(uninitialized: [rows], dtype: x.dtype)
        let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let (g, stride) = rowCotangent(inputs[2])
        let c = Int64(classes)
        withExtendedLifetime((x, labels, loss, lse, g, dx)) {
            CPUThreads.forChunks(rows, costPerItem: 4 * classes) { range in
                for start in Swift.stride(from: range.lowerBound, to: range.upperBound, by: Self.rowsPerBlock) {
                    let count = Int64(Swift.min(Self.rowsPerBlock, range.upperBound - start)), at = start * classes
                    if x.dtype == .float32 {
                        let (xp, lp) = (x.pointer(Float.self) + at, labels.pointer(Int64.self) + start)
                        apus_cross_entropy_f32(count, c, xp, lp, loss.pointer(Float.self) + start, lse.pointer(Float.self) + start)
                        apus_cross_entropy_grad_f32(count, c, xp, lp, lse.pointer(Float.self) + start, g.pointer(Float.self) + start * stride,
                                                    Int64(stride), dx.pointer(Float.self) + at)
                    } else {
                        let (xp, lp) = (x.pointer(Double.self) + at, labels.pointer(Int64.self) + start)
                        apus_cross_entropy_f64(count, c, xp, lp, loss.pointer(Double.self) + start, lse.pointer(Double.self) + start)
                        apus_cross_entropy_grad_f64(count, c, xp, lp, lse.pointer(Double.self) + start, g.pointer(Double.self) + start * stride,
                                                    Int64(stride), dx.pointer(Double.self) + at)
                    }
                }
            }
        }
        return [loss, lse, dx]
    }
}

/// The loss's cotangent [N] for the gradient kernels and its element stride: a broadcast one
/// (the mean's backward) is read with stride 0, not copied.
private func rowCotangent(_ g: Tensor) -> (Tensor, Int) { g.strides == [0] ? (g, 0) : (g.dense, 1) }
