import Apus
import ApusNN
import ApusTrain
import Foundation

/// Wires Caffe layers into functional-model nodes, blob by blob (in-place layers rebind their blob).
struct CaffeModelBuilder {
    let inputShapes: [String: [Int]]
    let generator: RandomGenerator
    /// The most weights the network may have (a hostile file cannot ask for terabytes).
    var parameterBudget: Int
    var blobs: [String: Node] = [:]
    var inputs: [Node] = []
    var consumed: Set<String> = []
    var outputs: [String] = []
    var layers: [String: Module] = [:]
    var mergedScales: [String: String] = [:]
    var labelInput: String?

    init(inputShapes: [String: [Int]], generator: RandomGenerator, parameterBudget: Int) {
        (self.inputShapes, self.generator, self.parameterBudget) = (inputShapes, generator, parameterBudget)
    }

    /// Takes `shape`'s element count from the budget, or throws naming the layer.
    mutating func spend(_ shape: [Int], _ layer: Caffe_LayerParameter) throws {
        guard let count = checkedCount(shape), count <= parameterBudget else {
            throw CaffeError(.malformed, "Caffe layer '\(layer.name)' (\(layer.type)): weights \(shape) exceed the network's budget of \(parameterBudget) values")
        }
        parameterBudget -= count
    }

    /// The mean a data layer's `transform_param` subtracts: `mean_file` (a binary BlobProto,
    /// relative to the current directory as in Caffe) or `mean_value`s (per channel), for inputs of `shape`.
    static func mean(_ t: Caffe_TransformationParameter, layer: String, shape: [Int]) throws -> Tensor? {
        if t.hasMeanFile {
            guard let data = FileManager.default.contents(atPath: t.meanFile) else { throw CaffeError(.io, "Caffe layer '\(layer)': cannot read mean_file \(t.meanFile)") }
            let blob: Caffe_BlobProto
            do { blob = try Caffe_BlobProto(serializedBytes: data) } catch { throw CaffeError(.malformed, "Caffe layer '\(layer)': mean_file \(t.meanFile) is not a BlobProto") }
            let mean = try CaffeModel.tensor(blob, layer: layer, index: 0)
            guard mean.count == checkedCount(shape) else { throw CaffeError(.malformed, "Caffe layer '\(layer)': mean_file holds \(mean.shape), the data is \(shape)") }
            return mean.reshaped(shape)
        }
        guard !t.meanValue.isEmpty else { return nil }
        guard t.meanValue.count == 1 || t.meanValue.count == shape.first else { throw CaffeError(.malformed, "Caffe layer '\(layer)': \(t.meanValue.count) mean_value for \(shape.first ?? 0) channels") }
        let values = t.meanValue.count == 1 ? Array(repeating: t.meanValue[0], count: shape.first ?? 1) : t.meanValue
        return Tensor(shape: [values.count] + Array(repeating: 1, count: Swift.max(shape.count - 1, 0)), scalars: values)
    }

    mutating func addInput(_ name: String, _ declared: [Int]?, layer: String, scale: Double = 1,
                           transform: Caffe_TransformationParameter? = nil) throws {
        guard let shape = inputShapes[name] ?? declared, !shape.isEmpty, shape.allSatisfy({ $0 > 0 }), checkedCount(shape) != nil else {
            throw CaffeError(.malformed, "Caffe layer '\(layer)': give a valid per-example shape of its top '\(name)' (inputShapes: [\"\(name)\": [C, H, W]])")
        }
        let node = Input(name, shape: shape)
        inputs.append(node)
        var value = node
        if let transform, let mean = try Self.mean(transform, layer: layer, shape: shape) { value = InputMean(mean)(value) }
        blobs[name] = scale == 1 ? value : InputScale(scale)(value)
    }

