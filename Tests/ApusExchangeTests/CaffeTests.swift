import Apus
import ApusNN
import ApusTrain
@testable import ApusExchange
import Foundation
import Testing

func caffeFixture(_ name: String) -> URL { repositoryRoot.appendingPathComponent("Tests/ApusExchangeTests/Fixtures/caffe/\(name)") }

@Suite struct CaffeTests {
    @Test func lenetPrototxtBuildsCaffesLeNet() throws {
        let net = try CaffeNet(contentsOf: caffeFixture("lenet_train_test.prototxt"))
        #expect(net.proto.name == "LeNet" && net.proto.layer.count == 11)
        let test = try net.build(phase: .test, inputShapes: ["data": [1, 28, 28]])
        #expect(test.model.parameterCount == 431_080)   // Caffe's LeNet: 20·25+20 + 50·500+50 + 800·500+500 + 500·10+10
        #expect(test.labelInput == "label" && test.model.inputs.map(\.name) == ["data"])
        #expect(test.model.outputs.map(\.shape) == [[10]])
        #expect(Set(test.layers.keys) == ["conv1", "conv2", "ip1", "ip2"])
        // The Data layer's transform_param scale applies to the input: pixels 0–255 in.
        let pixels = Tensor.full([2, 1, 28, 28], 255)
        let scaled = InputScale(0.00390625)(pixels)
        #expect(abs(scaled.scalars(as: Float.self)[0] - 0.99609375) < 1e-7)
        let logits = withoutGrad { test.model(["data": pixels])[0] }
        #expect(logits.shape == [2, 10])
        // Without a shape for the Data layer's records: one clear error.
        let error = try #require(throws: CaffeError.self) { try net.build(phase: .train) }
        #expect(error.message.contains("'mnist'") && error.message.contains("inputShapes"))
    }

    @Test func caffemodelWeightsReproduceTheReference() throws {
        let net = try CaffeNet(contentsOf: caffeFixture("tiny.prototxt"))
        let tiny = try net.build()
        try tiny.loadWeights(from: caffeFixture("tiny.caffemodel"))
        let tensors = try SafeTensors.read(from: caffeFixture("tiny.safetensors")).tensors
        tiny.model.eval()
        let output = withoutGrad { tiny.model(["data": tensors["input"]!])[0] }
        let difference = maxAbsDifference(output, tensors["output"]!)
        print("Caffe tiny.caffemodel: max |apus − pytorch| = \(difference)")
        #expect(difference <= 1e-5)
        #expect(Set(output.scalars(as: Float.self)).count > 4)
    }

    @Test func unsupportedLayersAreNamedInOneError() throws {
        let text = """
        name: "odd"
        layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }
        layer { name: "spp" type: "SPP" bottom: "x" top: "y" }
        layer { name: "relu" type: "ReLU" bottom: "y" top: "y" }
        layer { name: "p" type: "PReLU" bottom: "y" top: "z" }
        """
        let error = try #require(throws: CaffeError.self) { try CaffeNet(prototxt: text).build() }
        #expect(error.kind == .unsupported)
        #expect(error.message == "Caffe: 2 unsupported layer(s): 'spp' (SPP), 'p' (PReLU)")
    }

    @Test func malformedFilesThrow() throws {
        let typo = try #require(throws: CaffeError.self) { try CaffeNet(prototxt: "layer { name: \"a\" typ: \"ReLU\" }") }
        #expect(typo.kind == .malformed)
        let dangling = try #require(throws: CaffeError.self) {
            try CaffeNet(prototxt: "layer { name: \"r\" type: \"ReLU\" bottom: \"nothing\" top: \"y\" }").build()
        }
        #expect(dangling.message.contains("'nothing'"))
        let tiny = try CaffeNet(contentsOf: caffeFixture("tiny.prototxt")).build()
        let bytes = try Data(contentsOf: caffeFixture("tiny.caffemodel"))
        for cut in stride(from: 1, to: bytes.count, by: 61) {
            do { try tiny.loadWeights(caffemodel: bytes.prefix(cut)) } catch is CaffeError {}
        }
        let garbage = try #require(throws: CaffeError.self) { try tiny.loadWeights(caffemodel: Data([0xff, 0xff, 0xff])) }
        #expect(garbage.kind == .malformed)
    }
}
