import Apus
import ApusNN
import ApusOptimizers
import ApusTestSupport
import Testing

/// A layer under test: its forward from the test inputs to one output tensor, hybridizable.
private final class Harness: Module, HybridizableModule {
    let layer: Module
    let run: ([Tensor]) -> Tensor
    init(_ layer: Module, _ run: @escaping ([Tensor]) -> Tensor) {
        (self.layer, self.run) = (layer, run)
        super.init()
    }
    func callAsFunction(_ xs: [Tensor]) -> Tensor { hybridCall(xs) { [self.run($0)] }[0] }
}

/// Inputs for one test shape: float inputs are seeded normals, integer ones token ids.
private func makeInputs(_ specs: [TensorSpec], seed: UInt64) -> [Tensor] {
    specs.enumerated().map { i, spec in
        spec.dtype == .int64
            ? Tensor(shape: spec.shape, scalars: (0..<spec.count).map { Int64(($0 * 7 + Int(seed)) % 10) })
            : Tensor.normal(spec.shape, generator: RandomGenerator(seed: seed + UInt64(i)))
    }
}

private func relativeClose(_ a: Tensor, _ b: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let x = a.scalars(as: Double.self), y = b.scalars(as: Double.self)
    #expect(a.shape == b.shape, "\(what): shape \(a.shape) vs \(b.shape)", sourceLocation: sourceLocation)
    // Relative to the tensor's largest magnitude (elements near zero have no meaningful relative error).
    let scale = Swift.max(1e-6, y.map(Swift.abs).max() ?? 0)
    if let i = x.indices.first(where: { $0 < y.count && Swift.abs(x[$0] - y[$0]) > 1e-5 * scale }) {
        Issue.record("\(what): element \(i) hybridized \(x[i]) vs eager \(y[i])", sourceLocation: sourceLocation)
    }
}

/// Hybridized forward, gradients (input and parameters) and 10 compiled Adam steps match eager
/// within 1e-5 relative, for each of `shapes` (one list of input specs per shape).
private func expectHybridMatchesEager(_ make: () -> Module, _ run: @escaping (Module, [Tensor]) -> Tensor, shapes: [[TensorSpec]],
                                      evaluationMode: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
    let eagerLayer = make(), hybridLayer = make()
    try! hybridLayer.loadStateDict(eagerLayer.stateDict())
    let eager = Harness(eagerLayer) { run(eagerLayer, $0) }, hybrid = Harness(hybridLayer) { run(hybridLayer, $0) }
    if evaluationMode { eager.eval(); hybrid.eval() }
    try! hybrid.hybridize()
    for (n, specs) in shapes.enumerated() {
        let inputs = makeInputs(specs, seed: UInt64(10 * n + 1)).map { $0.dtype.isFloatingPoint ? $0.requiringGrad() : $0 }
        let ye = eager(inputs), yh = hybrid(inputs)
        relativeClose(yh, ye, "forward \(specs)", sourceLocation: sourceLocation)
        let r = Tensor.normal(ye.shape, generator: RandomGenerator(seed: 99))
        let floatInputs = inputs.filter(\.requiresGrad)
        let ge = gradients(of: (ye * r).sum(), wrt: floatInputs + eager.trainableParameters().map(\.value))
        let gh = gradients(of: (yh * r).sum(), wrt: floatInputs + hybrid.trainableParameters().map(\.value))
        for (i, (a, b)) in zip(gh, ge).enumerated() { relativeClose(a, b, "gradient \(i) \(specs)", sourceLocation: sourceLocation) }
    }
    // Ten optimizer steps: eager backward + step, against one compiled graph per step.
    guard !eager.parameters().isEmpty else { return }
    let specs = shapes[0], inputs = makeInputs(specs, seed: 5)
    // The output shape by tracing, which runs nothing (no statistics updated, no mask drawn).
    let shape = try! Graph.trace(inputs.map(\.spec)) { [eager($0)] }.outputSpecs[0].shape
    let r = Tensor.normal(shape, generator: RandomGenerator(seed: 7))
    let eagerOptimizer = Adam(parameters: eager.parameters(), learningRate: 0.01)
    let hybridOptimizer = Adam(parameters: hybrid.parameters(), learningRate: 0.01)
    let step = CompiledTrainingStep(module: hybrid, optimizer: hybridOptimizer) { xs in [(hybrid(xs) * r).sum()] }
    for _ in 0..<10 {
        eagerOptimizer.zeroGrad()
        (eager(inputs) * r).sum().backward()
        eagerOptimizer.step()
        _ = try! step(inputs)
    }
    #expect(step.traceCount == 1, sourceLocation: sourceLocation)
    for ((name, a), (_, b)) in zip(hybrid.namedParameters(), eager.namedParameters()) {
        relativeClose(a.value, b.value, "parameter \(name) after 10 steps", sourceLocation: sourceLocation)
    }
    for ((name, a), (_, b)) in zip(hybrid.namedBuffers(), eager.namedBuffers()) {
        relativeClose(a.value, b.value, "buffer \(name) after 10 steps", sourceLocation: sourceLocation)
    }
}

