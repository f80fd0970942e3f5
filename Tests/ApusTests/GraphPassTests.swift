import ApusTestSupport
import Synchronization
import Testing
@testable import Apus

/// Counts its runs; its only effect is that count (a stand-in for an optimizer update).
private final class Counter: @unchecked Sendable { var runs = 0 }
private struct CountingOp: Operation {
    let counter: Counter
    var name: String { "count" }
    var outputCount: Int { 0 }
    var hasSideEffects: Bool { true }
    var isDifferentiable: Bool { false }
    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { [] }
    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        counter.runs += 1
        return []
    }
}

/// Plain gradient descent as a parameter update op (a stand-in for an optimizer step):
/// inputs [loss, gradients…, parameters…]; counts its elementwise updates (split off or not).
private final class DescentLog: @unchecked Sendable {
    private let count = Atomic<Int>(0)
    var spans: Int { count.load(ordering: .relaxed) }
    /// Counts one span (spans of one parameter may be updated on several threads at once).
    func add() { count.add(1, ordering: .relaxed) }
}
private struct DescentStep: ParameterUpdateOp {
    let rate: Float, parameterCount: Int, log: DescentLog
    var name: String { "descent" }
    var outputCount: Int { 0 }
    var hasSideEffects: Bool { true }
    var isDifferentiable: Bool { false }
    func outputSpecs(_ inputs: [TensorSpec]) throws -> [TensorSpec] { [] }
    func cpu(_ inputs: [Tensor], _ outputs: [TensorSpec]) -> [Tensor] {
        for i in 0..<parameterCount {
            let g = inputs[1 + i].contiguous()
            inputs[1 + parameterCount + i].updateInPlace(of: Float.self) { p in
                g.withUnsafeBuffer(of: Float.self) { for k in p.indices { p[k] -= rate * $0[k] } }
            }
        }
        return []
    }
    struct Update: BlockwiseUpdate {
        let rate: Float, parameter: Tensor, log: DescentLog
        func kernel(loss: Tensor) -> SpanUpdate? {
            let p = parameter.unsafeMutableElements(of: Float.self), (rate, log) = (self.rate, self.log)
            return { offset, count, gradient in
                let g = gradient.assumingMemoryBound(to: Float.self)
                for k in 0..<count { p[offset + k] -= rate * g[k] }
                log.add()
            }
        }
    }
    /// Parameters are known only by position, so the split-off update captures the tensor.
    let parameters: [Tensor]
    func splitting(parameter i: Int) -> (rest: any ParameterUpdateOp, update: any BlockwiseUpdate)? {
        var rest = parameters
        let p = rest.remove(at: i)
        return (DescentStep(rate: rate, parameterCount: parameterCount - 1, log: log, parameters: rest), Update(rate: rate, parameter: p, log: log))
    }
}

/// Each graph pass on small graphs: what it removes, folds, fuses, reuses and where values live.
@Suite struct GraphPassTests {
    let w = Tensor.normal([6, 6], generator: RandomGenerator(seed: 1))

    @Test func deadCodeEliminationKeepsSideEffects() throws {
        let counter = Counter()
        let f = compile { xs in
            _ = xs[0].exp()                                            // dead
            _ = Tensor.apply(CountingOp(counter: counter), [xs[0].sin()])   // kept with its input
            return [xs[0] + 1]
        }
        let graph = try f.graph(for: [TensorSpec([3])])
        #expect(graph.nodes.map(\.op.name) == ["sin", "count", "affine"])
        _ = f([Tensor([1.0, 2.0, 3.0])])
        _ = f([Tensor([1.0, 2.0, 3.0])])
        #expect(counter.runs == 2)
    }

