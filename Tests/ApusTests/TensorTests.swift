import Testing
@testable import Apus
import ApusTestSupport

@Suite struct TensorTests {
    @Test func createsFromNestedArrays() {
        let t = Tensor([[1, 2, 3], [4, 5, 6]])
        #expect(t.shape == [2, 3])
        #expect(t.dtype == .int64)
        #expect(t.scalars(as: Int64.self) == [1, 2, 3, 4, 5, 6])
        let f = Tensor([[1.5, 2.5]])
        #expect(f.dtype == .float32 && f.shape == [1, 2])
        let d = Tensor([1.0, 2.0], dtype: .float64)
        #expect(d.dtype == .float64)
        #expect(Tensor(3.5).shape == [] && Tensor(3.5).item() == 3.5)
        #expect(Tensor([true, false]).dtype == .bool)
        #expect(Tensor(shape: [2, 2], scalars: [Float(1), 2, 3, 4]).scalars(as: Float.self) == [1, 2, 3, 4])
    }

    @Test func creationFunctions() {
        expectClose(Tensor.zeros([2, 2]), [0, 0, 0, 0])
        expectClose(Tensor.ones([3]), [1, 1, 1])
        expectClose(Tensor.full([2], 7), [7, 7])
        expectClose(Tensor.eye(3), [1, 0, 0, 0, 1, 0, 0, 0, 1])
        expectClose(Tensor.eye(2, 3), [1, 0, 0, 0, 1, 0])
        #expect(Tensor.arange(0, 5).scalars(as: Int64.self) == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(0, 5).dtype == .int64)
        expectClose(Tensor.arange(1, 2, step: 0.25), [1, 1.25, 1.5, 1.75])
        expectClose(Tensor.arange(5, 0, step: -2), [5, 3, 1])
        expectClose(Tensor.linspace(0, 1, count: 5), [0, 0.25, 0.5, 0.75, 1])
        #expect(Tensor.linspace(0, 1, count: 0).shape == [0])
    }

    @Test func seededRandomnessIsReproducible() {
        Random.seed(42)
        let a = Tensor.normal([100])
        let u = Tensor.uniform([50], low: -1, high: 1)
        Random.seed(42)
        #expect(Tensor.normal([100]).scalars(as: Float.self) == a.scalars(as: Float.self))
        #expect(Tensor.uniform([50], low: -1, high: 1).scalars(as: Float.self) == u.scalars(as: Float.self))
        let g1 = RandomGenerator(seed: 3), g2 = RandomGenerator(seed: 3)
        #expect(Tensor.bernoulli([64], p: 0.3, generator: g1).scalars(as: Float.self)
                == Tensor.bernoulli([64], p: 0.3, generator: g2).scalars(as: Float.self))
        #expect(Tensor.normal([10], generator: RandomGenerator(seed: 1)).scalars(as: Float.self)
                != Tensor.normal([10], generator: RandomGenerator(seed: 2)).scalars(as: Float.self))
    }

    @Test func randomDistributionsHaveTheirMoments() {
        let n = Tensor.normal([20000], mean: 2, std: 3, dtype: .float64, generator: RandomGenerator(seed: 5))
        #expect(abs(n.mean().item() - 2) < 0.1)
        #expect(abs(n.variance().item().squareRoot() - 3) < 0.1)
        let u = Tensor.uniform([20000], low: 1, high: 3, dtype: .float64, generator: RandomGenerator(seed: 6))
        #expect(u.min().item() >= 1 && u.max().item() < 3 && abs(u.mean().item() - 2) < 0.05)
        let b = Tensor.bernoulli([20000], p: 0.25, generator: RandomGenerator(seed: 7))
        #expect(abs(b.mean().item() - 0.25) < 0.02)
        let mask = Tensor.dropoutMask([20000], p: 0.5, generator: RandomGenerator(seed: 8))
        #expect(Set(mask.scalars(as: Float.self)) == [0, 2])
    }

    @Test func viewsShareStorageAndCopiesDoNot() {
        let x = Tensor.arange(0, 12, dtype: .float32).reshaped([3, 4])
        #expect(x.transposed().sharesStorage(with: x))
        #expect(x[1..<3].sharesStorage(with: x))
        #expect(x.unsqueezed(axis: 0).expanded(to: [2, 3, 4]).sharesStorage(with: x))
        #expect(x.reshaped([4, 3]).sharesStorage(with: x))
        #expect(x.flipped(axes: [1]).sharesStorage(with: x))
        #expect(!x.transposed().isContiguous)
        // Reshaping a transposed view cannot be a view: it copies.
        let t = x.transposed().reshaped([12])
        #expect(!t.sharesStorage(with: x))
        expectClose(t, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        #expect(!x.copied().sharesStorage(with: x))
    }

    @Test func writesAreCopyOnWrite() {
        let a = Tensor([1.0, 2.0, 3.0])
        var b = a
        var view = a[1...]
        b.withUnsafeMutableBuffer(of: Float.self) { $0[0] = 10 }
        view.withUnsafeMutableBuffer(of: Float.self) { $0[0] = 20 }
        expectClose(a, [1, 2, 3])
        expectClose(b, [10, 2, 3])
        expectClose(view, [20, 3])
        var unique = Tensor([5.0, 6.0])
        unique.fill(1)
        expectClose(unique, [1, 1])
    }

    @Test func describesLikePyTorch() {
        #expect(Tensor([[1, 2], [3, 4]], dtype: .float32).description
                == "tensor([[1., 2.],\n        [3., 4.]], shape: [2, 2], dtype: float32)")
        #expect(Tensor([0.5, -1.25]).description == "tensor([ 0.5000, -1.2500], shape: [2], dtype: float32)")
        #expect(Tensor([1, 2]).description == "tensor([1, 2], shape: [2], dtype: int64)")
        #expect(Tensor([true, false]).description == "tensor([ true, false], shape: [2], dtype: bool)")
        let big = Tensor.arange(0, 2000, dtype: .float32)
        #expect(big.description == "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], shape: [2000], dtype: float32)")
    }

    @Test func cachingAllocatorReusesMemory() {
        let a = Tensor.normal([256, 256], generator: RandomGenerator(seed: 1))
        let b = Tensor.normal([256, 256], generator: RandomGenerator(seed: 2))
        func step() -> Double { (a.matmul(b).relu() * 2 + a).sum().item() }
        _ = step()
        _ = step()
        let before = CachingAllocator.shared.statistics.systemAllocations
        let first = step()
        for _ in 0..<5 { #expect(step() == first) }
        #expect(CachingAllocator.shared.statistics.systemAllocations == before)
        #expect(CachingAllocator.sizeClass(100) == 128)
        #expect(CachingAllocator.sizeClass(5000) == 5120)
    }
}
