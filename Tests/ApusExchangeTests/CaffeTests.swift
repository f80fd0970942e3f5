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

@Suite struct CaffeSolverTests {
    func solver(_ text: String) throws -> CaffeSolver {
        let folder = try temporaryFolder()
        try "name: \"n\"".write(to: folder.appendingPathComponent("net.prototxt"), atomically: true, encoding: .utf8)
        let url = folder.appendingPathComponent("solver.prototxt")
        try ("net: \"net.prototxt\"\nmax_iter: 100\nbase_lr: 0.1\n" + text).write(to: url, atomically: true, encoding: .utf8)
        return try CaffeSolver(contentsOf: url)
    }

    @Test func learningRatePoliciesFollowCaffe() throws {
        let inv = try solver("lr_policy: \"inv\"\ngamma: 0.0001\npower: 0.75")
        #expect(abs(inv.learningRate(at: 5000) - 0.1 * pow(1 + 0.0001 * 5000, -0.75)) < 1e-7)
        let step = try solver("lr_policy: \"step\"\ngamma: 0.1\nstepsize: 30")
        #expect(abs(step.learningRate(at: 29) - 0.1) < 1e-7 && abs(step.learningRate(at: 65) - 0.001) < 1e-8)
        let multistep = try solver("lr_policy: \"multistep\"\ngamma: 0.5\nstepvalue: 10\nstepvalue: 20")
        #expect(abs(multistep.learningRate(at: 25) - 0.025) < 1e-7)
        #expect(inv.netURL.lastPathComponent == "net.prototxt")
        let error = try #require(throws: CaffeError.self) { try solver("lr_policy: \"fixed\"\ntype: \"AdaDelta\"\niter_size: 2") }
        #expect(error.message == "solver.prototxt: unsupported solver settings: type \"AdaDelta\" (only SGD), iter_size 2")
    }

    @Test func snapshotsLoadBackIntoTheNetwork() throws {
        let tiny = try CaffeNet(contentsOf: caffeFixture("tiny.prototxt")).build()
        try tiny.loadWeights(from: caffeFixture("tiny.caffemodel"))
        let again = try CaffeNet(contentsOf: caffeFixture("tiny.prototxt")).build(generator: RandomGenerator(seed: 99))
        try again.loadWeights(caffemodel: try tiny.caffemodelData(name: "Tiny"))
        let x = Tensor.normal([2, 3, 10, 10], generator: RandomGenerator(seed: 3))
        tiny.model.eval()
        again.model.eval()
        #expect(maxAbsDifference(withoutGrad { tiny.model(["data": x])[0] }, withoutGrad { again.model(["data": x])[0] }) == 0)
    }
}