    @Test func constantFoldingFoldsLiteralsButNotCapturedState() throws {
        let parameter = Tensor([1.0, 2.0, 3.0])
        let captured = parameter
        let f = compile { xs in [xs[0] * (Tensor([2.0, 2.0, 2.0]) + 1).exp() + captured.sin()] }
        let graph = try f.graph(for: [TensorSpec([3])])
        let names = graph.nodes.map(\.op.name)
        #expect(!names.contains("exp"), "\(names)")           // literal arithmetic is computed once, at compile time
        #expect(names.contains { $0.contains("sin") })        // the captured tensor is read on every run
        let x = Tensor([1.0, 1.0, 1.0])
        let e3 = 20.085536923187668, sines = Tensor([1.0, 2.0, 3.0]).sin().scalars(as: Double.self)
        expectClose(f([x])[0], sines.map { e3 + $0 }, tolerance: 1e-6)
        parameter.updateInPlace(of: Float.self) { $0[0] = 0 }   // same storage: the compiled function sees it
        expectClose(f([x])[0], [e3, e3 + sines[1], e3 + sines[2]], tolerance: 1e-6)
    }

    @Test func elementwiseChainsFuseIntoOnePass() throws {
        let bias = Tensor.normal([257], generator: RandomGenerator(seed: 2))
        let f = compile { xs in [((xs[0].exp() * xs[1] + bias).relu() - 0.5).tanh()] }
        let graph = try f.graph(for: [TensorSpec([300, 257]), TensorSpec([300, 257])])
        #expect(graph.nodes.count == 1)
        let fused = try #require(graph.nodes.first?.op as? FusedElementwiseOp)
        #expect(fused.name == "fused(exp,mul,add,relu,affine,tanh)")
        let a = Tensor.normal([300, 257], generator: RandomGenerator(seed: 3)), b = Tensor.normal([300, 257], generator: RandomGenerator(seed: 4))
        expectClose(f([a, b])[0], ((a.exp() * b + bias).relu() - 0.5).tanh().scalars(as: Double.self), tolerance: 1e-6)
        // A value read twice ends a chain: it must be materialised.
        let g = compile { xs in let e = xs[0].exp(); return [(e + 1).sin() * e.cos()] }
        let names = try g.graph(for: [TensorSpec([5])]).nodes.map(\.op.name)
        #expect(names == ["exp", "cos", "fused(affine,sin,mul)"], "\(names)")
        let x = Tensor.normal([5], generator: RandomGenerator(seed: 5))
        expectClose(g([x])[0], ((x.exp() + 1).sin() * x.exp().cos()).scalars(as: Double.self), tolerance: 1e-6)
        // Broadcasting along a middle axis is not a suffix vector: left unfused.
        let h = compile { xs in [(xs[0] + xs[1]).exp()] }
        #expect(try h.graph(for: [TensorSpec([4, 3, 2]), TensorSpec([4, 1, 2])]).nodes.map(\.op.name) == ["add", "exp"])
    }

    /// A bias added to a matrix product (a Linear layer's x·Wᵀ + b) folds into the product, on
    /// either side of the add; a product that is also read elsewhere stays a plain product.
    @Test func biasAddsFoldIntoTheirProducts() throws {
        let w = Tensor.normal([64, 32], generator: RandomGenerator(seed: 6)), bias = Tensor.normal([64], generator: RandomGenerator(seed: 7))
        let f = compile { xs in [(bias + xs[0].matmul(w.T)).relu()] }
        let names = try f.graph(for: [TensorSpec([10, 32])]).nodes.map(\.op.name)
        #expect(names.contains("matmulBias") && !names.contains("matmul") && !names.contains("add"), "\(names)")
        let x = Tensor.normal([10, 32], generator: RandomGenerator(seed: 8))
        expectClose(f([x])[0], (x.matmul(w.T) + bias).relu().scalars(as: Double.self), tolerance: 1e-5)
        let g = compile { xs in let y = xs[0].matmul(w.T); return [y + bias, y * 2] }
        let plain = try g.graph(for: [TensorSpec([10, 32])]).nodes.map(\.op.name)
        #expect(plain.contains("matmul") && !plain.contains("matmulBias"), "\(plain)")
        expectClose(g([x])[0], (x.matmul(w.T) + bias).scalars(as: Double.self), tolerance: 1e-5)
    }