    func bottom(_ layer: Caffe_LayerParameter, _ k: Int = 0) throws -> Node {
        guard k < layer.bottom.count else { throw CaffeError(.malformed, "Caffe layer '\(layer.name)' (\(layer.type)) needs bottom \(k)") }
        guard let node = blobs[layer.bottom[k]] else {
            throw CaffeError(.malformed, "Caffe layer '\(layer.name)' (\(layer.type)) reads blob '\(layer.bottom[k])', which no earlier layer makes")
        }
        if let failure = node.failure { throw CaffeError(.malformed, "Caffe layer '\(layer.name)' (\(layer.type)): \(failure)") }
        return node
    }

    /// A tensor of `shape` drawn as Caffe's `filler` would: constant, uniform, gaussian, xavier
    /// or msra (fans of a [out, in, …] weight); nil for a filler Apus leaves to its own initializer.
    func fill(_ filler: Caffe_FillerParameter, _ shape: [Int], layer: Caffe_LayerParameter) throws -> Tensor {
        let fanIn = Double(shape.dropFirst().reduce(1, *)), fanOut = Double(shape.first ?? 1) * Double(shape.dropFirst(2).reduce(1, *))
        let fan: Double
        switch filler.varianceNorm {
        case .fanOut: fan = fanOut
        case .average: fan = (fanIn + fanOut) / 2
        default: fan = fanIn
        }
        switch filler.type {
        case "constant": return Tensor.full(shape, Double(filler.value))
        case "uniform": return Tensor.uniform(shape, low: Double(filler.min), high: Double(filler.max), generator: generator)
        case "gaussian": return Tensor.normal(shape, mean: Double(filler.mean), std: Double(filler.std), generator: generator)
        case "xavier":
            let bound = (3 / Swift.max(fan, 1)).squareRoot()
            return Tensor.uniform(shape, low: -bound, high: bound, generator: generator)
        case "msra": return Tensor.normal(shape, std: (2 / Swift.max(fan, 1)).squareRoot(), generator: generator)
        default: throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': filler type \"\(filler.type)\"")
        }
    }

    /// The (height, width) of a parameter given as a repeated value, or `_h`/`_w` fields.
    static func pair(_ repeated: [UInt32], h: UInt32?, w: UInt32?, fallback: Int) -> (Int, Int) {
        if let h, let w { return (Int(h), Int(w)) }
        if repeated.count >= 2 { return (Int(repeated[0]), Int(repeated[1])) }
        if let one = repeated.first { return (Int(one), Int(one)) }
        return (fallback, fallback)
    }

