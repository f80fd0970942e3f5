import CApusKernels
import Foundation

/// The mode that the single dispatch point runs in; scoped per task/thread.
struct DispatchState {
    /// Whether results of differentiable ops on inputs that require gradients get a backward node.
    var gradEnabled = true
    /// Set while tracing: ops record into this graph instead of computing.
    var recorder: Graph?
    /// Set inside `Tensor.checking`: shape and index errors are collected here instead of stopping.
    var errorSink: ErrorSink?
    /// Set inside `watchingGradients`: hears when `backward()` has finished a watched leaf's gradient.
    var gradientWatch: GradientWatch?

    @TaskLocal static var current = DispatchState()
}

/// Collects the first error (a `ShapeError` or `IndexError`) an op raised while checking,
/// tracing or running a compiled graph.
final class ErrorSink {
    var error: (any Error)?
}

extension Tensor {
    /// The single dispatch point of Apus: checks `op`'s shape rule, then computes (eager) or
    /// records (tracing) it, and attaches a backward node when a gradient is needed.
    ///
    /// In eager mode a shape error stops the program with the rule's message (like an
    /// out-of-range index); inside `Tensor.checking { }` (which every throwing API of Apus —
    /// `fit`, `evaluate`, `predict`, the CLI — runs user code in) or `Graph.trace` it is thrown
    /// instead, and every later op returns a placeholder without computing.
    public static func apply<Op: Operation>(_ op: Op, _ inputs: [Tensor]) -> [Tensor] {
        let state = DispatchState.current
        if let sink = state.errorSink ?? state.recorder?.errorSink, sink.error != nil {
            return Array(repeating: Tensor.poisoned, count: op.outputCount)
        }
        let specs: [TensorSpec]
        do {
            specs = try op.outputSpecs(inputs.map(\.spec))
            // Absurd sizes (from outside input) are a shape error, not an overflow further on.
            for spec in specs where !spec.isAddressable {
                throw ShapeError(op: op.name, shapes: inputs.map(\.shape), expected: "an output that fits in memory, not \(spec.shape)")
            }
        } catch let error as ShapeError {
            if let sink = state.errorSink ?? state.recorder?.errorSink {
                sink.error = error
                return Array(repeating: Tensor.poisoned, count: op.outputCount)
            }
            fatalError(error.description)
        } catch {
            report(error)
            return Array(repeating: Tensor.poisoned, count: op.outputCount)
        }
        var outputs: [Tensor]
        if let graph = state.recorder {
            outputs = graph.record(op, inputs, specs)
        } else {
            apus_flush_denormals()   // once per thread (a thread-local flag in C)
            let start = OpProfiler.isEnabled ? DispatchTime.now().uptimeNanoseconds : 0
            outputs = op.cpu(inputs, specs)
            if OpProfiler.isEnabled { OpProfiler.record(op.name, since: start) }
        }
        if state.gradEnabled && op.isDifferentiable && inputs.contains(where: \.requiresGrad) {
            let node = BackwardNode(op: op, inputs: inputs, outputs: outputs)
            for i in outputs.indices where outputs[i].dtype.isFloatingPoint {
                outputs[i].autograd = AutogradInfo(node: node, outputIndex: i)
            }
        }
        return outputs
    }

    /// Runs `body` with shape errors (`ShapeError`) and indices out of range (`IndexError`, a
    /// label ≥ the class count for example) thrown instead of stopping the program: the `throws`
    /// variant of every op. After the first error the ops in `body` return a placeholder
    /// without computing; the error is thrown when `body` returns.
    ///
    /// ```swift
    /// let y = try Tensor.checking { a.matmul(b) }   // throws ShapeError if inner dims differ
    /// ```
    public static func checking<R>(_ body: () throws -> R) throws -> R {
        let sink = ErrorSink()
        var state = DispatchState.current
        state.errorSink = sink
        let result = try DispatchState.$current.withValue(state) { try body() }
        if let error = sink.error { throw error }
        return result
    }

    /// The placeholder returned after an error while checking (never computed on): a scalar
    /// zero, so shape helpers and reads keep working until the error is thrown.
    public static var poisoned: Tensor { Tensor(storage: poisonStorage, shape: [], strides: [], offset: 0, dtype: .float32) }
    static let poisonStorage: Storage = {
        let storage = withoutArenaPlacement { Storage(byteCount: 16) }
        storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        return storage
    }()

    /// Whether this is the placeholder left by an error inside `checking` or `Graph.trace`:
    /// a layer given one returns it at once (its input already failed).
    public var isPoisoned: Bool { storage === Tensor.poisonStorage }

    /// Reports a problem found outside a shape rule (a layer's or loss's argument checks, an
    /// index out of range): thrown by the enclosing `checking`/`Graph.trace` (the first error
    /// wins), else it stops the program with the error's message.
    public static func report(_ error: any Error) {
        let state = DispatchState.current
        if let sink = state.errorSink ?? state.recorder?.errorSink {
            if sink.error == nil { sink.error = error }
            return
        }
        fatalError("\(error)")
    }

    /// Reports `error` (see `report`) and returns the placeholder, for a layer's or function's
    /// argument check: `guard x.rank == 4 else { return .failure(ShapeError(...)) }`.
    public static func failure(_ error: any Error) -> Tensor {
        report(error)
        return poisoned
    }

    /// Whether an error has already been recorded by the enclosing `checking`/`trace`.
    static var hasPendingError: Bool {
        let state = DispatchState.current
        return (state.errorSink ?? state.recorder?.errorSink)?.error != nil
    }
}

/// Runs `body` without recording gradients: results of ops inside do not require grad.
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
    var state = DispatchState.current
    state.gradEnabled = false
    return try DispatchState.$current.withValue(state) { try body() }
}

/// Runs `body` with gradient recording switched on (for example inside `withoutGrad`).
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    var state = DispatchState.current
    state.gradEnabled = true
    return try DispatchState.$current.withValue(state) { try body() }
}

/// Whether ops currently record gradients.
public var isGradEnabled: Bool { DispatchState.current.gradEnabled }