    /// Cross-entropy and its gradient fuse into one op when the loss's cotangent is the seed,
    /// with the same bits as eager; a cotangent made from the loss itself leaves them apart.
    @Test func crossEntropyFusesWithItsGradient() throws {
        let labels = Tensor(shape: [37], scalars: (0..<37).map { Int64($0 * 7 % 300) })
        let f = compile { xs in
            let logits = xs[0].requiringGrad(), loss = crossEntropy(logits: logits, labels: labels)
            return [loss, gradients(of: loss, wrt: [logits])[0]]
        }
        let names = try f.graph(for: [TensorSpec([37, 300])]).nodes.map(\.op.name)
        #expect(names.contains("softmaxCrossEntropy+grad") && !names.contains("softmaxCrossEntropyGrad"), "\(names)")
        let x = Tensor.normal([37, 300], generator: RandomGenerator(seed: 9)).requiringGrad()
        let loss = crossEntropy(logits: x, labels: labels)
        let dx = gradients(of: loss, wrt: [x])[0]
        let out = f([x.detached()])
        #expect(out[0].scalars(as: Float.self) == loss.scalars(as: Float.self))
        #expect(out[1].scalars(as: Float.self) == dx.scalars(as: Float.self))
        let h = compile { xs in
            let logits = xs[0].requiringGrad(), loss = crossEntropy(logits: logits, labels: labels)
            return [gradients(of: loss * loss, wrt: [logits])[0]]
        }
        let apart = try h.graph(for: [TensorSpec([37, 300])]).nodes.map(\.op.name)
        #expect(apart.contains("softmaxCrossEntropyGrad") && !apart.contains("softmaxCrossEntropy+grad"), "\(apart)")
    }

    @Test func inPlaceReuseWhenTheInputDiesAtTheOp() throws {
        let f = compile { [self] xs in [xs[0].matmul(w).relu().matmul(w)] }
        let graph = try f.graph(for: [TensorSpec([6, 6])])
        let plan = MemoryPlan(graph)
        let product = graph.nodes[0].outputs[0], activated = graph.nodes[1].outputs[0]
        #expect(plan.inPlace[activated] == product)
        #expect(plan.offsets[activated] == plan.offsets[product])
        #expect(plan.arenaBytes == 6 * 6 * 4 + 64 - (6 * 6 * 4) % 64)   // one slot for both
        let x = Tensor.normal([6, 6], generator: RandomGenerator(seed: 6))
        expectClose(f([x])[0], x.matmul(w).relu().matmul(w).scalars(as: Double.self), tolerance: 1e-5)
        // Not in place when the input is read later.
        let g = compile { [self] xs in let a = xs[0].matmul(w); return [a.relu().matmul(a)] }
        let other = try g.graph(for: [TensorSpec([6, 6])])
        #expect(MemoryPlan(other).inPlace.isEmpty)
        expectClose(g([x])[0], x.matmul(w).relu().matmul(x.matmul(w)).scalars(as: Double.self), tolerance: 1e-5)
    }

