/// Where an analytic gradient disagreed with central finite differences.
public struct GradCheckFailure: Error, CustomStringConvertible {
    /// Index of the input (in `inputs`) whose gradient disagreed.
    public let input: Int
    /// Flat (row-major) index of the element within that input.
    public let element: Int
    /// The gradient from the vector–Jacobian products (`vjp`).
    public let analytic: Double
    /// The central finite-difference estimate, computed in Float64.
    public let numeric: Double
    /// A one-line report: input, element, analytic and finite-difference values.
    public var description: String {
        "gradcheck: input \(input), element \(element): analytic \(analytic) vs finite-difference \(numeric)"
    }
}

/// Compares the vjp-based gradient of `f` at `inputs` with central finite differences in Float64.
///
/// Floating-point inputs are converted to Float64; the output is contracted with a fixed
/// random cotangent (seeded), so every entry of the Jacobian contributes. Integer and bool
/// inputs (indices, masks) pass through unchanged. Returns nil when every partial derivative
/// agrees within `atol + rtol·|numeric|`, else the worst disagreement.
///
/// ```swift
/// #expect(gradcheck([x]) { $0[0].tanh() } == nil)
/// ```
public func gradcheck(_ inputs: [Tensor], epsilon: Double = 1e-6, atol: Double = 1e-6, rtol: Double = 1e-4,
                      seed: UInt64 = 7, _ f: ([Tensor]) -> Tensor) -> GradCheckFailure? {
    let xs = inputs.map { $0.dtype.isFloatingPoint ? $0.cast(to: .float64).copied().detached() : $0 }
    let probe = withoutGrad { f(xs) }
    let cotangent = Tensor.normal(probe.shape, dtype: .float64, generator: RandomGenerator(seed: seed))
    func objective(_ values: [Tensor]) -> Double {
        withoutGrad { (f(values) * cotangent).sum().item() }
    }
    let differentiable = xs.indices.filter { xs[$0].dtype.isFloatingPoint }
    let leaves = xs.enumerated().map { i, x in differentiable.contains(i) ? x.requiringGrad() : x }
    let output = withGrad { (f(leaves) * cotangent).sum() }
    let analytic = output.requiresGrad
        ? gradients(of: output, wrt: differentiable.map { leaves[$0] })
        : differentiable.map { xs[$0].zerosLike() }
    var worst: (GradCheckFailure, Double)? = nil
    for (k, i) in differentiable.enumerated() {
        let exact = analytic[k].scalars(as: Double.self)
        for element in 0..<xs[i].count {
            var shifted = xs
            func value(at delta: Double) -> Double {
                var x = xs[i]
                x.withUnsafeMutableBuffer(of: Double.self) { $0[element] += delta }
                shifted[i] = x
                return objective(shifted)
            }
            let numeric = (value(at: epsilon) - value(at: -epsilon)) / (2 * epsilon)
            let error = Swift.abs(numeric - exact[element]) - (atol + rtol * Swift.abs(numeric))
            if error > 0 && error > (worst?.1 ?? 0) {
                worst = (GradCheckFailure(input: i, element: element, analytic: exact[element], numeric: numeric), error)
            }
        }
    }
    return worst?.0
}
