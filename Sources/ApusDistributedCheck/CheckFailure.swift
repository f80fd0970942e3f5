/// A check that did not hold, in one line.
struct CheckFailure: Error, CustomStringConvertible {
    let description: String
}

/// Throws `CheckFailure(message)` unless `condition` holds.
func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(description: message()) }
}

/// Throws unless every element of `actual` is within `tolerance` of `expected`.
func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-6, _ what: String) throws {
    let difference = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    try expect(actual.count == expected.count && difference <= tolerance,
               "\(what): got \(actual.prefix(8)), expected \(expected.prefix(8)) (largest difference \(difference))")
}
