import Foundation

extension Tensor: CustomStringConvertible {
    /// PyTorch-style text: values (abbreviated with `...` beyond 1000 elements, 3 per edge),
    /// then shape and dtype, e.g. `tensor([[1., 2.], [3., 4.]], shape: [2, 2], dtype: float32)`.
    public var description: String {
        if isSymbolic { return "tensor(<symbolic>, shape: \(shape), dtype: \(dtype))" }
        let abbreviate = count > 1000
        let flat = (0..<count).map(element)
        let isInteger = !dtype.isFloatingPoint
        let allWhole = flat.allSatisfy { $0.rounded() == $0 && $0.magnitude < 1e8 }
        func format(_ v: Double) -> String {
            if dtype == .bool { return v != 0 ? "true" : "false" }
            if isInteger { return String(Int64(v)) }
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if allWhole { return String(format: "%.0f.", v) }
            let magnitude = v.magnitude
            return magnitude != 0 && (magnitude >= 1e5 || magnitude < 1e-4) ? String(format: "%.4e", v) : String(format: "%.4f", v)
        }
        let width = flat.map { format($0).count }.max() ?? 0
        func padded(_ v: Double) -> String {
            let s = format(v)
            return String(repeating: " ", count: width - s.count) + s
        }
        let strides = Tensor.contiguousStrides(shape)
        func render(_ axis: Int, _ base: Int, _ indent: Int) -> String {
            if axis == rank { return padded(flat[base]) }
            let size = shape[axis]
            var indices = Array(0..<size)
            var ellipsisAt: Int? = nil
            if abbreviate && size > 6 {
                indices = [0, 1, 2, size - 3, size - 2, size - 1]
                ellipsisAt = 3
            }
            var parts = indices.map { render(axis + 1, base + $0 * strides[axis], indent + 1) }
            if let e = ellipsisAt { parts.insert("...", at: e) }
            let separator = axis == rank - 1 ? ", " : "," + String(repeating: "\n", count: rank - axis - 1) + String(repeating: " ", count: indent + 1)
            return "[" + parts.joined(separator: separator) + "]"
        }
        let body = render(0, 0, 7)
        return "tensor(\(body), shape: \(shape), dtype: \(dtype))"
    }
}