    @Test func memoryPlanReusesSlotsAndKeepsViewsAlive() throws {
        // A chain of products: only two are alive at once, so two slots serve all four.
        let f = compile { [self] xs in [xs[0].matmul(w).matmul(w).matmul(w).matmul(w).matmul(w)] }
        let graph = try f.graph(for: [TensorSpec([64, 6])])
        let plan = MemoryPlan(graph)
        #expect(plan.offsets.count == 4)
        #expect(Set(plan.offsets.values).count == 2)
        #expect(plan.arenaBytes == 2 * 64 * 6 * 4)
        #expect(plan.unsharedBytes == 4 * 64 * 6 * 4)
        let x = Tensor.normal([64, 6], generator: RandomGenerator(seed: 7))
        expectClose(f([x])[0], x.matmul(w).matmul(w).matmul(w).matmul(w).matmul(w).scalars(as: Double.self), tolerance: 1e-4)
        // A view keeps its base's slot alive: `a` (through `flat`) must not share with `b`.
        let g = compile { [self] xs in
            let a = xs[0].matmul(w), flat = a.reshaped([-1])
            let b = xs[0].matmul(w.transposed(0, 1))
            return [(flat.reshaped([64, 6]) * b).sum(axes: [1])]
        }
        let viewGraph = try g.graph(for: [TensorSpec([64, 6])])
        let viewPlan = MemoryPlan(viewGraph)
        let products = viewGraph.nodes.filter { $0.op is MatMulOp }.map { $0.outputs[0] }
        #expect(products.count == 2 && viewPlan.offsets[products[0]] != viewPlan.offsets[products[1]])
        expectClose(g([x])[0], (x.matmul(w) * x.matmul(w.transposed(0, 1))).sum(axes: [1]).scalars(as: Double.self), tolerance: 1e-4)
    }

