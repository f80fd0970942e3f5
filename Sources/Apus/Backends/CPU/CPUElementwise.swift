import CApusKernels

/// Calls of the C elementwise kernels, split across cores for large tensors.
enum CPUElementwise {
    /// y = op(x) elementwise; x is made contiguous first.
    static func unary(_ code: apus_unary_op, _ x: Tensor, p0: Double = 0, p1: Double = 0) -> Tensor {
        let input = x.dense
        let y = Tensor(uninitialized: x.shape, dtype: x.dtype)
        let op = Int32(code.rawValue)
        let xp = SendablePointer(raw: input.rawPointer), yp = SendablePointer(raw: y.rawPointer)
        let cost = code == APUS_AFFINE || code == APUS_RELU || code == APUS_NEG ? 1 : 8
        switch x.dtype {
        case .float32:
            CPUThreads.forChunks(x.count, costPerItem: cost) { r in
                apus_unary_f32(op, Int64(r.count), xp.raw.assumingMemoryBound(to: Float.self) + r.lowerBound,
                               yp.raw.assumingMemoryBound(to: Float.self) + r.lowerBound, p0, p1)
            }
        case .float64:
            CPUThreads.forChunks(x.count, costPerItem: cost) { r in
                apus_unary_f64(op, Int64(r.count), xp.raw.assumingMemoryBound(to: Double.self) + r.lowerBound,
                               yp.raw.assumingMemoryBound(to: Double.self) + r.lowerBound, p0, p1)
            }
        default:
            preconditionFailure("unary kernel on \(x.dtype)")
        }
        return y
    }

    /// Splits a strided kernel over dimension 0 of `layout` and calls `kernel(shape, offsets, rowStart)`
    /// for each chunk, where offsets are element offsets into each operand.
    static func splitRows(_ layout: StridedLayout, costPerItem: Int = 1,
                          _ kernel: (_ shape: [Int64], _ offsets: [Int], _ outputOffset: Int) -> Void) {
        let rows = Int(layout.shape[0])
        let perRow = layout.count / max(rows, 1)
        if rows == 1 {
            kernel(layout.shape, layout.strides.map { _ in 0 }, 0)
            return
        }
        CPUThreads.forChunks(rows, costPerItem: perRow * costPerItem) { r in
            var shape = layout.shape
            shape[0] = Int64(r.count)
            kernel(shape, layout.strides.map { Int(r.lowerBound) * Int($0[0]) }, r.lowerBound * perRow)
        }
    }

    /// y = a op b with broadcasting to `outShape` (float32 / float64).
    static func binary(_ code: apus_binary_op, _ a: Tensor, _ b: Tensor, outShape: [Int]) -> Tensor {
        let y = Tensor(uninitialized: outShape, dtype: a.dtype)
        let layout = StridedLayout(outShape: outShape, operands: [a, b])
        if layout.shape.count > maxKernelRank {   // beyond the C kernels' index buffer: broadcast densely first
            let (da, db) = (a.broadcastDense(outShape), b.broadcastDense(outShape))
            return binary(code, da.reshaped1D, db.reshaped1D, outShape: [y.count]).reshapedView(outShape)
        }
        let ap = SendablePointer(raw: a.rawPointer), bp = SendablePointer(raw: b.rawPointer), yp = SendablePointer(raw: y.rawPointer)
        let op = Int32(code.rawValue)
        let sa = layout.strides[0], sb = layout.strides[1]
        splitRows(layout, costPerItem: code == APUS_POW ? 8 : 1) { shape, offsets, out in
            let rank = Int32(shape.count)
            if a.dtype == .float32 {
                apus_binary_f32(op, rank, shape, ap.raw.assumingMemoryBound(to: Float.self) + offsets[0], sa,
                                bp.raw.assumingMemoryBound(to: Float.self) + offsets[1], sb,
                                yp.raw.assumingMemoryBound(to: Float.self) + out)
            } else {
                apus_binary_f64(op, rank, shape, ap.raw.assumingMemoryBound(to: Double.self) + offsets[0], sa,
                                bp.raw.assumingMemoryBound(to: Double.self) + offsets[1], sb,
                                yp.raw.assumingMemoryBound(to: Double.self) + out)
            }
        }
        return y
    }

