import CApusKernels

/// One fused LSTM step (PyTorch's gate order i, f, g, o).
///
/// Inputs: `inputGates` [B, 4H] (the input projection x·W_ihᵀ + biases, usually computed for all
/// time steps in one GEMM), `h` [B, H], `c` [B, H], `weightHH` [4H, H].
/// Outputs: `h'` [B, H], `c'` [B, H], and the activated gates [B, 4H] (kept for the backward).
/// The kernel is one GEMM (h·W_hhᵀ added to the input gates) and one C pass over the gates.
public struct LSTMCellOp: Operation {
    /// Creates the op; its inputs are (inputGates, h, c, weightHH).
    public init() {}
    public var name: String { "lstmCell" }
    public var outputCount: Int { 3 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let gates = inputs[0], h = inputs[1], c = inputs[2], w = inputs[3]
        try require(h.shape.count == 2 && h.shape == c.shape, name, inputs, "h and c must both be [B, H]")
        let (b, hidden) = (h.shape[0], h.shape[1])
        try require(gates.shape == [b, 4 * hidden], name, inputs, "input gates must be [B, 4H] = [\(b), \(4 * hidden)]")
        try require(w.shape == [4 * hidden, hidden], name, inputs, "weightHH must be [4H, H] = [\(4 * hidden), \(hidden)]")
        try require(inputs.allSatisfy { $0.dtype == h.dtype } && h.dtype.isFloatingPoint, name, inputs, "all inputs must share a float dtype")
        return [h, c, gates]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let h = inputs[1].dense, c = inputs[2].dense, w = inputs[3].dense
        let gates = CopyOp().cpu([inputs[0]], [])[0]
        let (b, hidden) = (h.shape[0], h.shape[1])
        let hNext = Tensor(uninitialized: h.shape, dtype: h.dtype), cNext = Tensor(uninitialized: c.shape, dtype: c.dtype)
        RawGEMM.run(h.dtype, transA: false, transB: true, m: b, n: 4 * hidden, k: hidden, a: h.rawPointer, lda: hidden,
                    b: w.rawPointer, ldb: hidden, beta: 1, c: gates.rawPointer, ldc: 4 * hidden)
        if h.dtype == .float32 {
            apus_lstm_step_forward_f32(Int64(b), Int64(hidden), Int64(hidden), gates.pointer(Float.self), c.pointer(Float.self), h.pointer(Float.self), nil,
                                       cNext.pointer(Float.self), cNext.pointer(Float.self), hNext.pointer(Float.self), hNext.pointer(Float.self))
        } else {
            apus_lstm_step_forward_f64(Int64(b), Int64(hidden), Int64(hidden), gates.pointer(Double.self), c.pointer(Double.self), h.pointer(Double.self), nil,
                                       cNext.pointer(Double.self), cNext.pointer(Double.self), hNext.pointer(Double.self), hNext.pointer(Double.self))
        }
        return [hNext, cNext, gates]
    }

    public func vjp(_ ctx: VJPContext) -> [Tensor?] {
        let grads = Tensor.apply(LSTMCellGradOp(), [ctx.outputs[2], ctx.inputs[2], ctx.outputs[1], ctx.cotangents[0], ctx.cotangents[1]])
        let dGates = grads[0], dc = grads[1]
        return [dGates,
                ctx.needsGradient(1) ? dGates.matmul(ctx.inputs[3]) : nil,
                dc,
                ctx.needsGradient(3) ? dGates.transposed().matmul(ctx.inputs[1]) : nil]
    }
}

/// Backward of the LSTM gate math: (activated gates, c, c', dh', dc') → (d pre-activation gates, dc).
/// Not differentiable again.
public struct LSTMCellGradOp: Operation {
    /// Creates the op; its inputs are (activated gates, c, c', dh', dc').
    public init() {}
    public var name: String { "lstmCellGrad" }
    public var outputCount: Int { 2 }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        let gates = inputs[0], c = inputs[1]
        try require(inputs[2] == c && inputs[3] == c && inputs[4] == c && gates.shape == [c.shape[0], 4 * c.shape[1]],
                    name, inputs, "expected gates [B, 4H] and c, c', dh', dc' all [B, H]")
        return [gates, c]
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let t = inputs.map(\.dense)
        let (b, hidden) = (t[1].shape[0], t[1].shape[1])
        // The sequence step's backward with no mask: dh (the state part) starts at zero and the
        // step's output cotangent is dh'; dc starts at dc' and ends as the cotangent of c.
        let dGates = Tensor(uninitialized: outputs[0].shape, dtype: t[0].dtype)
        let dh = Tensor.zeros(t[1].shape, dtype: t[0].dtype), dc = CopyOp().cpu([t[4]], [])[0]
        if t[0].dtype == .float32 {
            apus_lstm_step_backward_f32(Int64(b), Int64(hidden), Int64(hidden), t[0].pointer(Float.self), t[1].pointer(Float.self), t[2].pointer(Float.self), nil,
                                        t[3].pointer(Float.self), dh.pointer(Float.self), dc.pointer(Float.self), dGates.pointer(Float.self))
        } else {
            apus_lstm_step_backward_f64(Int64(b), Int64(hidden), Int64(hidden), t[0].pointer(Double.self), t[1].pointer(Double.self), t[2].pointer(Double.self), nil,
                                        t[3].pointer(Double.self), dh.pointer(Double.self), dc.pointer(Double.self), dGates.pointer(Double.self))
        }
        return [dGates, dc]
    }
}

/// One fused LSTM step: returns (h', c') from the input gates [B, 4H], h, c [B, H] and W_hh [4H, H].
public func lstmCell(inputGates: Tensor, h: Tensor, c: Tensor, weightHH: Tensor) -> (h: Tensor, c: Tensor) {
    let out = Tensor.apply(LSTMCellOp(), [inputGates, h, c, weightHH])
    return (out[0], out[1])
}
