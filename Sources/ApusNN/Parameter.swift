import Apus

/// A trainable tensor owned by a module: `@Parameter var weight: Tensor`.
///
/// The wrapper is a class, so a module (and an optimizer holding the same `Parameter`) share
/// it; the tensor inside is a leaf that requires a gradient unless the parameter is frozen.
@propertyWrapper
public final class Parameter {
    /// The current value (a leaf tensor; its `.grad` collects gradients).
    public private(set) var value: Tensor

    /// Wraps `wrappedValue` (floating point) as a trainable leaf tensor.
    public init(wrappedValue: Tensor) {
        precondition(wrappedValue.dtype.isFloatingPoint, "Parameter: a parameter must be floating point, got \(wrappedValue.dtype)")
        value = wrappedValue.requiringGrad()
    }

    /// The tensor; assigning keeps it a leaf that requires a gradient unless the parameter is frozen.
    public var wrappedValue: Tensor {
        get { value }
        set { value = newValue.requiringGrad(isTrainable) }
    }

    /// The parameter object itself (`$weight`), for optimizers and checkpoints.
    public var projectedValue: Parameter { self }

    /// Whether gradients are computed for this parameter (false after `freeze()`).
    public var isTrainable: Bool {
        get { value.requiresGrad }
        set { value = value.requiringGrad(newValue) }
    }

    /// The accumulated gradient (nil before the first backward or after `zeroGrad`).
    public var grad: Tensor? {
        get { value.grad }
        set { if value.requiresGrad { value.grad = newValue } }
    }

    /// Runs `body` with each parameter's value replaced by the tensor at the same position,
    /// then puts the values back. Graph mode traces a model this way with symbolic stand-ins,
    /// so parameters become graph inputs (read afresh on every run) and gradients with respect
    /// to them are traced.
    public static func substituting<R>(_ parameters: [Parameter], with values: [Tensor], _ body: () throws -> R) rethrows -> R {
        precondition(parameters.count == values.count, "Parameter.substituting: \(parameters.count) parameters, \(values.count) values")
        let saved = parameters.map(\.value)
        for (parameter, value) in zip(parameters, values) {
            precondition(value.spec == parameter.value.spec, "Parameter.substituting: \(value.spec) for a \(parameter.value.spec) parameter")
            parameter.value = value.requiresGrad == parameter.isTrainable ? value : value.requiringGrad(parameter.isTrainable)
        }
        defer { for (parameter, value) in zip(parameters, saved) { parameter.value = value } }
        return try body()
    }
}

/// A parameter that may be absent (a bias that is switched off): `@OptionalParameter var bias: Tensor?`.
@propertyWrapper
public final class OptionalParameter {
    /// The parameter, when present.
    public var parameter: Parameter?

    /// Wraps `wrappedValue` as a parameter, or nil for an absent one.
    public init(wrappedValue: Tensor?) { parameter = wrappedValue.map { Parameter(wrappedValue: $0) } }

    /// The parameter object (`$bias`), nil when absent.
    public var projectedValue: Parameter? { parameter }

    /// The tensor, or nil when absent; assigning nil removes the parameter, assigning a tensor creates it if needed.
    public var wrappedValue: Tensor? {
        get { parameter?.value }
        set {
            if let newValue {
                if let parameter { parameter.wrappedValue = newValue } else { parameter = Parameter(wrappedValue: newValue) }
            } else {
                parameter = nil
            }
        }
    }
}

/// State that is saved with a module but not trained (BatchNorm's running statistics):
/// `@Buffer var runningMean: Tensor`.
@propertyWrapper
public final class Buffer {
    /// The current value (detached: no gradient flows through a buffer).
    public var value: Tensor
    /// Wraps `wrappedValue`, detached from any autograd graph.
    public init(wrappedValue: Tensor) { value = wrappedValue.detached() }
    /// The tensor; assigning stores it detached.
    public var wrappedValue: Tensor {
        get { value }
        set { value = newValue.detached() }
    }
    /// The buffer object itself (`$runningMean`), for checkpoints and compiled steps.
    public var projectedValue: Buffer { self }
}

extension Buffer {
    /// Runs `body` with each buffer's value replaced by the tensor at the same position, then
    /// puts the values back: a compiled step traces its model with symbolic buffers this way, so
    /// they become graph inputs that the step updates in place (running statistics).
    public static func substituting<R>(_ buffers: [Buffer], with values: [Tensor], _ body: () throws -> R) rethrows -> R {
        precondition(buffers.count == values.count, "Buffer.substituting: \(buffers.count) buffers, \(values.count) values")
        let saved = buffers.map(\.value)
        for (buffer, value) in zip(buffers, values) { buffer.value = value }
        defer { for (buffer, value) in zip(buffers, saved) { buffer.value = value } }
        return try body()
    }
}
