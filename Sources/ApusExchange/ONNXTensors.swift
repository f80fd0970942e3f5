import Apus
import Foundation

/// ONNX's element type codes (`TensorProto.DataType`) for Apus dtypes, both ways.
enum ONNXElementType {
    static let float: Int32 = 1, uint8: Int32 = 2, int8: Int32 = 3, int32: Int32 = 6, int64: Int32 = 7,
               bool: Int32 = 9, double: Int32 = 11

    /// The ONNX code of `dtype`.
    static func code(_ dtype: DType) -> Int32 {
        switch dtype {
        case .float32: return float
        case .float64: return double
        case .int32: return int32
        case .int64: return int64
        case .bool: return bool
        }
    }

    /// The Apus dtype of ONNX code `code`, nil for types Apus has no tensors of.
    static func dtype(_ code: Int32) -> DType? {
        switch code {
        case float: return .float32
        case double: return .float64
        case int32: return .int32
        case int64: return .int64
        case bool: return .bool
        default: return nil
        }
    }

    /// "FLOAT16" and so on, for errors.
    static func name(_ code: Int32) -> String {
        let names: [Int32: String] = [0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
                                      8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 16: "BFLOAT16"]
        return names[code] ?? "type \(code)"
    }
}

extension Tensor {
    /// The tensor as an ONNX `TensorProto` named `name`: dims, data type and little-endian,
    /// row-major `raw_data`. Any shape and dtype; a concrete (not symbolic) tensor.
    func onnxProto(name: String) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = shape.map(Int64.init)
        proto.dataType = ONNXElementType.code(dtype)
        proto.rawData = littleEndianBytes
        return proto
    }

    /// The tensor an ONNX `TensorProto` holds (raw_data or the typed repeated fields). Throws a
    /// `.malformed` `ONNXError` for a negative dim, a byte count that does not match the dims,
    /// external data or an element type Apus has no tensors of.
    init(onnx proto: Onnx_TensorProto) throws {
        let label = proto.name.isEmpty ? "a tensor" : "tensor '\(proto.name)'"
        guard proto.dataLocation != .external && proto.externalData.isEmpty else {
            throw ONNXError(.unsupported, "ONNX import: \(label) keeps its data in an external file (not supported; save the model with its data inline)")
        }
        guard let dtype = ONNXElementType.dtype(proto.dataType) else {
            throw ONNXError(.unsupported, "ONNX import: \(label) has element type \(ONNXElementType.name(proto.dataType)), which Apus has no tensors of")
        }
        guard proto.dims.allSatisfy({ $0 >= 0 && $0 < Int64(Int32.max) }) else {
            throw ONNXError(.malformed, "ONNX import: \(label) has invalid dims \(proto.dims)")
        }
        let shape = proto.dims.map(Int.init)
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow && product <= 1 << 34 else { throw ONNXError(.malformed, "ONNX import: \(label) has too many elements (dims \(shape))") }
            count = product
        }
        func mismatch(_ got: Int) -> ONNXError {
            ONNXError(.malformed, "ONNX import: \(label) of dims \(shape) needs \(count) elements, its data holds \(got)")
        }
        if count == 0 {
            self = Tensor.zeros(shape, dtype: dtype)
            return
        }
        if proto.hasRawData {
            let bytes = proto.rawData
            guard bytes.count == count * dtype.byteSize else { throw mismatch(bytes.count / Swift.max(dtype.byteSize, 1)) }
            self = Tensor(littleEndianBytes: bytes, shape: shape, dtype: dtype)
            return
        }
        /// The typed data field, checked to hold exactly `count` values.
        func typed<T: TensorScalar>(_ values: [T]) throws -> Tensor {
            guard values.count == count else { throw mismatch(values.count) }
            return Tensor(shape: shape, scalars: values)
        }
        switch dtype {
        case .float32: self = try typed(proto.floatData)
        case .float64: self = try typed(proto.doubleData)
        case .int64: self = try typed(proto.int64Data)
        case .int32: self = try typed(proto.int32Data)
        case .bool: self = try typed(proto.int32Data.map { $0 != 0 })
        }
    }
}
