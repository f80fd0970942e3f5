import Apus
import ApusNN
import CApusKernels

/// Saved optimizer state: per-parameter tensors (keyed `"<index>.<slot>"`) and scalars.
public struct OptimizerState {
    public var tensors: [String: Tensor]
    public var scalars: [String: Double]
    public init(tensors: [String: Tensor] = [:], scalars: [String: Double] = [:]) {
        self.tensors = tensors
        self.scalars = scalars
    }
}

/// Errors restoring optimizer state.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
}

/// Base of the optimizers: holds the parameters, the learning rate, the step count and the
/// per-parameter state, and updates every parameter that has a gradient in `step()`.
/// Updates run in place in fused C kernels; state tensors are allocated once.
open class Optimizer {
    /// The parameters updated, in order (their index keys the saved state).
    public let parameters: [Parameter]
    /// The learning rate used by the next `step()` (schedules change it).
    public var learningRate: Double
    /// Number of `step()` calls so far.
    public internal(set) var stepCount = 0
    /// Per-parameter state tensors (momentum buffers, moments, …), by slot name.
    var slots: [[String: Tensor]]

    public init(parameters: [Parameter], learningRate: Double) {
        precondition(learningRate >= 0, "optimizer: learning rate must be non-negative, got \(learningRate)")
        self.parameters = parameters
        self.learningRate = learningRate
        slots = Array(repeating: [:], count: parameters.count)
    }

    /// The state slot `name` of parameter `index`, created as zeros (or `initial`) the first time
    /// — outside any graph arena, since a compiled step makes it while running a node.
    func slot(_ name: String, _ index: Int, like value: Tensor, initial: Double = 0) -> Tensor {
        if let existing = slots[index][name] { return existing }
        let fresh = withoutArenaPlacement { Tensor.full(value.shape, initial, dtype: value.dtype) }
        slots[index][name] = fresh
        return fresh
    }

    /// Updates every parameter that has a gradient.
    public func step() { update(with: parameters.map { $0.isTrainable ? $0.grad : nil }) }

    /// Updates the trainable parameters with `gradients` (one per trainable parameter, in
    /// order) unless `loss` is not finite. Inside `compile` (graph mode) this records one graph
    /// node that updates the parameters in place when the graph runs.
    public func step(loss: Tensor, gradients: [Tensor]) {
        let op = OptimizerStepOp(optimizer: self)
        _ = Tensor.apply(op, [loss] + gradients + op.updated.map { parameters[$0].value })
    }

    /// One update from a gradient (or none) per parameter, each gradient multiplied by `scale`
    /// first (gradient clipping by norm inside a compiled step).
    func update(with gradients: [Tensor?], scale: Double = 1) {
        apus_flush_denormals()
        stepCount += 1
        withoutGrad {
            for (index, (parameter, gradient)) in zip(parameters, gradients).enumerated() {
                guard let gradient else { continue }
                precondition(gradient.shape == parameter.value.shape, "optimizer: gradient shape \(gradient.shape) ≠ parameter shape \(parameter.value.shape)")
                let dense = gradient.contiguous().cast(to: parameter.value.dtype)
                if scale != 1, let span = spanUpdate(index: index, value: parameter.value, step: stepCount) {
                    Self.applyScaled(span, gradient: dense, scale: scale)
                } else {
                    update(index: index, value: parameter.value, gradient: scale != 1 ? dense * scale : dense)
                }
            }
        }
    }

    /// Elements of gradient scaled at a time, in a buffer that stays in L1 cache.
    static let scaledBlock = 2048

    /// `span` over all of `gradient`, each block of it multiplied by `scale` (rounded to the
    /// gradient's dtype, as `gradient * scale` rounds) into a small buffer first, so the scaled
    /// gradient is never written to memory.
    static func applyScaled(_ span: SpanUpdate, gradient: Tensor, scale: Double) {
        func run<T: BinaryFloatingPoint & TensorScalar>(_ type: T.Type) {
            let g = gradient.unsafeMutableElements(of: T.self), s = T(scale)
            CPUThreads.forChunks(gradient.count, costPerItem: 4) { range in
                withUnsafeTemporaryAllocation(of: T.self, capacity: scaledBlock) { buffer in
                    let block = buffer.baseAddress!
                    for start in stride(from: range.lowerBound, to: range.upperBound, by: scaledBlock) {
                        let count = Swift.min(scaledBlock, range.upperBound - start)
                        for i in 0..<count { block[i] = g[start + i] * s }
                        span(start, count, UnsafeRawPointer(block))
                    }
                }
            }
        }
        withExtendedLifetime(gradient) { gradient.isDouble ? run(Double.self) : run(Float.self) }
    }

