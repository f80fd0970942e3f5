import Apus

let x = Tensor.normal([32, 784]), w = (Tensor.normal([784, 10]) * 0.01).requiringGrad()
let (value, gradient) = valueAndGrad(at: Tensor([3.0, 4.0])) { ($0 * $0).sum() }   // 25, [6, 8]
let y = withoutGrad { x.matmul(w).softmax(axis: -1) }
let graph = try Graph.trace([TensorSpec([32, 784])]) { [($0[0].matmul(w)).relu()] }  // record, don't run
let fast = compile { xs in [xs[0].matmul(w).relu()] }     // traced once per shape, then run as a graph
