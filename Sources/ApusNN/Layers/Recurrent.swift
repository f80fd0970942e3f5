import Apus

/// The weights of one recurrent layer in one direction, in PyTorch's layout: `weightIH`
/// [G·H, I], `weightHH` [G·H, H], biases [G·H], with G = 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n)
/// or 1 (RNN).
public final class RecurrentWeights: Module {
    /// Input-to-hidden weights [G·H, I].
    @Parameter public var weightIH: Tensor
    /// Hidden-to-hidden weights [G·H, H].
    @Parameter public var weightHH: Tensor
    /// Input-to-hidden bias [G·H], nil without `bias`.
    @OptionalParameter public var biasIH: Tensor?
    /// Hidden-to-hidden bias [G·H], nil without `bias`.
    @OptionalParameter public var biasHH: Tensor?

    init(input: Int, hidden: Int, gates: Int, bias: Bool, generator: RandomGenerator) {
        let bound = 1 / Double(hidden).squareRoot()
        func draw(_ shape: [Int]) -> Tensor { Tensor.uniform(shape, low: -bound, high: bound, generator: generator) }
        weightIH = draw([gates * hidden, input])
        weightHH = draw([gates * hidden, hidden])
        biasIH = bias ? draw([gates * hidden]) : nil
        biasHH = bias ? draw([gates * hidden]) : nil
        super.init()
    }
}

/// What differs between RNN, LSTM and GRU: the gate count and one time step.
public enum RecurrentCellKind: Sendable {
    /// Elman RNN with tanh or ReLU, LSTM, GRU.
    case rnnTanh, rnnRelu, lstm, gru
    var gates: Int {
        switch self {
        case .rnnTanh, .rnnRelu: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }
}

/// Multi-layer, optionally bidirectional recurrent network (the shared machinery of `RNN`,
/// `LSTM`, `GRU`). Input [T, B, I] (or [B, T, I] with `batchFirst`); output [T, B, D·H]
/// (D = 2 when bidirectional) and final states [L·D, B, H], in PyTorch's layouts.
///
/// Variable lengths: pass `lengths` (one per batch element) or a `mask` [B, T] (true/1 = real
/// step). Padded steps leave the state unchanged and output zeros, so padding never leaks into
/// the final state — the same results as PyTorch's packed sequences.
///
/// Weights are `cells.<layer·D + direction>.weightIH` and so on.
public class RecurrentNetwork: Module {
    /// Weights of each layer and direction, `layer·D + direction`.
    public let cells: [RecurrentWeights]
    /// The cell: RNN (tanh or ReLU), LSTM or GRU.
    public let kind: RecurrentCellKind
    /// Input features I, hidden size H, layers L, whether there are two directions, whether inputs and outputs are [B, T, ·], and the dropout probability between layers in training.
    public let inputSize: Int, hiddenSize: Int, numLayers: Int, bidirectional: Bool, batchFirst: Bool, dropout: Double
    let generator: RandomGenerator

    init(kind: RecurrentCellKind, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool,
         dropout: Double, bidirectional: Bool, generator: RandomGenerator) {
        precondition(numLayers >= 1 && hiddenSize >= 1, "recurrent layer: needs at least one layer and hidden size ≥ 1")
        let directions = bidirectional ? 2 : 1
        var cells: [RecurrentWeights] = []
        for layer in 0..<numLayers {
            for _ in 0..<directions {
                cells.append(RecurrentWeights(input: layer == 0 ? inputSize : hiddenSize * directions, hidden: hiddenSize,
                                              gates: kind.gates, bias: bias, generator: generator))
            }
        }
        self.cells = cells
        (self.kind, self.inputSize, self.hiddenSize, self.numLayers) = (kind, inputSize, hiddenSize, numLayers)
        (self.bidirectional, self.batchFirst, self.dropout, self.generator) = (bidirectional, batchFirst, dropout, generator)
        super.init()
    }

    override public var typeDescription: String {
        let name = String(describing: type(of: self))
        return "\(name)(\(inputSize) → \(hiddenSize)\(numLayers > 1 ? ", \(numLayers) layers" : "")\(bidirectional ? ", bidirectional" : ""))"
    }

