import Foundation

extension Tensor {
    /// The elements, row-major, as little-endian bytes: `count × dtype.byteSize` of them (Bool:
    /// one byte each, 0 or 1). What safetensors and ONNX's `raw_data` hold.
    public var littleEndianBytes: Data {
        switch dtype {
        case .float32: withUnsafeBuffer(of: Float.self) { Data(buffer: $0) }
        case .float64: withUnsafeBuffer(of: Double.self) { Data(buffer: $0) }
        case .int32: withUnsafeBuffer(of: Int32.self) { Data(buffer: $0) }
        case .int64: withUnsafeBuffer(of: Int64.self) { Data(buffer: $0) }
        case .bool: withUnsafeBuffer(of: Bool.self) { Data(buffer: $0) }
        }
    }

    /// A tensor of `shape` and `dtype` from row-major little-endian `bytes`, which must hold
    /// exactly `shape`'s element count × `dtype.byteSize` bytes (Bool: any non-zero byte is true).
    public init(littleEndianBytes bytes: Data, shape: [Int], dtype: DType) {
        let count = shape.reduce(1, *)
        precondition(bytes.count == count * dtype.byteSize, "Tensor(littleEndianBytes:): \(bytes.count) bytes for \(count) \(dtype) elements")
        func make<T: TensorScalar>(_ zero: T) -> Tensor {
            var values = [T](repeating: zero, count: count)
            _ = values.withUnsafeMutableBytes { bytes.copyBytes(to: $0) }
            return Tensor(shape: shape, scalars: values)
        }
        switch dtype {
        case .float32: self = make(Float(0))
        case .float64: self = make(Double(0))
        case .int32: self = make(Int32(0))
        case .int64: self = make(Int64(0))
        case .bool: self = Tensor(shape: shape, scalars: bytes.map { $0 != 0 })
        }
    }
}
