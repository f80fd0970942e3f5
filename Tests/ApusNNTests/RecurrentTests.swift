import Apus
import ApusNN
import ApusTestSupport
import Testing

/// Copies PyTorch's `weight_ih_l0`-style parameters into an Apus recurrent network.
func loadRecurrent(_ network: RecurrentNetwork, _ c: Fixtures.Case) -> [(String, Parameter)] {
    var mapping: [(String, Parameter)] = []
    let directions = network.bidirectional ? 2 : 1
    for layer in 0..<network.numLayers {
        for direction in 0..<directions {
            let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
            let cell = network.cells[layer * directions + direction]
            cell.weightIH = c.input("weight_ih" + suffix)
            cell.weightHH = c.input("weight_hh" + suffix)
            cell.biasIH = c.input("bias_ih" + suffix)
            cell.biasHH = c.input("bias_hh" + suffix)
            mapping += [("weight_ih" + suffix, cell.$weightIH), ("weight_hh" + suffix, cell.$weightHH)]
            mapping += [("bias_ih" + suffix, cell.$biasIH!), ("bias_hh" + suffix, cell.$biasHH!)]
        }
    }
    return mapping
}

@Suite struct RecurrentTests {
    @Test func lstmCellOpGradients() {
        let gates = randn([2, 12], seed: 1), h = randn([2, 3], seed: 2), c = randn([2, 3], seed: 3), w = randn([12, 3], seed: 4)
        expectGradients([gates, h, c, w]) { t in
            let (hNext, cNext) = lstmCell(inputGates: t[0], h: t[1], c: t[2], weightHH: t[3])
            return hNext + cNext * 0.5
        }
    }

