import Apus

/// The mean over the ranks of several tensors at once, as an op: their values packed into one
/// flat buffer (in order), one blocking all-reduce, then one output per input, of its shape and
/// dtype, viewing the averaged buffer. This is how a compiled training step averages its
/// gradients (`DataParallel.averaged(loss:gradients:)`): every rank traces the same graph, so
/// the ranks run these ops in the same order.
///
/// Inputs: n Float32 tensors (or n Float64 ones), any shapes. Outputs: n tensors of the same
/// shapes. Side-effecting (it talks to the other ranks), so graph passes never remove or merge
/// it; not differentiable. An MPI failure is reported (thrown by the run of the graph).
struct AllReduceMeanOp: Operation {
    let communicator: Communicator
    let count: Int

    var name: String { "allReduceMean" }
    var outputCount: Int { count }
    var hasSideEffects: Bool { true }
    var isDifferentiable: Bool { false }

    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] {
        guard inputs.count == count, let dtype = inputs.first?.dtype, dtype == .float32 || dtype == .float64,
              inputs.allSatisfy({ $0.dtype == dtype }) else {
            throw ShapeError(op: name, shapes: inputs.map(\.shape), expected: "\(count) tensors, all Float32 or all Float64")
        }
        return inputs
    }

    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        let total = inputs.reduce(0) { $0 + $1.count }
        var flat = GradientBucket.pack(inputs, dtype: inputs[0].dtype, count: total)
        do {
            try communicator.allReduce(&flat, op: .mean)
        } catch {
            return inputs.map { _ in Tensor.failure(error) }
        }
        var offset = 0
        return inputs.map { input in
            defer { offset += input.count }
            return flat.slice(axis: 0, start: offset, end: offset + input.count).reshaped(input.shape)
        }
    }
}
