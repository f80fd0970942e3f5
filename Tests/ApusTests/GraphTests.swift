import Testing
@testable import Apus
import ApusTestSupport

@Suite struct GraphTests {
    @Test func recordsASmallModelWithShapes() throws {
        let w1 = Tensor.normal([784, 128], generator: RandomGenerator(seed: 1))
        let b1 = Tensor.zeros([128])
        let w2 = Tensor.normal([128, 10], generator: RandomGenerator(seed: 2))
        let graph = try Graph.trace([TensorSpec([32, 784]), TensorSpec([32], .int64)]) { inputs in
            let hidden = (inputs[0].matmul(w1) + b1).relu()
            let logits = hidden.matmul(w2)
            return [crossEntropy(logits: logits, labels: inputs[1])]
        }
        let names = graph.nodes.map(\.op.name)
        #expect(Array(names.prefix(4)) == ["matmul", "add", "relu", "matmul"])
        #expect(names.contains("softmaxCrossEntropy"))   // the loss as one op, probabilities never written
        #expect(graph.outputSpecs == [TensorSpec([], .float32)])
        #expect(graph.constants.count >= 3)
        #expect(graph.values[graph.nodes[0].outputs[0]] == TensorSpec([32, 128]))
        #expect(graph.values[graph.nodes[3].outputs[0]] == TensorSpec([32, 10]))
        #expect(graph.description.contains("= matmul(%0, %2) : [32, 128] float32"))
    }

    @Test func recordsTheBackwardPassToo() throws {
        let graph = try Graph.trace([TensorSpec([4, 3])]) { inputs in
            let x = inputs[0].requiringGrad()
            let loss = (x.tanh() * x).sum()
            return [gradients(of: loss, wrt: [x])[0]]
        }
        #expect(graph.outputSpecs == [TensorSpec([4, 3])])
        #expect(graph.nodes.count > 4)   // forward ops + vjp ops, all recorded
        #expect(graph.nodes.map(\.op.name).filter { $0 == "tanh" }.count == 1)
    }

    @Test func conv2dShapesTraceWithoutData() throws {
        let w = Tensor.zeros([32, 3, 3, 3])
        let graph = try Graph.trace([TensorSpec([8, 3, 64, 64])]) { x in
            [maxPool2d(conv2d(x[0], weight: w, padding: (1, 1)).relu(), kernel: (2, 2)).flattened(startAxis: 1)]
        }
        #expect(graph.outputSpecs == [TensorSpec([8, 32 * 32 * 32])])
    }

    @Test func traceThrowsTheFirstShapeError() {
        let w = Tensor.zeros([10, 5])
        #expect(throws: ShapeError.self) {
            _ = try Graph.trace([TensorSpec([2, 7])]) { x in [x[0].matmul(w).relu()] }
        }
    }

    @Test func dotNamesInputsAndCapturedTensorsByStorage() throws {
        let weight = Tensor.normal([3, 2], generator: RandomGenerator(seed: 1)), other = Tensor.ones([2])
        let graph = try Graph.trace([TensorSpec([4, 3]), TensorSpec([4, 2])]) { xs in [xs[0].matmul(weight) + other + xs[1]] }
        let dot = graph.dot(inputNames: ["x"], capturedNames: [("fc.weight", weight.reshaped([6]).reshaped([3, 2])), ("unused", Tensor.ones([3, 2]))])
        #expect(dot.contains(#"label="x\n[4, 3] float32""#))
        #expect(dot.contains(#"label="input 1\n[4, 2] float32""#))         // no name given
        #expect(dot.contains(#"label="fc.weight\n[3, 2] float32""#))       // a view of the same storage matches
        #expect(dot.contains(#"label="captured\n[2] float32""#) && !dot.contains("unused"))
        #expect(!dot.contains("\n["))   // line breaks inside labels are written as \n
        #expect(graph.dot().contains(#"label="input 0\n[4, 3] float32""#))
    }
}
