import Apus
import ApusNN

extension Model {
    /// A Keras-style table: each layer application with its output shape (batch as "B") and its
    /// parameter count (a shared layer counts once), then the totals.
    public func summary() -> String {
        func format(_ n: Int) -> String {
            let digits = Array(String(n))
            return String(digits.enumerated().flatMap { i, c in (digits.count - i) % 3 == 0 && i > 0 ? [",", c] : [c] })
        }
        var rows: [(String, String, String)] = []
        var counted = Set<ObjectIdentifier>()
        for node in order {
            let shape = "[B" + node.shape.map { ", \($0)" }.joined() + "]"
            if let layer = node.layer {
                let fresh = counted.insert(ObjectIdentifier(layer)).inserted
                rows.append((layer.typeDescription, shape, fresh ? format(layer.parameterCount) : "(shared)"))
            } else {
                rows.append(("\(node.name) (Input)", shape, "0"))
            }
        }
        let header = ("Layer", "Output shape", "Params")
        let w0 = max(header.0.count, rows.map(\.0.count).max() ?? 0) + 2
        let w1 = max(header.1.count, rows.map(\.1.count).max() ?? 0) + 2
        func line(_ r: (String, String, String)) -> String {
            r.0.padding(toLength: w0, withPad: " ", startingAt: 0) + r.1.padding(toLength: w1, withPad: " ", startingAt: 0) + r.2
        }
        let rule = String(repeating: "─", count: w0 + w1 + 12)
        let trainable = trainableParameters().reduce(0) { $0 + $1.value.count }
        return ([#"Model: "\#(name)""#, rule, line(header), rule] + rows.map(line) + [
            rule,
            "Total params: \(format(parameterCount))",
            "Trainable params: \(format(trainable))",
            "Non-trainable params: \(format(parameterCount - trainable))",
        ]).joined(separator: "\n")
    }
}
