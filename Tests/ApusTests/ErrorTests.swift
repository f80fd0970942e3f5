import Testing
@testable import Apus
import ApusTestSupport

@Suite struct ErrorTests {
    @Test func shapeErrorsNameOpShapesAndExpectation() {
        let a = Tensor.zeros([2, 3]), b = Tensor.zeros([4, 5])
        do {
            _ = try Tensor.checking { a.matmul(b) }
            Issue.record("expected a ShapeError")
        } catch let error as ShapeError {
            #expect(error.op == "matmul")
            #expect(error.shapes == [[2, 3], [4, 5]])
            #expect(error.description == "matmul: got shapes [2, 3], [4, 5]; inner dimensions must agree ([..., M, K] × [..., K, N])")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: ShapeError.self) { try Tensor.checking { a + Tensor.zeros([4]) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { a.reshaped([7]) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { a + Tensor.zeros([2, 3], dtype: .float64) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { conv2d(Tensor.zeros([1, 3, 8, 8]), weight: Tensor.zeros([4, 2, 3, 3])) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { maxPool2d(Tensor.zeros([1, 1, 2, 2]), kernel: (3, 3)) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { a.sum(axis: 2) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { Tensor.concat([a, b], axis: 0) } }
        #expect(throws: ShapeError.self) { try Tensor.checking { Tensor([1, 2]).exp() } }
        // Misused backward passes: nothing to differentiate, a non-scalar without a gradient, a gradient of the wrong shape.
        #expect(throws: GradientError.self) { try Tensor.checking { Tensor([1.0, 2.0]).sum().backward() } }
        let w = Tensor([1.0, 2.0]).requiringGrad()
        #expect(throws: ShapeError.self) { try Tensor.checking { (w * 2).backward() } }
        #expect(throws: ShapeError.self) { try Tensor.checking { (w * 2).backward(Tensor([1.0])) } }
        #expect(w.grad == nil)
        // Valid code passes through and returns its value; later ops after an error do not run.
        let ok = try? Tensor.checking { (a + 1).sum() }
        #expect(ok?.item() == 6)
    }

    @Test func broadcastMessageGivesBothShapes() {
        #expect(throws: ShapeError(op: "add", shapes: [[2, 3], [4]], expected: "shapes must broadcast (each dimension equal or 1)")) {
            try Tensor.checking { Tensor.zeros([2, 3]) + Tensor.zeros([4]) }
        }
    }
}
