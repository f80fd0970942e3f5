import ApusTestSupport
import Testing
@testable import Apus

@Suite struct CompileTests {
    let w1 = Tensor.normal([6, 8], generator: RandomGenerator(seed: 1)).requiringGrad()
    let w2 = Tensor.normal([8, 3], generator: RandomGenerator(seed: 2)).requiringGrad()

    func mlp(_ x: Tensor) -> Tensor { x.matmul(w1).tanh().matmul(w2) }

    @Test func matchesEagerAndRetracesOnlyOnNewShapes() throws {
        let f = compile { [self.mlp($0[0]).softmax(axis: 1)] }
        let x = Tensor.normal([4, 6], generator: RandomGenerator(seed: 3))
        expectClose(f([x])[0], mlp(x).softmax(axis: 1).scalars(as: Double.self), tolerance: 1e-6)
        _ = f([x * 2])
        #expect(f.traceCount == 1)
        let y = Tensor.normal([7, 6], generator: RandomGenerator(seed: 4))
        expectClose(f([y])[0], mlp(y).softmax(axis: 1).scalars(as: Double.self), tolerance: 1e-6)
        #expect(f.traceCount == 2)
        _ = f([x])
        #expect(f.traceCount == 2)
        #expect(throws: ShapeError.self) { try f.run([Tensor.zeros([2, 5])]) }
    }

    @Test func compiledGradientsAndParameterUpdatesAreLive() throws {
        let labels = Tensor([0, 2, 1, 1])
        let step = compile { xs in
            let loss = crossEntropy(logits: self.mlp(xs[0]), labels: labels)
            return [loss] + gradients(of: loss, wrt: [self.w1, self.w2])
        }
        let x = Tensor.normal([4, 6], generator: RandomGenerator(seed: 5))
        for _ in 0..<3 {
            let compiled = step([x])
            let loss = crossEntropy(logits: mlp(x), labels: labels)
            let eager = gradients(of: loss, wrt: [w1, w2])
            expectClose(compiled[0], [loss.item()], tolerance: 1e-5)
            expectClose(compiled[1], eager[0].scalars(as: Double.self), tolerance: 1e-5)
            expectClose(compiled[2], eager[1].scalars(as: Double.self), tolerance: 1e-5)
            // An in-place update of a parameter is seen by the next compiled call.
            w1.updateInPlace(of: Float.self) { p in
                let g = compiled[1].scalars(as: Float.self)
                for i in p.indices { p[i] -= 0.5 * g[i] }
            }
        }
        #expect(step.traceCount == 1)
    }

    @Test func passesRemoveDeadAndRepeatedWork() throws {
        let f = compile { xs in
            let a = xs[0].exp(), b = xs[0].exp()       // the same computation twice
            _ = xs[0].sin().cos()                     // unused
            return [a + b]
        }
        let graph = try f.graph(for: [TensorSpec([3])])
        #expect(graph.nodes.map(\.op.name) == ["fused(exp,add)"])
        expectClose(f([Tensor([0.0, 1.0, 2.0])])[0], [2, 2 * 2.718281828, 2 * 7.389056099], tolerance: 1e-6)
    }

    @Test func memoryPlanFreesValuesAfterTheirLastReader() throws {
        let f = compile { xs in [xs[0].exp().sin().cos().tanh().sum()] }
        let spec = TensorSpec([1000])
        // The chain is fused into one op: its intermediates never reach memory; one 4 KB slot remains.
        #expect(try f.arenaBytes(for: [spec]) <= 4032)
        let x = Tensor.uniform([1000])
        expectClose(f([x])[0], [x.exp().sin().cos().tanh().sum().item()], tolerance: 1e-5)
    }
}
