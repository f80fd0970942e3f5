import CApusKernels

/// A chain of elementwise ops run as one pass over memory: the output is produced in blocks of
/// `blockElements`, each step of the chain working on the block while it is in L1 cache, so the
/// intermediates of the chain are never written to memory. Made by the fusion pass.
///
/// Operands (inputs) have the output's shape, are scalars (one element), or are a vector
/// broadcast along the leading axes (a bias: its shape is a suffix of the output's).
public struct FusedElementwiseOp: Operation {
    /// Where a step reads an operand: an input of the fused op, or an earlier step's result.
    public enum Source: Hashable {
        /// The fused op's input at this index.
        case input(Int)
        /// The result of the step at this index (an earlier one).
        case step(Int)
    }
    /// One op of the chain.
    public struct Step {
        /// The elementwise op this step runs.
        public enum Kind {
            /// A one-operand function.
            case unary(UnaryOp)
            /// A two-operand arithmetic op (its operands broadcast as the fused op allows).
            case binary(BinaryOp)
        }
        /// This step's op.
        public let kind: Kind
        /// Where it reads its operands (one for a unary op, two for a binary one).
        public let operands: [Source]
    }

    /// The chain, in order; the last step writes the output.
    public let steps: [Step]
    /// Shape and dtype of the result (every step's result has them).
    public let output: TensorSpec
    /// Elements per block (per thread, per step): small enough that every step's block stays in L1.
    static let blockElements = 1024

    public var name: String {
        "fused(" + steps.map { step -> String in
            switch step.kind { case .unary(let op): return op.name; case .binary(let op): return op.name }
        }.joined(separator: ",") + ")"
    }
    public var isDifferentiable: Bool { false }

    public func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        try require(inputs.allSatisfy { Self.layout(of: $0, output: output) != nil }, name, inputs,
                    "operands of \(output.dtype) with the output's shape \(output.shape), one element, or a suffix of it")
        return [output]
    }

    /// Operands that have the output's shape: the last step writes element i after every step
    /// has read element i, so the output may take their slot.
    public func inPlaceInputs(_ inputs: [TensorSpec], _ outputs: [TensorSpec]) -> [Int] {
        inputs.indices.filter { inputs[$0] == output }
    }

    /// How an operand lines up with the output: its elements repeat every `period` output
    /// elements (the output's count for a full operand, 1 for a scalar).
    static func layout(of spec: TensorSpec, output: TensorSpec) -> Int? {
        guard spec.dtype == output.dtype else { return nil }
        let count = spec.count
        if count == 1 || spec.shape == output.shape { return count }
        var shape = spec.shape[...]
        while shape.first == 1 { shape = shape.dropFirst() }
        guard shape.count <= output.shape.count, Array(output.shape.suffix(shape.count)) == Array(shape) else { return nil }
        return count
    }

    public func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let y = Tensor(uninitialized: output.shape, dtype: output.dtype)   // first: it may take an in-place slot
        guard output.count > 0 else { return [y] }
        let operands = inputs.map(\.dense)
        let total = output.count, size = output.dtype.byteSize
        let periods = operands.map { $0.count }
        let pointers = operands.map { SendablePointer(raw: $0.rawPointer) }, out = SendablePointer(raw: y.rawPointer)
        // Blocks never cross a period boundary of a broadcast vector, so each operand is contiguous
        // in a block (suffix vectors' counts divide one another: the shortest one's is enough).
        let vectorPeriod = periods.filter { $0 > 1 && $0 < total }.min() ?? total
        let block = vectorPeriod < total ? Swift.min(Self.blockElements, vectorPeriod) : Self.blockElements
        let blocksPerRow = (vectorPeriod + block - 1) / block, rows = total / vectorPeriod
        let isFloat = output.dtype == .float32
        CPUThreads.forChunks(rows * blocksPerRow, costPerItem: block * steps.count) { range in
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, steps.count - 1) * block * size, alignment: 64)
            defer { scratch.deallocate() }
            for b in range {
                let start = (b / blocksPerRow) * vectorPeriod + (b % blocksPerRow) * block
                let n = Swift.min(block, (b / blocksPerRow) * vectorPeriod + vectorPeriod - start)
                func address(_ source: Source) -> (UnsafeMutableRawPointer, Int64) {
                    switch source {
                    case .step(let s): return (scratch + s * block * size, 1)
                    case .input(let i):
                        let period = periods[i]
                        return period == 1 ? (pointers[i].raw, 0) : (pointers[i].raw + (start % period) * size, 1)
                    }
                }
                for (k, step) in steps.enumerated() {
                    let target = k == steps.count - 1 ? out.raw + start * size : scratch + k * block * size
                    switch step.kind {
                    case .unary(let op):
                        var (x, stride) = address(step.operands[0])
                        if stride == 0 {   // a scalar operand of a unary step: broadcast it first
                            for j in 0..<n { (target + j * size).copyMemory(from: x, byteCount: size) }
                            x = target
                        }
                        if isFloat {
                            apus_unary_f32(Int32(op.code.rawValue), Int64(n), x.assumingMemoryBound(to: Float.self), target.assumingMemoryBound(to: Float.self), op.p0, op.p1)
                        } else {
                            apus_unary_f64(Int32(op.code.rawValue), Int64(n), x.assumingMemoryBound(to: Double.self), target.assumingMemoryBound(to: Double.self), op.p0, op.p1)
                        }
                    case .binary(let op):
                        let (a, sa) = address(step.operands[0]), (c, sc) = address(step.operands[1])
                        var shape = Int64(n), strideA = sa, strideC = sc
                        if isFloat {
                            apus_binary_f32(Int32(op.code.rawValue), 1, &shape, a.assumingMemoryBound(to: Float.self), &strideA,
                                            c.assumingMemoryBound(to: Float.self), &strideC, target.assumingMemoryBound(to: Float.self))
                        } else {
                            apus_binary_f64(Int32(op.code.rawValue), 1, &shape, a.assumingMemoryBound(to: Double.self), &strideA,
                                            c.assumingMemoryBound(to: Double.self), &strideC, target.assumingMemoryBound(to: Double.self))
                        }
                    }
                }
            }
        }
        return [y]
    }
}