    /// Applies one update to `value` (contiguous, updated in place) from `gradient` (contiguous,
    /// same shape and dtype), split across cores. Optimizers with an elementwise update implement
    /// `spanUpdate` instead; others override this.
    open func update(index: Int, value: Tensor, gradient: Tensor) {
        guard let span = spanUpdate(index: index, value: value, step: stepCount) else {
            fatalError("\(type(of: self)) must override update(index:value:gradient:) or spanUpdate(index:value:step:)")
        }
        let g = value.isDouble ? UnsafeRawPointer(gradient.unsafeMutableElements(of: Double.self))
                               : UnsafeRawPointer(gradient.unsafeMutableElements(of: Float.self))
        let size = value.dtype.byteSize
        CPUThreads.forChunks(value.count, costPerItem: 4) { range in span(range.lowerBound, range.count, g + range.lowerBound * size) }
    }

    /// Whether the update is elementwise: `spanUpdate` returns a kernel (true for the built-in
    /// optimizers). A compiled training step then applies each weight's update inside the op
    /// that makes its gradient, block by block (see `MatMulUpdateOp`).
    open var updatesElementwise: Bool { false }

    /// Parameter `index`'s update for step number `step` (1 for the first) as a kernel over
    /// spans of elements: `kernel(offset, count, gradient)` updates `value`'s elements
    /// offset..<offset+count (and the optimizer state) in place from `gradient`, their `count`
    /// gradient elements (of `value`'s dtype). Spans may run concurrently. Nil unless
    /// `updatesElementwise`.
    open func spanUpdate(index: Int, value: Tensor, step: Int) -> SpanUpdate? { nil }

    /// Clears the gradients of all parameters.
    public func zeroGrad() { for p in parameters { p.grad = nil } }

    /// Everything needed to resume exactly: state tensors, step count, learning rate.
    public func state() -> OptimizerState {
        var state = OptimizerState()
        state.scalars["learningRate"] = learningRate
        state.scalars["stepCount"] = Double(stepCount)
        for (index, slotTensors) in slots.enumerated() {
            for (name, tensor) in slotTensors { state.tensors["\(index).\(name)"] = tensor.copied() }
        }
        return state
    }

    /// Restores `state()` output; throws if it does not fit these parameters.
    public func load(_ state: OptimizerState) throws {
        var restored = Array(repeating: [String: Tensor](), count: parameters.count)
        for (key, tensor) in state.tensors {
            let parts = key.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let index = Int(parts[0]), parameters.indices.contains(index) else {
                throw OptimizerStateError(description: "optimizer state: key \(key) names no parameter (there are \(parameters.count))")
            }
            guard tensor.shape == parameters[index].value.shape, tensor.dtype == parameters[index].value.dtype else {
                throw OptimizerStateError(description: "optimizer state: \(key) has shape \(tensor.shape) \(tensor.dtype), parameter \(index) is \(parameters[index].value.shape) \(parameters[index].value.dtype)")
            }
            restored[index][String(parts[1])] = tensor.copied()
        }
        if let lr = state.scalars["learningRate"] {
            guard lr.isFinite, lr >= 0 else { throw OptimizerStateError(description: "optimizer state: learning rate \(lr) is not a valid rate") }
            learningRate = lr
        }
        if let steps = state.scalars["stepCount"] {
            guard let count = Int(exactly: steps), count >= 0 else { throw OptimizerStateError(description: "optimizer state: step count \(steps) is not a count") }
            stepCount = count
        }
        slots = restored
    }
}

extension Tensor {
    /// Whether the C kernels' Float64 variant applies.
    var isDouble: Bool { dtype == .float64 }
}