private func f32(_ shape: Int...) -> TensorSpec { TensorSpec(shape) }
private func ids(_ shape: Int...) -> TensorSpec { TensorSpec(shape, .int64) }

@Suite struct HybridizeTests {
    let g = RandomGenerator(seed: 3)

    @Test func linear() {
        expectHybridMatchesEager({ Linear(5, 4, generator: g) }, { ($0 as! Linear)($1[0]) }, shapes: [[f32(3, 5)], [f32(2, 7, 5)]])
    }

    @Test func convolutions() {
        expectHybridMatchesEager({ Conv2d(3, 4, kernelSize: (3, 3), padding: .explicit(1, 1), relu: true, generator: g) },
                                 { ($0 as! Conv2d)($1[0]) }, shapes: [[f32(2, 3, 6, 6)], [f32(3, 3, 5, 7)]])
        expectHybridMatchesEager({ Conv2d(4, 6, kernelSize: (3, 3), stride: (2, 2), groups: 2, generator: g) },
                                 { ($0 as! Conv2d)($1[0]) }, shapes: [[f32(2, 4, 7, 7)], [f32(1, 4, 9, 8)]])
        expectHybridMatchesEager({ ConvTranspose2d(3, 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), generator: g) },
                                 { ($0 as! ConvTranspose2d)($1[0]) }, shapes: [[f32(2, 3, 4, 4)], [f32(1, 3, 5, 3)]])
    }

    @Test func pooling() {
        // Max pooling after a ReLU convolution: the graph rewrites both to keep argmax indices.
        expectHybridMatchesEager({ Sequential(Conv2d(2, 3, kernelSize: (3, 3), padding: .explicit(1, 1), relu: true, generator: g), MaxPool2d(kernelSize: (2, 2))) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(2, 2, 8, 8)], [f32(3, 2, 6, 10)]])
        expectHybridMatchesEager({ Sequential(MaxPool2d(kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(2, 2, 7, 7)], [f32(1, 3, 6, 5)]])
        expectHybridMatchesEager({ AvgPool2d(kernelSize: (2, 2)) }, { ($0 as! AvgPool2d)($1[0]) }, shapes: [[f32(2, 2, 6, 6)], [f32(1, 1, 4, 8)]])
        // Ceil mode (partial last windows; odd sizes keep 2×2 pooling off its tiled paths) and
        // divisors that leave out the padding.
        expectHybridMatchesEager({ Sequential(Conv2d(2, 3, kernelSize: (3, 3), padding: .explicit(1, 1), relu: true, generator: g),
                                              MaxPool2d(kernelSize: (2, 2), ceilMode: true)) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(2, 2, 7, 9)], [f32(1, 2, 6, 5)]])
        expectHybridMatchesEager({ Sequential(MaxPool2d(kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(2, 2, 6, 6)], [f32(1, 3, 8, 5)]])
        expectHybridMatchesEager({ Sequential(Linear(7, 7, generator: g),
                                              AvgPool2d(kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false)) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(2, 2, 6, 7)], [f32(1, 1, 9, 7)]])
        expectHybridMatchesEager({ AdaptiveAvgPool2d(outputSize: (2, 3)) }, { ($0 as! AdaptiveAvgPool2d)($1[0]) },
                                 shapes: [[f32(2, 2, 6, 6)], [f32(1, 3, 4, 9)]])
    }

    @Test func normalizationDropoutAndShapes() {
        expectHybridMatchesEager({ LayerNorm([6]) }, { ($0 as! LayerNorm)($1[0]) }, shapes: [[f32(3, 6)], [f32(2, 4, 6)]])
        expectHybridMatchesEager({ BatchNorm2d(3) }, { ($0 as! BatchNorm2d)($1[0]) }, shapes: [[f32(2, 3, 4, 4)], [f32(4, 3, 2, 5)]], evaluationMode: true)
        expectHybridMatchesEager({ BatchNorm1d(5) }, { ($0 as! BatchNorm1d)($1[0]) }, shapes: [[f32(4, 5)], [f32(3, 5)]], evaluationMode: true)
        expectHybridMatchesEager({ Sequential(Dropout(0.5, generator: g), Flatten(), Linear(12, 3, generator: g)) }, { ($0 as! Sequential)($1[0]) },
                                 shapes: [[f32(2, 3, 4)], [f32(5, 3, 4)]], evaluationMode: true)
        // Training mode: batch statistics, running statistics updated by every forward (hybridized
        // and compiled alike), and dropout masks drawn from the layer's own generator on every run.
        expectHybridMatchesEager({ BatchNorm2d(3) }, { ($0 as! BatchNorm2d)($1[0]) }, shapes: [[f32(2, 3, 4, 4)], [f32(4, 3, 2, 5)]])
        expectHybridMatchesEager({ Sequential(Linear(5, 4, generator: g), BatchNorm1d(4)) }, { ($0 as! Sequential)($1[0]) },
                                 shapes: [[f32(4, 5)], [f32(3, 5)]])
        expectHybridMatchesEager({ BatchNorm2d(3) }, { ($0 as! BatchNorm2d)($1[0], relu: true) }, shapes: [[f32(2, 3, 4, 4)], [f32(4, 3, 2, 5)]])
        expectHybridMatchesEager({ Sequential(Dropout(0.5, generator: RandomGenerator(seed: 9)), Flatten(), Linear(12, 3, generator: g)) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(2, 3, 4)], [f32(5, 3, 4)]])
        expectHybridMatchesEager({ Embedding(10, 4, paddingIndex: 0, generator: g) }, { ($0 as! Embedding)($1[0]) }, shapes: [[ids(3, 5)], [ids(2, 7)]])
    }

    @Test func activations() {
        expectHybridMatchesEager({ Sequential(Linear(4, 6, generator: g), ReLU(), Linear(6, 6, generator: g), GELU(), Tanh(), Sigmoid(),
                                              LeakyReLU(negativeSlope: 0.1), Linear(6, 6, generator: g), GELU(approximate: .tanh), Softmax()) },
                                 { ($0 as! Sequential)($1[0]) }, shapes: [[f32(3, 4)], [f32(5, 4)]])
    }

    @Test func recurrent() {
        expectHybridMatchesEager({ LSTM(inputSize: 4, hiddenSize: 5, numLayers: 2, batchFirst: true, bidirectional: true, generator: g) },
                                 { ($0 as! LSTM)($1[0]).output }, shapes: [[f32(3, 6, 4)], [f32(2, 4, 4)]])
        expectHybridMatchesEager({ LSTM(inputSize: 4, hiddenSize: 5, batchFirst: true, returnsSequences: false, generator: g) },
                                 { ($0 as! LSTM).forward($1[0]) }, shapes: [[f32(3, 6, 4)], [f32(2, 4, 4)]])
        expectHybridMatchesEager({ GRU(inputSize: 3, hiddenSize: 4, bidirectional: true, generator: g) },
                                 { ($0 as! GRU)($1[0]).output }, shapes: [[f32(5, 2, 3)], [f32(3, 4, 3)]])
        expectHybridMatchesEager({ RNN(inputSize: 3, hiddenSize: 4, numLayers: 2, nonlinearity: "relu", generator: g) },
                                 { ($0 as! RNN)($1[0]).output }, shapes: [[f32(5, 2, 3)], [f32(3, 4, 3)]])
    }

    @Test func attention() {
        expectHybridMatchesEager({ MultiHeadAttention(embedDim: 8, numHeads: 2, batchFirst: true, generator: g) },
                                 { ($0 as! MultiHeadAttention)(query: $1[0], key: $1[1], value: $1[1]).output },
                                 shapes: [[f32(2, 3, 8), f32(2, 5, 8)], [f32(1, 4, 8), f32(1, 2, 8)]])
    }

    @Test func retracesOnANewShapeOnly() {
        let net = Sequential(Linear(3, 4, generator: g), ReLU())
        try! net.hybridize()
        let a = Tensor.normal([2, 3], generator: g), b = Tensor.normal([5, 3], generator: g)
        _ = withoutGrad { net(a) }
        _ = withoutGrad { net(a * 2) }
        #expect(net.hybridTraceCount == 1)
        _ = withoutGrad { net(b) }
        #expect(net.hybridTraceCount == 2)
        // With gradients the forward-and-backward pair is traced once per shape too.
        net(a).sum().backward()
        net(a).sum().backward()
        #expect(net.hybridTraceCount == 3)
        try! net.hybridize(false)
        #expect(!net.isHybridized)
    }

    /// A custom module whose `hybridCall` body captures `self` (the usual way to write one) is
    /// still freed once dropped: the compiled function does not keep the body (found by ASan's
    /// leak checker, `scripts/sanitize.sh`).
    @Test func aHybridizedModuleIsFreed() {
        final class Doubler: Module, HybridizableModule {
            let linear: Linear
            init(_ g: RandomGenerator) { linear = Linear(3, 2, generator: g) }
            func callAsFunction(_ x: Tensor) -> Tensor { hybridCall([x]) { [self.linear($0[0]) * 2] }[0] }
        }
        weak var dropped: Doubler?
        do {
            let net = Doubler(g)
            try! net.hybridize()
            let x = Tensor.normal([4, 3], generator: g)
            let eager = withoutGrad { net.linear(x) * 2 }
            #expect(withoutGrad { net(x) }.scalars(as: Double.self) == eager.scalars(as: Double.self))
            net(x).sum().backward()
            #expect(net.hybridTraceCount == 2)
            dropped = net
        }
        #expect(dropped == nil)
    }

    @Test func hybridizeRefusesAModuleWhoseForwardIsNotHybrid() {
        #expect(throws: HybridizeError.self) { try Linear(3, 4, generator: g).hybridize() }
        #expect(throws: Never.self) { try Sequential(Linear(3, 4, generator: g)).hybridize() }
    }

    @Test func compiledStepFollowsFreezing() throws {
        let net = Sequential(Linear(3, 4, generator: g), ReLU(), Linear(4, 2, generator: g))
        let optimizer = SGD(parameters: net.parameters(), learningRate: 0.1)
        let step = CompiledTrainingStep(module: net, optimizer: optimizer) { xs in [net(xs[0]).sum()] }
        let x = Tensor.normal([5, 3], generator: g)
        try step([x])
        let first = net.parameters()[0]
        first.isTrainable = false
        let frozen = first.value.scalars(as: Double.self), other = net.parameters()[2].value.scalars(as: Double.self)
        try step([x])
        #expect(first.value.scalars(as: Double.self) == frozen)        // a frozen parameter stays put…
        #expect(net.parameters()[2].value.scalars(as: Double.self) != other)   // …the others still learn
        #expect(step.traceCount == 2)
    }

    /// Clipping by norm in a compiled step folds its scale into the update (the scaled gradients
    /// are never written), on a layer larger than one block of the scaled update and split
    /// across threads, with Adam and SGD alike; the parameters follow eager clipping.
    @Test func compiledClippingScalesInsideTheUpdate() throws {
        let optimizers: [([Parameter]) -> Optimizer] = [{ Adam(parameters: $0, learningRate: 0.01) }, { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9) }]
        for makeOptimizer in optimizers {
            let eager = Linear(300, 40, generator: g), compiled = Linear(300, 40)
            try compiled.loadStateDict(eager.stateDict())
            let eagerOptimizer = makeOptimizer(eager.parameters())
            let step = CompiledTrainingStep(module: compiled, optimizer: makeOptimizer(compiled.parameters()), clipping: .norm(0.01)) { xs in
                [compiled(xs[0]).pow(2).sum()]
            }
            let x = Tensor.normal([9, 300], generator: g)
            let names = try step.graph(for: [x.spec]).nodes.map(\.op.name)
            #expect(names.contains("optimizerStep(scaled)"), "\(names)")
            for _ in 0..<3 {
                eagerOptimizer.zeroGrad()
                eager(x).pow(2).sum().backward()
                GradientClipping.norm(0.01).clip(eager.parameters())
                eagerOptimizer.step()
                try step([x])
            }
            for ((path, a), (_, b)) in zip(compiled.namedParameters(), eager.namedParameters()) {
                relativeClose(a.value, b.value, "\(type(of: eagerOptimizer)) \(path) after 3 clipped steps")
            }
        }
    }

    @Test func compiledStepClipsGradientsAsEagerDoes() throws {
        for clipping in [GradientClipping.norm(0.05), .value(0.01)] {
            let eager = Sequential(Linear(6, 5, generator: g), ReLU(), Linear(5, 2, generator: g))
            let compiled = Sequential(Linear(6, 5), ReLU(), Linear(5, 2))
            try compiled.loadStateDict(eager.stateDict())
            let eagerOptimizer = SGD(parameters: eager.parameters(), learningRate: 0.5, momentum: 0.9)
            let step = CompiledTrainingStep(module: compiled, optimizer: SGD(parameters: compiled.parameters(), learningRate: 0.5, momentum: 0.9),
                                            clipping: clipping) { xs in [compiled(xs[0]).pow(2).sum()] }
            let x = Tensor.normal([7, 6], generator: g)
            for _ in 0..<5 {
                eagerOptimizer.zeroGrad()
                eager(x).pow(2).sum().backward()
                clipping.clip(eager.parameters())
                eagerOptimizer.step()
                try step([x])
            }
            for ((path, a), (_, b)) in zip(compiled.namedParameters(), eager.namedParameters()) {
                relativeClose(a.value, b.value, "\(clipping) \(path) after 5 steps")
            }
        }
        // The clipped gradients themselves: the global norm becomes the limit, or each element is clamped.
        let grads = [Tensor([3.0, 0.0]), Tensor([[0.0, 4.0]])]
        let byNorm = GradientClipping.norm(1).clipped(grads)
        #expect(Swift.abs(byNorm[0].scalars(as: Double.self)[0] - 0.6) < 1e-6 && Swift.abs(byNorm[1].scalars(as: Double.self)[1] - 0.8) < 1e-6)
        #expect(GradientClipping.norm(10).clipped(grads)[1].scalars(as: Double.self) == [0, 4])
        #expect(GradientClipping.value(2).clipped(grads)[0].scalars(as: Double.self) == [2, 0])
    }

    @Test func weightUpdatesFuseIntoTheirGradientProducts() throws {
        // Linear(700, 96): its weight gradient is made in two column blocks (672 + 28), one per core.
        let makers: [(String, ([Parameter]) -> Optimizer)] = [
            ("SGD", { SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, nesterov: true) }),
            ("Adam", { Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.01) }),
            ("AdamW", { AdamW(parameters: $0, learningRate: 0.01) }),
            ("RMSprop", { RMSprop(parameters: $0, learningRate: 0.01, momentum: 0.5, centered: true) }),
            ("Adagrad", { Adagrad(parameters: $0, learningRate: 0.05, learningRateDecay: 0.1) }),
        ]
        let x = Tensor.normal([8, 700], generator: g), r = Tensor.normal([8, 3], generator: g)
        for (name, make) in makers {
            let eager = Sequential(Linear(700, 96, generator: g), ReLU(), Linear(96, 3, generator: g))
            let compiled = Sequential(Linear(700, 96), ReLU(), Linear(96, 3))
            try compiled.loadStateDict(eager.stateDict())
            let eagerOptimizer = make(eager.parameters()), optimizer = make(compiled.parameters())
            // The loss is scaled by the second input: 1, or NaN to check that a non-finite loss updates nothing.
            let step = CompiledTrainingStep(module: compiled, optimizer: optimizer) { xs in [(compiled(xs[0]) * r).sum() * xs[1]] }
            let one = Tensor([1.0])
            let names = try step.graph(for: [x.spec, one.spec]).nodes.map(\.op.name)
            // The first layer's update also makes the input gradient of the second (its product with the old weight).
            #expect(names.filter { $0.hasPrefix("matmulUpdate") } == ["matmulUpdate+product", "matmulUpdate"], "\(name): \(names)")
            for _ in 0..<3 {
                eagerOptimizer.zeroGrad()
                (eager(x) * r).sum().backward()
                eagerOptimizer.step()
                try step([x, one])
            }
            for ((path, a), (_, b)) in zip(compiled.namedParameters(), eager.namedParameters()) {
                relativeClose(a.value, b.value, "\(name) \(path) after 3 steps")
            }
            // A loss that is not finite updates nothing and does not count a step.
            let before = compiled.parameters().map { $0.value.scalars(as: Float.self) }
            try step([x, Tensor([Double.nan])])
            let unchanged = compiled.parameters().map { $0.value.scalars(as: Float.self) } == before
            #expect(unchanged, "\(name)")
            #expect(optimizer.stepCount == 3, "\(name)")
        }
        // Every parameter fused away: the optimizer step is left with none, and still counts the step.
        let eager = Sequential(Linear(700, 96, bias: false, generator: g), ReLU(), Linear(96, 3, bias: false, generator: g))
        let compiled = Sequential(Linear(700, 96, bias: false), ReLU(), Linear(96, 3, bias: false))
        try compiled.loadStateDict(eager.stateDict())
        let eagerOptimizer = Adam(parameters: eager.parameters(), learningRate: 0.01), optimizer = Adam(parameters: compiled.parameters(), learningRate: 0.01)
        let step = CompiledTrainingStep(module: compiled, optimizer: optimizer) { xs in [(compiled(xs[0]) * r).sum()] }
        let last = try step.graph(for: [x.spec]).nodes.last
        #expect(last?.op.name == "optimizerStep" && last?.inputs.count == 1)
        for _ in 0..<3 {
            eagerOptimizer.zeroGrad()
            (eager(x) * r).sum().backward()
            eagerOptimizer.step()
            try step([x])
        }
        for ((path, a), (_, b)) in zip(compiled.namedParameters(), eager.namedParameters()) { relativeClose(a.value, b.value, "no bias: \(path)") }
        #expect(optimizer.stepCount == 3)
    }

    /// An optimizer's state made on its first step inside a compiled step lives outside the
    /// arena: here the fused update of the middle weight W [8, 16] also returns D·W [8, 16] —
    /// a planned output of W's size, which Adam's new moments once took, to be overwritten by
    /// later values (the second step then diverged).
    @Test func optimizerStateMadeInsideACompiledStepSurvivesTheArena() throws {
        let g = RandomGenerator(seed: 12)
        let eager = Sequential(Linear(4, 16, generator: g), ReLU(), Linear(16, 8, generator: g), ReLU(), Linear(8, 3, generator: g))
        let compiled = Sequential(Linear(4, 16), ReLU(), Linear(16, 8), ReLU(), Linear(8, 3))
        try compiled.loadStateDict(eager.stateDict())
        let x = Tensor.normal([8, 4], generator: g), labels = Tensor(shape: [8], scalars: (0..<8).map { Int64($0 % 3) })
        let eagerOptimizer = Adam(parameters: eager.parameters(), learningRate: 0.05)
        let step = CompiledTrainingStep(module: compiled, optimizer: Adam(parameters: compiled.parameters(), learningRate: 0.05)) { xs in
            [crossEntropy(logits: compiled(xs[0]), labels: xs[1])]
        }
        #expect(try step.graph(for: [x.spec, labels.spec]).nodes.contains { $0.op.name == "matmulUpdate+product" })
        for _ in 0..<5 {
            eagerOptimizer.zeroGrad()
            crossEntropy(logits: eager(x), labels: labels).backward()
            eagerOptimizer.step()
            try step([x, labels])
        }
        for ((path, a), (_, b)) in zip(compiled.namedParameters(), eager.namedParameters()) { relativeClose(a.value, b.value, "after 5 steps: \(path)") }
    }
}
