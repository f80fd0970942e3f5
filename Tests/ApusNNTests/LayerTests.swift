import Apus
import ApusNN
import ApusTestSupport
import Testing

let nn = Fixtures.load("ApusNNTests", "nn")

/// Gradients of (f(inputs) * r).sum() for the given leaves (parameters and inputs).
func gradients(_ output: Tensor, _ r: Tensor, _ leaves: [Tensor]) -> [Tensor] {
    gradients(of: (output * r).sum(), wrt: leaves)
}

@Suite struct LayerTests {
    @Test func linear() {
        let c = nn["linear"]!
        let layer = Linear(5, 3)
        layer.weight = c.input("weight")
        layer.bias = c.input("bias")
        let x = c.input("x").requiringGrad()
        let y = layer(x)
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        let g = gradients(y, c.input("r"), [x, layer.weight, layer.bias!])
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-12)
        expectClose(g[1], c.output("grad_weight").data, tolerance: 1e-12)
        expectClose(g[2], c.output("grad_bias").data, tolerance: 1e-12)
    }

    @Test func conv2dSamePaddingWithDilation() {
        let c = nn["conv2d_same"]!
        let layer = Conv2d(3, 4, kernelSize: (3, 3), padding: .same, dilation: (2, 2))
        layer.weight = c.input("weight")
        layer.bias = c.input("bias")
        let x = c.input("x").requiringGrad()
        let y = layer(x)
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        let g = gradients(y, c.input("r"), [x, layer.weight, layer.bias!])
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-12)
        expectClose(g[1], c.output("grad_weight").data, tolerance: 1e-12)
        expectClose(g[2], c.output("grad_bias").data, tolerance: 1e-12)
        // An even kernel needs asymmetric "same" padding.
        let even = Conv2d(1, 1, kernelSize: (2, 2), padding: .same)
        #expect(even(Tensor.ones([1, 1, 5, 5])).shape == [1, 1, 5, 5])
    }

    @Test func convTranspose2d() {
        let c = nn["conv_transpose2d"]!
        let layer = ConvTranspose2d(4, 3, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), outputPadding: (1, 1))
        layer.weight = c.input("weight")
        layer.bias = c.input("bias")
        let x = c.input("x").requiringGrad()
        let y = layer(x)
        #expect(y.shape == [2, 3, 10, 10])
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        let g = gradients(y, c.input("r"), [x, layer.weight, layer.bias!])
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-12)
        expectClose(g[1], c.output("grad_weight").data, tolerance: 1e-12)
        expectClose(g[2], c.output("grad_bias").data, tolerance: 1e-12)
    }

    @Test func batchNorm2dTrainingAndEval() {
        let c = nn["batchnorm2d"]!
        let layer = BatchNorm2d(3)
        layer.weight = c.input("weight")
        layer.bias = c.input("bias")
        let x = c.input("x").requiringGrad()
        let y = layer(x)
        expectClose(y, c.output("y_train").data, tolerance: 1e-10)
        expectClose(layer.runningMean, c.output("running_mean").data, tolerance: 1e-6)
        expectClose(layer.runningVar, c.output("running_var").data, tolerance: 1e-6)
        let g = gradients(y, c.input("r"), [x, layer.weight!, layer.bias!])
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-9)
        expectClose(g[1], c.output("grad_weight").data, tolerance: 1e-10)
        expectClose(g[2], c.output("grad_bias").data, tolerance: 1e-10)
        layer.eval()
        expectClose(layer(c.input("x2")), c.output("y_eval").data, tolerance: 1e-6)
    }

    @Test func batchNorm1d() {
        let c = nn["batchnorm1d"]!
        let layer = BatchNorm1d(4)
        layer.weight = c.input("weight")
        layer.bias = c.input("bias")
        let x = c.input("x").requiringGrad()
        let y = layer(x)
        expectClose(y, c.output("y").data, tolerance: 1e-10)
        expectClose(layer.runningMean, c.output("running_mean").data, tolerance: 1e-6)
        expectClose(layer.runningVar, c.output("running_var").data, tolerance: 1e-6)
        let g = gradients(y, c.input("r"), [x, layer.weight!, layer.bias!])
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-9)
        expectClose(g[1], c.output("grad_weight").data, tolerance: 1e-10)
    }

    @Test func layerNorm() {
        let c = nn["layernorm"]!
        let layer = LayerNorm([5])
        layer.weight = c.input("weight")
        layer.bias = c.input("bias")
        let x = c.input("x").requiringGrad()
        let y = layer(x)
        expectClose(y, c.output("y").data, tolerance: 1e-10)
        let g = gradients(y, c.input("r"), [x, layer.weight!, layer.bias!])
        expectClose(g[0], c.output("grad_x").data, tolerance: 1e-9)
        expectClose(g[1], c.output("grad_weight").data, tolerance: 1e-10)
        expectClose(g[2], c.output("grad_bias").data, tolerance: 1e-10)
    }

    @Test func embeddingWithPadding() {
        let c = nn["embedding_padding"]!
        let layer = Embedding(10, 4, paddingIndex: 0)
        #expect(layer.weight[0].abs().sum().item() == 0)
        layer.weight = c.input("weight")
        let y = layer(c.input("ids"))
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        let g = gradients(y, c.input("r"), [layer.weight])
        expectClose(g[0], c.output("grad_weight").data, tolerance: 1e-12)
    }

    @Test func adaptiveAveragePooling() {
        let c = nn["adaptive_avgpool"]!
        let x = c.input("x").requiringGrad()
        let y = AdaptiveAvgPool2d(outputSize: (2, 3))(x)
        expectClose(y, c.output("y").data, tolerance: 1e-12)
        expectClose(gradients(y, c.input("r"), [x])[0], c.output("grad_x").data, tolerance: 1e-12)
        #expect(AdaptiveAvgPool2d(outputSize: (1, 1))(Tensor.ones([2, 3, 4, 4])).shape == [2, 3, 1, 1])
    }

    @Test func poolingFlattenDropoutActivations() {
        let x = randn([2, 3, 4, 4])
        #expect(MaxPool2d(2)(x).shape == [2, 3, 2, 2])
        #expect(AvgPool2d(2)(x).shape == [2, 3, 2, 2])
        #expect(Flatten()(x).shape == [2, 48])
        let d = Dropout(0.5, generator: RandomGenerator(seed: 1))
        #expect(d(x).scalars(as: Double.self) != x.scalars(as: Double.self))
        d.eval()
        #expect(d(x).scalars(as: Double.self) == x.scalars(as: Double.self))
        let s = Sequential(Flatten(), Linear(48, 8), ReLU(), Linear(8, 2), Softmax())
        let p = s(x.cast(to: .float32))
        #expect(p.shape == [2, 2])
        expectClose(p.sum(axis: 1), [1, 1])
        expectClose(GELU()(Tensor([0.0])), [0])
        expectClose(GELU(approximate: .tanh)(Tensor([0.0, 1.0])), [0, 0.8411919906082768], tolerance: 1e-6)
        #expect(MaxPool2d(kernelSize: (3, 3), stride: (2, 2), ceilMode: true)(randn([1, 1, 6, 6])).shape == [1, 1, 3, 3])
        // Windows of 2×2 at stride 2 over a padded 3×3: each covers one, two or four input elements.
        let counts = AvgPool2d(kernelSize: (2, 2), padding: (1, 1), countIncludePad: false)(Tensor.ones([1, 1, 3, 3]))
        expectClose(counts, [1, 1, 1, 1], tolerance: 1e-12)
        expectClose(AvgPool2d(kernelSize: (2, 2), padding: (1, 1))(Tensor.ones([1, 1, 3, 3])), [0.25, 0.5, 0.5, 1], tolerance: 1e-12)
        expectClose(LeakyReLU(negativeSlope: 0.5)(Tensor([-2.0])), [-1])
        expectClose(Tanh()(Tensor([0.0])), [0])
        expectClose(Sigmoid()(Tensor([0.0])), [0.5])
    }
}