    @Test func lstmSequenceOpGradients() {
        let gates = randn([3, 2, 8], seed: 5), h = randn([2, 2], seed: 6), c = randn([2, 2], seed: 7), w = randn([8, 2], seed: 8)
        let mask = Tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype: .float64)
        for reverse in [false, true] {
            for m in [nil, mask] {
                expectGradients([gates, h, c, w]) { t in
                    let (y, hT, cT) = lstmSequence(inputGates: t[0], h0: t[1], c0: t[2], weightHH: t[3], mask: m, reverse: reverse)
                    return y.sum(axis: 0) + hT * 0.5 + cT * 0.25
                }
            }
        }
    }

    /// The float32 path (vectorised gate math, the packed-panel product) against float64.
    @Test func lstmSequenceFloat32MatchesFloat64() {
        for (b, h, steps) in [(5, 20, 4), (2, 4, 3), (33, 70, 2)] {
            let gates = randn([steps, b, 4 * h], seed: 1), h0 = randn([b, h], seed: 2), c0 = randn([b, h], seed: 3)
            let w = randn([4 * h, h], seed: 4, scale: 0.3), r = randn([steps, b, h], seed: 5)
            // Rows that stop early (a length mask) in the largest case, whose units two threads split.
            let lengths = (0..<b).map { $0 % 3 == 0 ? 1 : steps }
            let mask = b == 33 ? Tensor((0..<steps).map { t in lengths.map { t < $0 ? 1.0 : 0.0 } }, dtype: .float64) : nil
            func run(_ dtype: DType) -> [Tensor] {
                let leaves = [gates, h0, c0, w].map { $0.cast(to: dtype).requiringGrad() }
                let (y, hT, cT) = lstmSequence(inputGates: leaves[0], h0: leaves[1], c0: leaves[2], weightHH: leaves[3],
                                               mask: mask?.cast(to: dtype), reverse: b == 2)
                let loss = (y * r.cast(to: dtype)).sum() + hT.sum() + cT.sum() * 0.5
                return [y] + gradients(of: loss, wrt: leaves)
            }
            for (single, double) in zip(run(.float32), run(.float64)) {
                expectClose(single, double.scalars(as: Double.self), tolerance: 1e-4)
            }
        }
    }

    @Test func bidirectionalTwoLayerLSTMMatchesPyTorch() {
        let c = nn["lstm"]!
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, bidirectional: true)
        let mapping = loadRecurrent(lstm, c)
        let x = c.input("x").requiringGrad(), h0 = c.input("h0").requiringGrad(), c0 = c.input("c0").requiringGrad()
        let (y, (hn, cn)) = lstm(x, state: (h0, c0))
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        expectClose(hn, c.output("hn").data, tolerance: 1e-12)
        expectClose(cn, c.output("cn").data, tolerance: 1e-12)
        let loss = (y * c.input("r")).sum() + (hn * c.input("r_h")).sum() + (cn * c.input("r_c")).sum()
        let leaves = [x, h0, c0] + mapping.map(\.1.value)
        let g = gradients(of: loss, wrt: leaves)
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-11)
        expectClose(g[1], c.output("grad_h0").data, tolerance: 1e-11)
        expectClose(g[2], c.output("grad_c0").data, tolerance: 1e-11)
        for (i, (name, _)) in mapping.enumerated() { expectClose(g[3 + i], c.output("grad_" + name).data, tolerance: 1e-11) }
        #expect(lstm.namedParameters().map(\.0).prefix(2) == ["cells.0.weightIH", "cells.0.weightHH"])
    }

    @Test func lstmWithLengthsMatchesPackedSequences() {
        let c = nn["lstm_lengths"]!
        let lstm = LSTM(inputSize: 2, hiddenSize: 3, batchFirst: true)
        let mapping = loadRecurrent(lstm, c)
        let lengths = c.input("lengths").scalars(as: Int.self)
        let x = c.input("x").requiringGrad()
        let (y, (hn, cn)) = lstm(x, lengths: lengths)
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        expectClose(hn, c.output("hn").data, tolerance: 1e-12)
        expectClose(cn, c.output("cn").data, tolerance: 1e-12)
        let loss = (y * c.input("r")).sum() + (hn * c.input("r_h")).sum()
        let g = gradients(of: loss, wrt: [x] + mapping.map(\.1.value))
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-11)
        for (i, (name, _)) in mapping.enumerated() { expectClose(g[1 + i], c.output("grad_" + name).data, tolerance: 1e-11) }
        // The same through a [B, T] mask.
        let mask = Tensor(shape: [3, 4], scalars: (0..<12).map { ($0 % 4) < lengths[$0 / 4] })
        expectClose(lstm(c.input("x"), mask: mask).output, c.output("y").data, tolerance: 1e-12)
    }

    @Test func gruMatchesPyTorch() {
        let c = nn["gru"]!
        let gru = GRU(inputSize: 3, hiddenSize: 4)
        let mapping = loadRecurrent(gru, c)
        let x = c.input("x").requiringGrad(), h0 = c.input("h0").requiringGrad()
        let (y, hn) = gru(x, state: h0)
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        expectClose(hn, c.output("hn").data, tolerance: 1e-12)
        let loss = (y * c.input("r")).sum() + (hn * c.input("r_h")).sum()
        let g = gradients(of: loss, wrt: [x, h0] + mapping.map(\.1.value))
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-11)
        expectClose(g[1], c.output("grad_h0").data, tolerance: 1e-11)
        for (i, (name, _)) in mapping.enumerated() { expectClose(g[2 + i], c.output("grad_" + name).data, tolerance: 1e-11) }
    }

    @Test func rnnMatchesPyTorch() {
        let c = nn["rnn"]!
        let rnn = RNN(inputSize: 3, hiddenSize: 4, numLayers: 2)
        let mapping = loadRecurrent(rnn, c)
        let x = c.input("x").requiringGrad()
        let (y, hn) = rnn(x)
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        expectClose(hn, c.output("hn").data, tolerance: 1e-12)
        let loss = (y * c.input("r")).sum() + (hn * c.input("r_h")).sum()
        let g = gradients(of: loss, wrt: [x] + mapping.map(\.1.value))
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-11)
        for (i, (name, _)) in mapping.enumerated() { expectClose(g[1 + i], c.output("grad_" + name).data, tolerance: 1e-11) }
    }

    @Test func multiHeadAttentionMatchesPyTorch() {
        let c = nn["mha"]!
        let mha = MultiHeadAttention(embedDim: 8, numHeads: 2, batchFirst: true)
        mha.inProjWeight = c.input("in_proj_weight")
        mha.inProjBias = c.input("in_proj_bias")
        mha.outProj.weight = c.input("out_proj.weight")
        mha.outProj.bias = c.input("out_proj.bias")
        let query = c.input("query").requiringGrad(), kv = c.input("kv").requiringGrad()
        let (out, weights) = mha(query: query, key: kv, value: kv, keyPaddingMask: c.input("mask"))
        expectClose(out, c.output("attn_output").data, tolerance: 1e-12)
        expectClose(weights, c.output("attn_weights").data, tolerance: 1e-12)
        let leaves = [query, kv, mha.inProjWeight, mha.inProjBias!, mha.outProj.weight, mha.outProj.bias!]
        let g = gradients(of: (out * c.input("r")).sum(), wrt: leaves)
        for (i, name) in ["query", "kv", "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"].enumerated() {
            expectClose(g[i], c.output("grad_" + name).data, tolerance: 1e-11)
        }
    }
}