    /// Bool result of a cmp b with broadcasting (float32 / float64).
    static func compare(_ code: apus_compare_op, _ a: Tensor, _ b: Tensor, outShape: [Int]) -> Tensor {
        let layout = StridedLayout(outShape: outShape, operands: [a, b])
        if layout.shape.count > maxKernelRank {
            let (da, db) = (a.broadcastDense(outShape), b.broadcastDense(outShape))
            return compare(code, da.reshaped1D, db.reshaped1D, outShape: [da.count]).reshapedView(outShape)
        }
        let y = Tensor(uninitialized: outShape, dtype: .bool)
        let op = Int32(code.rawValue)
        let yp = y.pointer(UInt8.self)
        if a.dtype == .float32 {
            apus_compare_f32(op, layout.rank, layout.shape, a.pointer(Float.self), layout.strides[0],
                             b.pointer(Float.self), layout.strides[1], yp)
        } else {
            apus_compare_f64(op, layout.rank, layout.shape, a.pointer(Double.self), layout.strides[0],
                             b.pointer(Double.self), layout.strides[1], yp)
        }
        return y
    }

    /// Element offsets of operand `k` of `layout`, in output (row-major) order. For the
    /// non-vectorised paths (integer dtypes, `where`).
    static func offsets(_ layout: StridedLayout, operand k: Int) -> [Int] {
        var result = [0]
        for (size, stride) in zip(layout.shape, layout.strides[k]) {
            var next: [Int] = []
            next.reserveCapacity(result.count * Int(size))
            for base in result { for i in 0..<Int(size) { next.append(base + i * Int(stride)) } }
            result = next
        }
        return result
    }

    /// y[i] = f(a[i], b[i]) for any scalar type, by broadcasting offsets (integer dtypes).
    static func map<T, U>(_ a: Tensor, _ b: Tensor, outShape: [Int], dtype: DType, _ type: T.Type, _ out: U.Type,
                          _ f: (T, T) -> U) -> Tensor {
        let y = Tensor(uninitialized: outShape, dtype: dtype)
        let layout = StridedLayout(outShape: outShape, operands: [a, b])
        let oa = offsets(layout, operand: 0), ob = offsets(layout, operand: 1)
        let ap = a.pointer(T.self), bp = b.pointer(T.self), yp = y.pointer(U.self)
        for i in 0..<oa.count { yp[i] = f(ap[oa[i]], bp[ob[i]]) }
        return y
    }

    /// Copies `source` (any strides) into `destination`'s memory laid out with `destination`'s strides.
    static func copy(_ source: Tensor, into destination: Tensor) {
        precondition(source.shape == destination.shape && source.dtype == destination.dtype, "copy: mismatched tensors")
        if source.count == 0 { return }
        let layout = StridedLayout(outShape: destination.shape, operands: [source, destination])
        if layout.shape.count > maxKernelRank {   // beyond the C kernels' index buffer: element by element
            let from = offsets(layout, operand: 0), to = offsets(layout, operand: 1), size = source.dtype.byteSize
            for (a, b) in zip(from, to) { (destination.rawPointer + b * size).copyMemory(from: source.rawPointer + a * size, byteCount: size) }
            return
        }
        let sp = SendablePointer(raw: source.rawPointer), dp = SendablePointer(raw: destination.rawPointer)
        let elem = Int32(source.dtype.byteSize)
        let size = source.dtype.byteSize
        splitRows(layout) { shape, offsets, _ in
            apus_copy_strided(elem, Int32(shape.count), shape, sp.raw + offsets[0] * size, layout.strides[0],
                              dp.raw + offsets[1] * size, layout.strides[1])
        }
    }
}

extension Tensor {
    /// A dense copy of this tensor broadcast to `shape` (kernel helper, no dispatch).
    func broadcastDense(_ shape: [Int]) -> Tensor {
        let expanded = ExpandOp(shape: shape).cpu([self], [])[0]
        let y = Tensor(uninitialized: shape, dtype: dtype)
        CPUElementwise.copy(expanded, into: y)
        return y
    }
    /// This dense tensor viewed as 1-D.
    var reshaped1D: Tensor { Tensor(storage: storage, shape: [count], strides: [1], offset: offset, dtype: dtype) }
    /// This dense tensor viewed with `shape`.
    func reshapedView(_ shape: [Int]) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: Tensor.contiguousStrides(shape), offset: offset, dtype: dtype)
    }
}
