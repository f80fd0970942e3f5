/// Operand layouts for the strided C kernels: broadcasting strides and dimension coalescing.
struct StridedLayout {
    var shape: [Int64]
    /// One stride list per operand, in elements.
    var strides: [[Int64]]

    /// Layout of `operands` read as `outShape` (NumPy broadcasting: missing or size-1 dims get
    /// stride 0), with adjacent dimensions merged where every operand allows it.
    init(outShape: [Int], operands: [Tensor]) {
        let rank = outShape.count
        var perOperand: [[Int]] = operands.map { t in
            let pad = rank - t.rank
            return (0..<rank).map { axis in
                axis < pad || t.shape[axis - pad] == 1 ? 0 : t.strides[axis - pad]
            }
        }
        var dims = outShape
        // Drop size-1 dimensions, then merge (i, i+1) when stride[i] == stride[i+1] * size[i+1] for all.
        let keep = dims.indices.filter { dims[$0] != 1 }
        dims = keep.map { dims[$0] }
        perOperand = perOperand.map { s in keep.map { s[$0] } }
        var i = dims.count - 2
        while i >= 0 {
            if perOperand.allSatisfy({ $0[i] == $0[i + 1] * dims[i + 1] }) {
                dims[i] *= dims[i + 1]
                dims.remove(at: i + 1)
                for k in perOperand.indices { perOperand[k].remove(at: i) }
            }
            i -= 1
        }
        if dims.isEmpty {
            dims = [1]
            perOperand = perOperand.map { _ in [1] }
        }
        shape = dims.map(Int64.init)
        strides = perOperand.map { $0.map(Int64.init) }
    }

    var rank: Int32 { Int32(shape.count) }
    var count: Int { Int(shape.reduce(1, *)) }
}

/// The most dimensions the strided C kernels iterate over (`APUS_MAX_DIMS`); beyond it the
/// callers take a slower path.
let maxKernelRank = 8
