import Apus

/// Multi-head scaled dot-product attention (PyTorch's `nn.MultiheadAttention`): query [B, L, E],
/// key and value [B, S, E] (or sequence-first without `batchFirst`) → output [B, L, E] and the
/// attention weights averaged over heads [B, L, S].
///
/// `keyPaddingMask` [B, S] (true = ignore that key) and `attentionMask` [L, S] (true = blocked)
/// exclude positions; weights: `inProjWeight` [3E, E], `inProjBias` [3E], `outProj`.
/// `attend(query:key:value:…)` computes the output alone (PyTorch's `need_weights=False`), and
/// `causal: true` blocks every key after its query without a mask tensor.
public final class MultiHeadAttention: Module {
    /// The query, key and value projections stacked: [3E, E].
    @Parameter public var inProjWeight: Tensor
    /// Their biases [3E], nil without `bias`.
    @OptionalParameter public var inProjBias: Tensor?
    /// The output projection, E → E.
    public let outProj: Linear
    /// The embedding size E, the number of heads (E must divide by it), whether inputs are batch first, and the dropout probability on the attention weights in training.
    public let embedDim: Int, numHeads: Int, batchFirst: Bool, dropout: Double
    let generator: RandomGenerator

    /// Attention over `embedDim` features split into `numHeads` heads (as `nn.MultiheadAttention(embed_dim, num_heads, bias, batch_first, dropout)`); projections initialised as PyTorch's.
    public init(embedDim: Int, numHeads: Int, bias: Bool = true, batchFirst: Bool = false, dropout: Double = 0,
                generator: RandomGenerator = .global) {
        precondition(embedDim % numHeads == 0, "MultiHeadAttention: embedDim \(embedDim) must divide by numHeads \(numHeads)")
        inProjWeight = Initializer.xavierUniform(gain: 1).make([3 * embedDim, embedDim], generator: generator)
        inProjBias = bias ? Tensor.zeros([3 * embedDim]) : nil
        outProj = Linear(embedDim, embedDim, bias: bias, generator: generator)
        if bias { outProj.bias = Tensor.zeros([embedDim]) }
        (self.embedDim, self.numHeads, self.batchFirst, self.dropout, self.generator) = (embedDim, numHeads, batchFirst, dropout, generator)
        super.init()
    }

    /// The output and the attention weights averaged over heads [B, L, S].
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil,
                               attentionMask: Tensor? = nil, causal: Bool = false) -> (output: Tensor, weights: Tensor) {
        let (output, weights) = run(query: query, key: key, value: value, keyPaddingMask: keyPaddingMask,
                                    attentionMask: attentionMask, causal: causal, needWeights: true)
        return (output, weights!)
    }

    /// The output alone: no head-averaged weights are computed.
    public func attend(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil,
                       attentionMask: Tensor? = nil, causal: Bool = false) -> Tensor {
        run(query: query, key: key, value: value, keyPaddingMask: keyPaddingMask, attentionMask: attentionMask,
            causal: causal, needWeights: false).output
    }

    private func run(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor?, attentionMask: Tensor?,
                     causal: Bool, needWeights: Bool) -> (output: Tensor, weights: Tensor?) {
        let q0 = batchFirst ? query : query.transposed(0, 1)
        let k0 = batchFirst ? key : key.transposed(0, 1)
        let v0 = batchFirst ? value : value.transposed(0, 1)
        guard q0.rank == 3 && q0.shape[2] == embedDim && k0.shape == v0.shape && k0.rank == 3 && k0.shape[2] == embedDim && k0.shape[0] == q0.shape[0] else {
            let failed = Tensor.failure(ShapeError(op: "MultiHeadAttention", shapes: [query.shape, key.shape, value.shape],
                                                   expected: "query [B, L, \(embedDim)] and key/value [B, S, \(embedDim)]\(batchFirst ? "" : " (sequence first)")"))
            return (failed, needWeights ? failed : nil)
        }
        let (b, l, s, hd) = (q0.shape[0], q0.shape[1], k0.shape[1], embedDim / numHeads)
        let w = inProjWeight.split(count: 3, axis: 0)
        let bias = inProjBias?.split(count: 3, axis: 0)
        func project(_ x: Tensor, _ i: Int, _ length: Int) -> Tensor {
            linear(x, weight: w[i], bias: bias?[i]).reshaped([b, length, numHeads, hd]).transposed(1, 2)   // [B, heads, len, hd]
        }
        let q = project(q0, 0, l), k = project(k0, 1, s), v = project(v0, 2, s)
        var blocked: Tensor? = nil
        if let keyPaddingMask {
            guard keyPaddingMask.shape == [b, s] else {
                let failed = Tensor.failure(ShapeError(op: "MultiHeadAttention", shapes: [keyPaddingMask.shape], expected: "keyPaddingMask [B, S] = [\(b), \(s)]"))
                return (failed, needWeights ? failed : nil)
            }
            blocked = keyPaddingMask.cast(to: .bool).reshaped([b, 1, 1, s])
        }
        if let attentionMask {
            guard attentionMask.shape == [l, s] else {
                let failed = Tensor.failure(ShapeError(op: "MultiHeadAttention", shapes: [attentionMask.shape], expected: "attentionMask [L, S] = [\(l), \(s)]"))
                return (failed, needWeights ? failed : nil)
            }
            let m = attentionMask.cast(to: .bool).reshaped([1, 1, l, s])
            blocked = blocked.map { Tensor.where($0, $0, m) } ?? m
        }
        let p = isTraining ? dropout : 0
        let (context, attention) = scaledDotProductAttention(query: q, key: k, value: v, blocked: blocked, causal: causal,
                                                             dropout: p, generator: generator, returnsWeights: needWeights)
        let output = outProj(context.transposed(1, 2).reshaped([b, l, embedDim]))
        return (batchFirst ? output : output.transposed(0, 1), attention?.mean(axis: 1))
    }
}
