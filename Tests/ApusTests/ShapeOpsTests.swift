import Testing
@testable import Apus
import ApusTestSupport

@Suite struct ShapeOpsTests {
    let x = Tensor.arange(0, 24, dtype: .float64).reshaped([2, 3, 4])

    @Test func reshapeAndPermute() {
        #expect(x.reshaped([4, -1]).shape == [4, 6])
        #expect(x.flattened(startAxis: 1).shape == [2, 12])
        let p = x.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(p[1, 1, 2].item() == x[1, 2, 1].item())
        #expect(x.T.shape == [2, 4, 3])
        #expect(x.unsqueezed(axis: 1).shape == [2, 1, 3, 4])
        #expect(x.unsqueezed(axis: -1).shape == [2, 3, 4, 1])
        #expect(Tensor.zeros([1, 3, 1]).squeezed().shape == [3])
        #expect(Tensor.zeros([1, 3, 1]).squeezed(axis: 0).shape == [3, 1])
        expectClose(Tensor([1.0, 2.0]).reshaped([2, 1]).expanded(to: [2, 3]), [1, 1, 1, 2, 2, 2])
        expectGradients([x]) { $0[0].reshaped([6, 4]) }
        expectGradients([x]) { $0[0].permuted([1, 2, 0]) }
        expectGradients([randn([3, 1])]) { $0[0].expanded(to: [2, 3, 4]) }
        expectGradients([x]) { $0[0].transposed(0, 1).reshaped([-1]) }
    }

    @Test func slicingWithRangesAndSteps() {
        expectClose(x[1, 2], [20, 21, 22, 23])
        expectClose(x[0, .all, 3], [3, 7, 11])
        expectClose(x[.all, 1..<3, 1...2], [5, 6, 9, 10, 17, 18, 21, 22])
        expectClose(x[0, 0, .strided(from: 0, to: nil, by: 2)], [0, 2])
        expectClose(x[0, 0, .strided(from: 1, to: 4, by: 2)], [1, 3])
        expectClose(x[-1, -1], [20, 21, 22, 23])
        expectClose(x.slice(axis: 2, start: 1, end: -1), [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22])
        #expect(x[0, 5...].shape == [0, 4])
        expectGradients([x]) { $0[0][.all, 1..<3, .strided(from: 0, to: nil, by: 3)] }
        expectGradients([x]) { $0[0][1, 2] }
    }

    @Test func ranksBeyondTheKernelsIndexBuffer() {
        // Rank 10 with reversed axes: no dimension can be merged, so the strided kernels would
        // need 10 indices; the fallback paths handle it.
        let x = Tensor.arange(0, 1024, dtype: .float64).reshaped(Array(repeating: 2, count: 10))
        let reversed = x.permuted(Array((0..<10).reversed()))
        let dense = reversed.contiguous()
        #expect(dense.scalars(as: Double.self)[1] == 512)
        let sum = reversed + reversed
        #expect(sum.scalars(as: Double.self)[1] == 1024)
        #expect((reversed .> 511).scalars(as: Bool.self)[1])
    }

    @Test func flipSplitConcatStackPad() {
        let m = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        expectClose(m.flipped(axes: [1]), [3, 2, 1, 6, 5, 4])
        expectClose(m.flipped(axes: [0, 1]), [6, 5, 4, 3, 2, 1])
        expectClose(m.flipped(axes: [1]) + m, [4, 4, 4, 10, 10, 10])
        let parts = m.split(sizes: [1, 2], axis: 1)
        expectClose(parts[0], [1, 4])
        expectClose(parts[1], [2, 3, 5, 6])
        #expect(m.split(count: 2, axis: 0).map(\.shape) == [[1, 3], [1, 3]])
        expectClose(Tensor.concat([m, m * 10], axis: 0), [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60])
        expectClose(Tensor.concat([m, m[.all, 0..<1]], axis: 1), [1, 2, 3, 1, 4, 5, 6, 4])
        let s = Tensor.stack([m, m * 2], axis: 1)
        #expect(s.shape == [2, 2, 3])
        expectClose(s[0], [1, 2, 3, 2, 4, 6])
        expectClose(Tensor.stack([Tensor([1.0]), Tensor([2.0])], axis: -1), [1, 2])
        let p = Tensor([[1.0, 2.0]]).padded([(1, 0), (1, 2)], value: -1)
        #expect(p.shape == [2, 5])
        expectClose(p, [-1, -1, -1, -1, -1, -1, 1, 2, -1, -1])
        let a = randn([2, 3], seed: 1), b = randn([2, 2], seed: 2)
        expectGradients([a, b]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        expectGradients([a, a * 2]) { Tensor.stack([$0[0], $0[1]], axis: 0) }
        expectGradients([a]) { $0[0].padded([(2, 1), (0, 3)]) }
        expectGradients([a]) { $0[0].flipped(axes: [0, 1]) }
        expectGradients([a]) { $0[0].split(sizes: [1, 2], axis: 1)[1] }
    }
}