    mutating func add(_ layer: Caffe_LayerParameter, scale: Caffe_LayerParameter?) throws {
        let top = layer.top.first ?? layer.name
        func set(_ node: Node) throws {
            if let failure = node.failure { throw CaffeError(.malformed, "Caffe layer '\(layer.name)' (\(layer.type)): \(failure)") }
            blobs[top] = node
        }
        for b in layer.bottom { consumed.insert(b) }
        switch layer.type {
        case "Input":
            for (k, name) in layer.top.enumerated() {
                let shapes = layer.inputParam.shape
                let dims = shapes.isEmpty ? [] : shapes[Swift.min(k, shapes.count - 1)].dim.map(Int.init)
                try addInput(name, dims.isEmpty ? nil : Array(dims.dropFirst()), layer: layer.name)
            }
        case _ where CaffeNet.dataTypes.contains(layer.type):
            let factor = layer.hasTransformParam ? Double(layer.transformParam.scale) : 1
            try addInput(top, nil, layer: layer.name, scale: factor, transform: layer.hasTransformParam ? layer.transformParam : nil)
            if layer.top.count > 1 { labelInput = layer.top[1] }
        case "Convolution":
            let p = layer.convolutionParam, x = try bottom(layer)
            guard x.shape.count == 3, p.numOutput > 0 else { throw CaffeError(.malformed, "Caffe layer '\(layer.name)': needs a [C, H, W] input and num_output") }
            let kernel = Self.pair(p.kernelSize, h: p.hasKernelH ? p.kernelH : nil, w: p.hasKernelW ? p.kernelW : nil, fallback: 1)
            let stride = Self.pair(p.stride, h: p.hasStrideH ? p.strideH : nil, w: p.hasStrideW ? p.strideW : nil, fallback: 1)
            let pad = Self.pair(p.pad, h: p.hasPadH ? p.padH : nil, w: p.hasPadW ? p.padW : nil, fallback: 0)
            let dilation = Self.pair(p.dilation, h: nil, w: nil, fallback: 1)
            let groups = Int(p.group)
            guard groups > 0, x.shape[0] % groups == 0, Int(p.numOutput) % groups == 0, [kernel.0, kernel.1, stride.0, stride.1, dilation.0, dilation.1].allSatisfy({ $0 > 0 }) else {
                throw CaffeError(.malformed, "Caffe layer '\(layer.name)': group \(groups) must divide \(x.shape[0]) inputs and \(p.numOutput) outputs; kernel, stride and dilation must be positive")
            }
            try spend([Int(p.numOutput), x.shape[0] / groups, kernel.0, kernel.1], layer)
            let conv = Conv2d(x.shape[0], Int(p.numOutput), kernelSize: kernel, stride: stride, padding: .explicit(pad.0, pad.1),
                              dilation: dilation, groups: groups, bias: p.biasTerm, generator: generator)
            if p.hasWeightFiller { conv.weight = try fill(p.weightFiller, conv.weight.shape, layer: layer) }
            if p.hasBiasFiller, let bias = conv.bias { conv.bias = try fill(p.biasFiller, bias.shape, layer: layer) }
            layers[layer.name] = conv
            try set(conv(x))
        case "Pooling":
            let p = layer.poolingParam, x = try bottom(layer)
            guard x.shape.count == 3 else { throw CaffeError(.malformed, "Caffe layer '\(layer.name)': needs a [C, H, W] input") }
            guard p.pool != .stochastic else { throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': STOCHASTIC pooling") }
            var kernel = (p.hasKernelH && p.hasKernelW) ? (Int(p.kernelH), Int(p.kernelW)) : (Int(p.kernelSize), Int(p.kernelSize))
            var stride = (p.hasStrideH && p.hasStrideW) ? (Int(p.strideH), Int(p.strideW)) : (Int(p.stride), Int(p.stride))
            var pad = (p.hasPadH || p.hasPadW) ? (Int(p.padH), Int(p.padW)) : (Int(p.pad), Int(p.pad))
            if p.globalPooling { (kernel, stride, pad) = ((x.shape[1], x.shape[2]), (1, 1), (0, 0)) }
            let ceil = p.roundMode == .ceil
            let pool: Module & UnaryLayer = p.pool == .max
                ? MaxPool2d(kernelSize: kernel, stride: stride, padding: pad, ceilMode: ceil)
                : AvgPool2d(kernelSize: kernel, stride: stride, padding: pad, ceilMode: ceil, countIncludePad: true)
            try set(pool(x))
        case "InnerProduct":
            let p = layer.innerProductParam, x = try bottom(layer)
            guard !p.transpose, p.axis == 1, p.numOutput > 0 else { throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': transpose, an axis other than 1, or no num_output") }
            let flat = x.shape.count == 1 ? x : Flatten()(x)
            try spend([flat.shape.first ?? 0, Int(p.numOutput)], layer)
            let linear = Linear(flat.shape[0], Int(p.numOutput), bias: p.biasTerm, generator: generator)
            if p.hasWeightFiller { linear.weight = try fill(p.weightFiller, linear.weight.shape, layer: layer) }
            if p.hasBiasFiller, let bias = linear.bias { linear.bias = try fill(p.biasFiller, bias.shape, layer: layer) }
            layers[layer.name] = linear
            try set(linear(flat))
        case "ReLU":
            let slope = Double(layer.reluParam.negativeSlope)
            try set(slope == 0 ? ReLU()(try bottom(layer)) : LeakyReLU(negativeSlope: slope)(try bottom(layer)))
        case "Sigmoid": try set(Sigmoid()(try bottom(layer)))
        case "TanH": try set(Tanh()(try bottom(layer)))
        case "Dropout":
            let ratio = Double(layer.dropoutParam.dropoutRatio)
            guard (0..<1).contains(ratio) else { throw CaffeError(.malformed, "Caffe layer '\(layer.name)': dropout_ratio \(ratio) outside [0, 1)") }
            try set(Dropout(ratio, generator: generator)(try bottom(layer)))
        case "Softmax":
            guard layer.softmaxParam.axis == 1 else { throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': Softmax over an axis other than 1") }
            try set(Softmax(axis: 1)(try bottom(layer)))
        case "Concat":
            let axis = layer.concatParam.hasAxis ? Int(layer.concatParam.axis) : Int(layer.concatParam.concatDim)
            let nodes = try layer.bottom.indices.map { try bottom(layer, $0) }
            try set(Concatenate(axis: axis - 1)(nodes))
        case "Eltwise":
            let p = layer.eltwiseParam, nodes = try layer.bottom.indices.map { try bottom(layer, $0) }
            guard p.coeff.allSatisfy({ $0 == 1 }), p.operation != .max else {
                throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': Eltwise MAX or SUM with coefficients")
            }
            try set(p.operation == .prod ? Multiply()(nodes) : Add()(nodes))
        case "Flatten":
            guard layer.flattenParam.endAxis == -1 else { throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': Flatten with an end_axis") }
            try set(Flatten(startAxis: Int(layer.flattenParam.axis))(try bottom(layer)))
        case "LRN":
            let p = layer.lrnParam
            guard p.normRegion == .acrossChannels, p.localSize % 2 == 1 else { throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': LRN within channels or of even size") }
            try set(LocalResponseNorm(size: Int(p.localSize), alpha: Double(p.alpha), beta: Double(p.beta), k: Double(p.k))(try bottom(layer)))
        case "BatchNorm":
            let x = try bottom(layer)
            let affine = scale.map { $0.scaleParam.biasTerm } ?? false
            if let scale, !scale.scaleParam.biasTerm || scale.scaleParam.axis != 1 {
                throw CaffeError(.unsupported, "Caffe layer '\(scale.name)' (Scale): only a Scale with bias_term after BatchNorm")
            }
            let p = layer.batchNormParam, features = x.shape.first ?? 0
            let momentum = 1 - Double(p.movingAverageFraction)
            let norm: BatchNorm = x.shape.count == 3 ? BatchNorm2d(features, epsilon: Double(p.eps), momentum: momentum, affine: affine)
                                                     : BatchNorm1d(features, epsilon: Double(p.eps), momentum: momentum, affine: affine)
            layers[layer.name] = norm
            if let scale { mergedScales[scale.name] = layer.name }
            let node = norm(x)
            if let scale, let scaleTop = scale.top.first, scaleTop != top { blobs[scaleTop] = node }
            try set(node)
        case "Scale":
            throw CaffeError(.unsupported, "Caffe layer '\(layer.name)': a Scale layer not right after a BatchNorm on the same blob")
        case "SoftmaxWithLoss":
            _ = try bottom(layer)
            outputs.append(layer.bottom[0])
        case "Accuracy":
            _ = try bottom(layer)
        default:
            throw CaffeError(.unsupported, "Caffe layer '\(layer.name)' (\(layer.type))")
        }
    }

    func finish(name: String) throws -> CaffeModel {
        // Outputs: what the losses read, else the blobs no layer reads (in order of their making).
        var names = outputs
        if names.isEmpty { names = blobs.keys.filter { !consumed.contains($0) && $0 != labelInput }.sorted() }
        guard !names.isEmpty else { throw CaffeError(.malformed, "Caffe: the network has no output") }
        let nodes = try names.map { name -> Node in
            guard let node = blobs[name] else { throw CaffeError(.malformed, "Caffe: output blob '\(name)' is never made") }
            return node
        }
        let model: Model
        do {
            model = try Model(inputs: inputs.filter { $0.name != labelInput }, outputs: nodes, name: name)
        } catch {
            throw CaffeError(.malformed, "Caffe: \(error)")
        }
        return CaffeModel(model: model, layers: layers, mergedScales: mergedScales, labelInput: labelInput)
    }
}