    /// Per-step masks [B, 1] (1 = real step) from lengths or a [B, T] mask.
    func stepMasks(lengths: [Int]?, mask: Tensor?, steps: Int, batch: Int, dtype: DType) -> [Tensor]? {
        if let mask {
            guard mask.shape == [batch, steps] else {
                Tensor.report(ShapeError(op: typeDescription, shapes: [mask.shape], expected: "a mask [B, T] = [\(batch), \(steps)]"))
                return nil
            }
            let m = mask.cast(to: dtype)
            return (0..<steps).map { m[.all, $0].reshaped([batch, 1]) }
        }
        guard let lengths else { return nil }
        guard lengths.count == batch && lengths.allSatisfy({ (0...steps).contains($0) }) else {
            Tensor.report(ShapeError(op: typeDescription, shapes: [[lengths.count]], expected: "\(batch) lengths in 0...\(steps), got \(lengths)"))
            return nil
        }
        return (0..<steps).map { t in Tensor(shape: [batch, 1], scalars: lengths.map { t < $0 ? 1.0 : 0.0 }, dtype: dtype) }
    }

    /// Runs every layer and direction. `initial` holds [L·D, B, H] states (h, and c for LSTM).
    func run(_ input: Tensor, initial: [Tensor]?, lengths: [Int]?, mask: Tensor?) -> (output: Tensor, states: [Tensor]) {
        let stateCount = kind == .lstm ? 2 : 1
        guard input.rank == 3 && input.shape[2] == inputSize else {
            let failed = Tensor.failure(ShapeError(op: typeDescription, shapes: [input.shape], expected: "input [\(batchFirst ? "B, T" : "T, B"), \(inputSize)]"))
            return (failed, Array(repeating: failed, count: stateCount))
        }
        var x = batchFirst ? input.transposed(0, 1).contiguous() : input   // [T, B, I], dense for one projection GEMM
        let (steps, batch) = (x.shape[0], x.shape[1])
        let directions = bidirectional ? 2 : 1
        let stateShape = [numLayers * directions, batch, hiddenSize]
        if let initial {
            guard initial.count == stateCount && initial.allSatisfy({ $0.shape == stateShape }) else {
                let failed = Tensor.failure(ShapeError(op: typeDescription, shapes: initial.map(\.shape),
                                                       expected: "an initial state of \(stateCount) tensor(s) of shape \(stateShape)"))
                return (failed, Array(repeating: failed, count: stateCount))
            }
        }
        let masks = stepMasks(lengths: lengths, mask: mask, steps: steps, batch: batch, dtype: x.dtype)
        var finals: [[Tensor]] = Array(repeating: [], count: stateCount)
        for layer in 0..<numLayers {
            var outputs: [Tensor] = []
            for direction in 0..<directions {
                let index = layer * directions + direction
                let start = (0..<stateCount).map { k in initial?[k][index] ?? Tensor.zeros([batch, hiddenSize], dtype: x.dtype) }
                let (sequence, states) = runDirection(x, cell: cells[index], reverse: direction == 1, start: start, masks: masks)
                outputs.append(sequence)
                for k in 0..<stateCount { finals[k].append(states[k]) }
            }
            x = directions == 1 ? outputs[0] : Tensor.concat(outputs, axis: 2)
            if dropout > 0 && isTraining && layer < numLayers - 1 { x = Apus.dropout(x, p: dropout, generator: generator) }
        }
        let output = batchFirst ? x.transposed(0, 1) : x
        return (output, finals.map { Tensor.stack($0, axis: 0) })
    }

    /// One direction of one layer over all steps: outputs [T, B, H] and the final states.
    private func runDirection(_ x: Tensor, cell: RecurrentWeights, reverse: Bool, start: [Tensor], masks: [Tensor]?) -> (Tensor, [Tensor]) {
        let steps = x.shape[0]
        // One GEMM for the input projections of all steps: [T, B, G·H].
        let projected = linear(x, weight: cell.weightIH, bias: cell.biasIH.map { b in kind == .gru ? b : b + (cell.biasHH ?? b.zerosLike()) })
        if kind == .lstm {
            let mask = masks.map { Tensor.stack($0, axis: 0).reshaped([steps, -1]) }
            let (output, h, c) = lstmSequence(inputGates: projected, h0: start[0], c0: start[1], weightHH: cell.weightHH,
                                              mask: mask, reverse: reverse)
            return (output, [h, c])
        }
        let perStep = projected.unstacked(axis: 0)
        var state = start
        var outputs = [Tensor](repeating: start[0], count: steps)
        for t in (reverse ? Array((0..<steps).reversed()) : Array(0..<steps)) {
            let next = step(perStep[t], state: state, cell: cell)
            if let m = masks?[t] {
                state = zip(state, next).map { old, new in old + m * (new - old) }
                outputs[t] = next[0] * m
            } else {
                state = next
                outputs[t] = next[0]
            }
        }
        return (Tensor.stack(outputs, axis: 0), state)
    }