    @Test func maxPoolGradientsScatterThroughIndices() throws {
        let weight = Tensor.normal([4, 2, 3, 3], generator: RandomGenerator(seed: 8)).requiringGrad()
        let bias = Tensor.normal([4], generator: RandomGenerator(seed: 9)).requiringGrad()
        // (a separate ReLU: its gradient reads the convolution's output; fused ReLU: it reads the pooled input)
        for fused in [false, true] {
            let body: ([Tensor]) -> [Tensor] = { xs in
                let activated = fused ? conv2d(xs[0], weight: weight, bias: bias, padding: (1, 1), relu: true)
                                      : conv2d(xs[0], weight: weight, padding: (1, 1)).relu()
                let pooled = maxPool2d(activated, kernel: (2, 2))
                return gradients(of: (pooled * pooled).sum(), wrt: [weight])
            }
            let f = compile(body)
            for shape in [[2, 2, 6, 6], [1, 2, 7, 5]] {
                let names = try f.graph(for: [TensorSpec(shape)]).nodes.map(\.op.name)
                // (with a fused ReLU the convolution itself is fused into the pooling, and the masked
                // scatter into the weight gradient, its only reader)
                #expect(names.contains(fused ? "conv2dBiasReLUMaxPool" : "maxPool2dWithIndices")
                        && names.contains(fused ? "conv2dWeightGradFromPool" : "maxPool2dScatter"), "\(names)")
                #expect(!names.contains("maxPool2dGrad") && !names.contains("maxPool2d") && names.contains("reluGrad") != fused)
                let x = Tensor.normal(shape, generator: RandomGenerator(seed: 10))
                expectClose(f([x])[0], body([x])[0].scalars(as: Double.self), tolerance: 1e-5)
            }
        }
    }

    @Test func maxPoolWithIndicesIsDifferentiable() {
        let x = randn([2, 3, 5, 6], seed: 10)
        let op = MaxPool2dWithIndicesOp(geometry: PoolGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1)))
        let outputs = Tensor.apply(op, [x])
        expectClose(outputs[0], maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1)).scalars(as: Double.self), tolerance: 0)
        expectGradients([x]) { Tensor.apply(op, [$0[0]])[0] }
    }

    /// An output handed back to the caller never lives in the arena, even when a same-size
    /// sibling output of its op (the int32 indices) is planned there.
    @Test func returnedOutputsStayOutOfTheArena() throws {
        let op = MaxPool2dWithIndicesOp(geometry: PoolGeometry(kernel: (2, 2)))
        let f = compile { xs in [Tensor.apply(op, [xs[0]])[0]] }
        let graph = try f.graph(for: [TensorSpec([1, 2, 4, 4])])
        #expect(MemoryPlan(graph).offsets.isEmpty)
        let a = Tensor.normal([1, 2, 4, 4], generator: RandomGenerator(seed: 1)), b = Tensor.normal([1, 2, 4, 4], generator: RandomGenerator(seed: 2))
        let first = f([a])[0], expected = maxPool2d(a, kernel: (2, 2)).scalars(as: Double.self)
        _ = f([b])
        expectClose(first, expected, tolerance: 0)
        // Plain pooling (no gradient in the graph) is not rewritten.
        #expect(try compile { xs in [maxPool2d(xs[0], kernel: (2, 2))] }.graph(for: [TensorSpec([1, 2, 4, 4])]).nodes.map(\.op.name) == ["maxPool2d"])
    }

    @Test func emptyTensorsRunThroughCompiledGraphs() {
        let f = compile { xs in [(xs[0].exp() + 1).relu()] }
        #expect(f([Tensor.zeros([0, 3])])[0].shape == [0, 3])
        let w = Tensor.normal([4, 3, 3, 3], generator: RandomGenerator(seed: 3))
        #expect(conv2d(Tensor.zeros([0, 3, 8, 8]), weight: w, padding: (1, 1), relu: true).shape == [0, 4, 8, 8])
    }

    /// The scatter's 2×2 fast path (16 windows per vector, then a scalar tail) and its ReLU mask
    /// against max pooling's own gradient, in Float32 and Float64.
    @Test func maxPoolScatterMatchesMaxPoolGradient() {
        let geometry = PoolGeometry(kernel: (2, 2))
        for dtype in [DType.float32, .float64] {
            let x = Tensor.normal([2, 3, 40, 36], dtype: dtype, generator: RandomGenerator(seed: 11))
            let g = Tensor.normal([2, 3, 20, 18], dtype: dtype, generator: RandomGenerator(seed: 12))
            let pooled = Tensor.apply(MaxPool2dWithIndicesOp(geometry: geometry), [x])
            let reference = Tensor.apply(MaxPool2dGradOp(geometry: geometry), [x, g])[0]
            let scattered = Tensor.apply(MaxPool2dScatterOp(geometry: geometry, inputShape: x.shape), [g, pooled[1]])[0]
            expectClose(scattered, reference.scalars(as: Double.self), tolerance: 0)
            let masked = Tensor.apply(MaxPool2dScatterOp(geometry: geometry, inputShape: x.shape, masked: true), [g, pooled[1], pooled[0]])[0]
            expectClose(masked, Tensor.binary(.reluGrad, reference, x).scalars(as: Double.self), tolerance: 0)
        }
    }

    /// A convolution whose only reader is the max pooling runs fused with it: the same values,
    /// and its full-size output never appears in the graph (training and inference graphs).
    @Test func convolutionFusesIntoTheFollowingPooling() throws {
        let weight = Tensor.normal([5, 3, 3, 3], generator: RandomGenerator(seed: 13)).requiringGrad()
        let bias = Tensor.normal([5], generator: RandomGenerator(seed: 14)).requiringGrad()
        let forward = { (x: Tensor) in maxPool2d(conv2d(x, weight: weight, bias: bias, padding: (1, 1), relu: true), kernel: (2, 2)) }
        let inference = compile { xs in [forward(xs[0])] }
        let training: ([Tensor]) -> [Tensor] = { xs in let y = forward(xs[0]); return [y] + gradients(of: (y * y).sum(), wrt: [weight, bias]) }
        let step = compile(training)
        let x = Tensor.normal([3, 3, 10, 34], generator: RandomGenerator(seed: 15))
        #expect(try inference.graph(for: [x.spec]).nodes.map(\.op.name) == ["conv2dBiasReLUMaxPool"])
        let names = try step.graph(for: [x.spec]).nodes.map(\.op.name)
        // The input needs no gradient: the scatter's only reader is the weight gradient, which absorbs it.
        #expect(!names.contains("conv2dBiasReLU") && !names.contains { $0.hasPrefix("maxPool2dScatter") } && names.contains("conv2dWeightGradFromPool"), "\(names)")
        expectClose(inference([x])[0], forward(x).scalars(as: Double.self), tolerance: 1e-5)
        for (compiled, eager) in zip(step([x]), training([x])) { expectClose(compiled, eager.scalars(as: Double.self), tolerance: 1e-4) }
    }

    /// Input and weight gradients of a convolution reading one cotangent become one op (paddings 0–2).
    @Test func convolutionBackwardFusesItsGradients() throws {
        let weight = Tensor.normal([6, 4, 3, 3], generator: RandomGenerator(seed: 16)).requiringGrad()
        let bias = Tensor.normal([6], generator: RandomGenerator(seed: 17)).requiringGrad()
        for padding in 0...2 {
            let body: ([Tensor]) -> [Tensor] = { xs in
                let x = xs[0].requiringGrad(), y = conv2d(x, weight: weight, bias: bias, padding: (padding, padding), relu: true)
                return gradients(of: (y * y).sum(), wrt: [x, weight, bias])
            }
            let f = compile(body)
            let x = Tensor.normal([2, 4, 7, 19], generator: RandomGenerator(seed: 18))
            #expect(try f.graph(for: [x.spec]).nodes.map(\.op.name).contains("conv2dBackward"))
            for (compiled, eager) in zip(f([x]), body([x])) { expectClose(compiled, eager.scalars(as: Double.self), tolerance: 1e-4) }
        }
    }

    /// A layer that needs its input gradient: the pooled cotangent is scattered a strip of rows at
    /// a time (64 channels × 58 columns: strips of 34, 34 and 2 rows; × 522 columns: strips of 2),
    /// and each strip's input gradient reads it padded with halo rows scattered from the
    /// neighbouring pooled rows (3 input channels: the weight gradient's kernel for few channels).
    /// Paddings 0 and 2 keep whole images. The ReLU's mask is folded into the pooling's window
    /// codes (261 pooled columns: more than one 256-window chunk of the code conversion).
    @Test func inputGradientThroughPoolingRunsInStrips() throws {
        for (outputs, channels, padding, height, width) in [(64, 8, 1, 70, 58), (64, 3, 1, 70, 58), (64, 8, 1, 8, 522), (6, 8, 0, 10, 14), (6, 8, 2, 8, 12)] {
            let weight = Tensor.normal([outputs, channels, 3, 3], generator: RandomGenerator(seed: 23)).requiringGrad()
            let bias = Tensor.normal([outputs], generator: RandomGenerator(seed: 24)).requiringGrad()
            let body: ([Tensor]) -> [Tensor] = { xs in
                let x = xs[0].requiringGrad()
                let y = maxPool2d(conv2d(x, weight: weight, bias: bias, padding: (padding, padding), relu: true), kernel: (2, 2))
                return [y] + gradients(of: (y * xs[1]).sum(), wrt: [x, weight, bias])
            }
            let f = compile(body)
            let x = Tensor.normal([2, channels, height, width], generator: RandomGenerator(seed: 25))
            let (oh, ow) = (height + 2 * padding - 2, width + 2 * padding - 2)
            let r = Tensor.normal([2, outputs, oh / 2, ow / 2], generator: RandomGenerator(seed: 26))
            let ops = try f.graph(for: [x.spec, r.spec]).nodes.map(\.op)
            #expect(ops.map(\.name).contains("conv2dBackwardFromPool"), "\(ops.map(\.name))")
            // The pooling writes one-byte window codes that hold ReLU's mask (255 where the maximum is not positive), not a third input.
            #expect(ops.contains { ($0 as? Conv2dMaxPoolOp)?.windowCodes == true }
                    && ops.contains { ($0 as? Conv2dBackwardOp).map { $0.windowCodes && !$0.masked } == true })
            for (compiled, eager) in zip(f([x, r]), body([x, r])) { expectClose(compiled, eager.scalars(as: Double.self), tolerance: 1e-3) }
        }
    }

    @Test func backwardFromWindowCodesRunsOverPixelsWithGradientsBitForBit() throws {
        // Padding 1 and more than 4 channels: the backward pass runs over the pixels the window
        // codes name (conv_pooled_backward.c) and sums in the dense kernels' order. Channels 19
        // (two vector blocks, the second padded) and 16 and 20; 19 pooled columns: one window row
        // per strip, so every strip's input gradient adds the rows just outside it (with 200
        // outputs the bias lanes also restart every 7 rows); 6 columns: strips of 5 rows and 1;
        // 1 column: one strip for the whole image; 50 columns: rows too wide for the input and
        // its gradient to share L1, so the two gradients run in separate passes; no input
        // gradient (x needs none). Three images: unequal parts on two threads.
        for (outputs, channels, height, width, inputGradient) in [(20, 19, 10, 38, true), (200, 19, 10, 38, true), (40, 16, 12, 12, true),
                                                                  (24, 20, 8, 2, true), (12, 16, 6, 100, true), (40, 16, 12, 12, false)] {
            let weight = Tensor.normal([outputs, channels, 3, 3], generator: RandomGenerator(seed: 27)).requiringGrad()
            let bias = Tensor.normal([outputs], generator: RandomGenerator(seed: 28)).requiringGrad()
            let body: ([Tensor]) -> [Tensor] = { xs in
                let x = inputGradient ? xs[0].requiringGrad() : xs[0]
                let y = maxPool2d(conv2d(x, weight: weight, bias: bias, padding: (1, 1), relu: true), kernel: (2, 2))
                return [y] + gradients(of: (y * xs[1]).sum(), wrt: (inputGradient ? [x] : []) + [weight, bias])
            }
            let f = compile(body)
            let x = Tensor.normal([3, channels, height, width], generator: RandomGenerator(seed: 29))
            let r = Tensor.normal([3, outputs, height / 2, width / 2], generator: RandomGenerator(seed: 30))
            #expect(try f.graph(for: [x.spec, r.spec]).nodes.contains { ($0.op as? Conv2dBackwardOp)?.windowCodes == true })
            let names = ["y"] + (inputGradient ? ["dx"] : []) + ["dw", "db"]
            for (name, (compiled, eager)) in zip(names, zip(f([x, r]), body([x, r]))) {
                #expect(compiled.scalars(as: Float.self) == eager.scalars(as: Float.self), "\(name) \(outputs)×\(channels)×\(height)×\(width)")
            }
        }
    }

    @Test func firstLayerGradientThroughPoolingRunsInStrips() throws {
        // An RGB image's layer: no input gradient, 64 channels × 58 columns, so the convolution
        // output is pooled, and the scattered cotangent made and read, 34 rows at a time (strips
        // of 34, 34 and 2 rows per image; 29 pooled columns: a vector of 16 windows and a tail).
        let weight = Tensor.normal([64, 3, 3, 3], generator: RandomGenerator(seed: 19)).requiringGrad()
        let bias = Tensor.normal([64], generator: RandomGenerator(seed: 20)).requiringGrad()
        let body: ([Tensor]) -> [Tensor] = { xs in
            let y = maxPool2d(conv2d(xs[0], weight: weight, bias: bias, padding: (1, 1), relu: true), kernel: (2, 2))
            return [y] + gradients(of: (y * xs[1]).sum(), wrt: [weight, bias])
        }
        let f = compile(body)
        let x = Tensor.normal([2, 3, 70, 58], generator: RandomGenerator(seed: 21)), r = Tensor.normal([2, 64, 35, 29], generator: RandomGenerator(seed: 22))
        let names = try f.graph(for: [x.spec, r.spec]).nodes.map(\.op.name)
        #expect(names.contains("conv2dWeightGradFromPool"), "\(names)")
        for (compiled, eager) in zip(f([x, r]), body([x, r])) { expectClose(compiled, eager.scalars(as: Double.self), tolerance: 1e-3) }
    }

    @Test func weightUpdatesMoveIntoTheirGradientProducts() throws {
        let w0 = Tensor.normal([40, 300], generator: RandomGenerator(seed: 5)), bias = Tensor.normal([40], generator: RandomGenerator(seed: 6))
        let w = w0.copied(), b = bias.copied(), log = DescentLog()
        // The parameters are inputs (as in a compiled training step); the update captures the real ones.
        let f = compile { xs in
            let (x, wIn, bIn) = (xs[0].requiringGrad(), xs[1].requiringGrad(), xs[2].requiringGrad())
            let y = x.matmul(wIn.transposed()) + bIn, loss = (y * y).sum()
            let g = gradients(of: loss, wrt: [x, wIn, bIn])
            _ = Tensor.apply(DescentStep(rate: 0.01, parameterCount: 2, log: log, parameters: [w, b]), [loss, g[1], g[2], wIn, bIn])
            return [g[0]]   // the input gradient reads w after its gradient is made: it must see the old w
        }
        let x = Tensor.normal([5, 300], generator: RandomGenerator(seed: 7))
        let graph = try f.graph(for: [x.spec, w.spec, b.spec])
        let names = graph.nodes.map(\.op.name)
        // Only the forward product (with its bias) is left: the weight gradient, the update and the input gradient (the last reader of w) are one op.
        #expect(names.filter { $0.hasPrefix("matmul") }.count == 2 && names.contains("matmulBias"), "\(names)")
        #expect(names.suffix(2) == ["matmulUpdate+product", "descent"], "\(names)")
        #expect(graph.nodes.last?.inputs.count == 3)                       // loss, the bias gradient, the bias
        let dx = f([x, w, b])[0]
        #expect(log.spans == 40)                                            // one span per row of w, one block of columns
        // Expected: the same step eagerly.
        let y = x.matmul(w0.transposed()) + bias
        let dy = y * 2
        expectClose(dx, dy.matmul(w0).scalars(as: Double.self), tolerance: 1e-3)
        expectClose(w, (w0 - dy.transposed().matmul(x) * 0.01).scalars(as: Double.self), tolerance: 1e-4)
        expectClose(b, (bias - dy.sum(axis: 0) * 0.01).scalars(as: Double.self), tolerance: 1e-4)
    }

    @Test func weightUpdatesWithoutAProductSplitIntoGroupsOfRows() throws {
        // No input gradient (x needs none): the fused update runs one task per group of 128 rows
        // of the block of 512 columns (tasks that may run at once); every row is updated once.
        let w0 = Tensor.normal([200, 512], generator: RandomGenerator(seed: 8))
        let w = w0.copied(), log = DescentLog()
        let f = compile { xs in
            let wIn = xs[1].requiringGrad()
            let loss = (xs[0].matmul(wIn.transposed()) * 0.5).sum()
            let g = gradients(of: loss, wrt: [wIn])
            _ = Tensor.apply(DescentStep(rate: 0.01, parameterCount: 1, log: log, parameters: [w]), [loss, g[0], wIn])
            return [loss]
        }
        let x = Tensor.normal([6, 512], generator: RandomGenerator(seed: 9))
        #expect(try f.graph(for: [x.spec, w.spec]).nodes.map(\.op.name).contains("matmulUpdate"))
        _ = f([x, w])
        #expect(log.spans == 200)
        let dw = Tensor.ones([200, 6]).matmul(x) * 0.5
        expectClose(w, (w0 - dw * 0.01).scalars(as: Double.self), tolerance: 1e-4)
    }
}
