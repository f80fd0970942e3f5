import Testing
@testable import Apus
import ApusTestSupport

@Suite struct IndexingTests {
    let table = Tensor([[0.0, 1.0], [10.0, 11.0], [20.0, 21.0]], dtype: .float64)

    @Test func indexSelectAndEmbedding() {
        let ids = Tensor([[2, 0], [1, 1]])
        let e = embedding(ids, weight: table)
        #expect(e.shape == [2, 2, 2])
        expectClose(e, [20, 21, 0, 1, 10, 11, 10, 11])
        expectClose(table.indexSelect(axis: 1, index: Tensor([1, 1, 0], dtype: .int32)), [1, 1, 0, 11, 11, 10, 21, 21, 20])
        // Repeated indices accumulate in the gradient.
        let (_, g) = valueAndGrad(at: table) { embedding(ids, weight: $0).sum() }
        expectClose(g, [1, 1, 2, 2, 1, 1])
        expectGradients([table, ids]) { $0[0].indexSelect(axis: 0, index: $0[1]) }
        expectGradients([randn([2, 4, 3])]) { $0[0].indexSelect(axis: 1, index: Tensor([3, 0, 3])) }
    }

    @Test func gatherAndScatterAdd() {
        let x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype: .float64)
        let index = Tensor([[2, 0], [1, 1]])
        expectClose(x.gathered(axis: 1, index: index), [3, 1, 5, 5])
        expectClose(x.gathered(axis: 0, index: Tensor([[1, 0, 1]])), [4, 2, 6])
        let base = Tensor.zeros([2, 3], dtype: .float64)
        expectClose(base.scatterAdded(axis: 1, index: index, source: Tensor([[1.0, 2.0], [3.0, 4.0]], dtype: .float64)),
                    [2, 0, 1, 0, 7, 0])
        expectGradients([x, index]) { $0[0].gathered(axis: 1, index: $0[1]) }
        let source = randn([2, 2], seed: 3)
        expectGradients([x, index, source]) { $0[0].scatterAdded(axis: 1, index: $0[1], source: $0[2]) }
    }

    @Test func oneHot() {
        let h = Tensor([2, 0]).oneHot(classes: 3)
        #expect(h.shape == [2, 3] && h.dtype == .float32)
        expectClose(h, [0, 0, 1, 1, 0, 0])
    }
}