    /// One time step from the projected input [B, G·H] and the state.
    private func step(_ gatesX: Tensor, state: [Tensor], cell: RecurrentWeights) -> [Tensor] {
        let h = state[0]
        switch kind {
        case .lstm:
            preconditionFailure("LSTM layers run as one lstmSequence op")
        case .gru:
            var gatesH = h.matmul(cell.weightHH.transposed())
            if let b = cell.biasHH { gatesH = gatesH + b }
            let x3 = gatesX.split(count: 3, axis: 1), h3 = gatesH.split(count: 3, axis: 1)
            let r = (x3[0] + h3[0]).sigmoid(), z = (x3[1] + h3[1]).sigmoid()
            let n = (x3[2] + r * h3[2]).tanh()
            return [n + z * (h - n)]
        case .rnnTanh, .rnnRelu:
            let pre = gatesX + h.matmul(cell.weightHH.transposed())
            return [kind == .rnnTanh ? pre.tanh() : pre.relu()]
        }
    }
}

/// Long short-term memory network (PyTorch's `nn.LSTM`): returns the output sequence and the
/// final (h, c), each [L·D, B, H]. Each layer direction is one fused `lstmSequence` op.
///
/// As a one-tensor layer (in `Sequential` or a functional model) it returns the whole output
/// sequence, or with `returnsSequences = false` the last layer's final h ([B, D·H]), like
/// Keras' `return_sequences`.
public final class LSTM: RecurrentNetwork, UnaryLayer {
    /// Whether `forward` returns the whole output sequence (true) or the last layer's final h [B, D·H].
    public var returnsSequences = true

    /// The output sequence, or with `returnsSequences = false` the last layer's final h [B, D·H].
    public func forward(_ x: Tensor) -> Tensor {
        let (output, state) = self(x)
        if returnsSequences { return output }
        let directions = bidirectional ? 2 : 1
        let last = state.h[(numLayers - 1) * directions..<(numLayers * directions)]     // [D, B, H]
        return last.transposed(0, 1).reshaped([x.shape[batchFirst ? 0 : 1], directions * hiddenSize])
    }

    /// An LSTM (as `nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)`); weights uniform in ±1/√hiddenSize as PyTorch's.
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, returnsSequences: Bool = true, generator: RandomGenerator = .global) {
        self.returnsSequences = returnsSequences
        super.init(kind: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    /// The output [T, B, D·H] (or [B, T, D·H]) and final (h, c), each [L·D, B, H], from the initial `state` (zeros when nil); `lengths` or `mask` [B, T] mark padded steps.
    public func callAsFunction(_ x: Tensor, state: (h: Tensor, c: Tensor)? = nil, lengths: [Int]? = nil,
                               mask: Tensor? = nil) -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        let (output, states) = run(x, initial: state.map { [$0.h, $0.c] }, lengths: lengths, mask: mask)
        return (output, (states[0], states[1]))
    }
}

/// Gated recurrent unit network (PyTorch's `nn.GRU`, gates r, z, n): output and final h [L·D, B, H].
public final class GRU: RecurrentNetwork {
    /// A GRU (as `nn.GRU(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)`); weights uniform in ±1/√hiddenSize as PyTorch's.
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, generator: RandomGenerator = .global) {
        super.init(kind: .gru, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    /// The output [T, B, D·H] (or [B, T, D·H]) and final h [L·D, B, H], from the initial `state` (zeros when nil); `lengths` or `mask` [B, T] mark padded steps.
    public func callAsFunction(_ x: Tensor, state: Tensor? = nil, lengths: [Int]? = nil, mask: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        let (output, states) = run(x, initial: state.map { [$0] }, lengths: lengths, mask: mask)
        return (output, states[0])
    }
}

/// Elman recurrent network (PyTorch's `nn.RNN`) with tanh or ReLU: output and final h [L·D, B, H].
public final class RNN: RecurrentNetwork {
    /// An Elman RNN with `nonlinearity` "tanh" or "relu" (as `nn.RNN`); weights uniform in ±1/√hiddenSize as PyTorch's.
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: String = "tanh", bias: Bool = true,
                batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false, generator: RandomGenerator = .global) {
        precondition(nonlinearity == "tanh" || nonlinearity == "relu", "RNN: nonlinearity must be \"tanh\" or \"relu\"")
        super.init(kind: nonlinearity == "tanh" ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize,
                   numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional,
                   generator: generator)
    }

    /// The output [T, B, D·H] (or [B, T, D·H]) and final h [L·D, B, H], from the initial `state` (zeros when nil); `lengths` or `mask` [B, T] mark padded steps.
    public func callAsFunction(_ x: Tensor, state: Tensor? = nil, lengths: [Int]? = nil, mask: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        let (output, states) = run(x, initial: state.map { [$0] }, lengths: lengths, mask: mask)
        return (output, states[0])
    }
}