extension Graph {
    /// Fuses chains of floating-point elementwise ops (unary ops and arithmetic) into single
    /// `FusedElementwiseOp` nodes: an op joins the chain that produced one of its inputs when
    /// that input has the op's shape and no other reader. Chains of one op are left alone.
    func fuseElementwise() {
        struct Chain {
            var steps: [FusedElementwiseOp.Step] = []
            var inputs: [Int] = []
            var output = 0
            var spec = TensorSpec([])
            var members: [Int] = []   // node indices
        }
        let readers = readerCounts(), outputSet = Set(outputs)
        var chains: [Chain] = []
        var chainOf: [Int: Int] = [:]   // a chain's current output value → chain index
        func isElementwise(_ node: Node) -> Bool {
            guard node.op is UnaryOp || node.op is BinaryOp, let out = node.outputs.first, values[out].dtype.isFloatingPoint else { return false }
            return node.inputs.allSatisfy { FusedElementwiseOp.layout(of: values[$0], output: values[out]) != nil }
        }
        for (index, node) in nodes.enumerated() where isElementwise(node) {
            let out = node.outputs[0], spec = values[out]
            let joined = node.inputs.first { v in
                chainOf[v] != nil && readers[v] == 1 && !outputSet.contains(v) && values[v] == spec
            }
            var chain = joined.map { chains[chainOf[$0]!] } ?? Chain()
            var operands: [FusedElementwiseOp.Source] = []
            for v in node.inputs {
                if v == joined {
                    operands.append(.step(chain.steps.count - 1))
                } else if let position = chain.inputs.firstIndex(of: v) {
                    operands.append(.input(position))
                } else {
                    chain.inputs.append(v)
                    operands.append(.input(chain.inputs.count - 1))
                }
            }
            let kind: FusedElementwiseOp.Step.Kind = (node.op as? UnaryOp).map { .unary($0) } ?? .binary(node.op as! BinaryOp)
            chain.steps.append(FusedElementwiseOp.Step(kind: kind, operands: operands))
            chain.output = out
            chain.spec = spec
            chain.members.append(index)
            if let joined {
                let position = chainOf.removeValue(forKey: joined)!
                chains[position] = chain
                chainOf[out] = position
            } else {
                chains.append(chain)
                chainOf[out] = chains.count - 1
            }
        }
        var replaced: [Int: Node] = [:], removed = Set<Int>()
        for chain in chains where chain.steps.count > 1 {
            let op = FusedElementwiseOp(steps: chain.steps, output: chain.spec)
            replaced[chain.members.last!] = Node(op: op, inputs: chain.inputs, outputs: [chain.output])
            removed.formUnion(chain.members.dropLast())
        }
        replaceNodes(replaced, removing: removed)
    }
}
