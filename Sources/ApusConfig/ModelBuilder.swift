import Apus
import ApusNN
import ApusTrain

/// What the data section tells the model section: class count and vocabulary size.
public struct DataFacts {
    /// Number of classes (answers, labels), when the data has them.
    public var classes: Int?
    /// Size of the token vocabulary, when the data has text.
    public var vocabularySize: Int?

    /// Facts of a data set with `classes` classes and a vocabulary of `vocabularySize` tokens.
    public init(classes: Int? = nil, vocabularySize: Int? = nil) {
        (self.classes, self.vocabularySize) = (classes, vocabularySize)
    }
}

/// Builds a functional `Model` from the `model` section: named `inputs` (per-example shapes),
/// `layers` (each with a `type`, options, and `input`/`inputs` naming earlier nodes — the
/// previous layer by default), and an `output` (the last layer by default). Every layer's shape
/// is checked as it is built; errors name the layer.
public enum ModelBuilder {
    static let layerTypes = ["conv2d", "linear", "maxpool2d", "avgpool2d", "relu", "tanh", "sigmoid", "gelu", "leaky_relu",
                             "softmax", "flatten", "dropout", "embedding", "lstm", "gru", "batchnorm1d", "batchnorm2d",
                             "layernorm", "add", "multiply", "concatenate"]
    static let activations = ["relu", "tanh", "sigmoid", "gelu"]

    /// The most values a model built from a configuration may hold in its parameters and
    /// buffers, and an input in one example: 2^28, a gigabyte of Float32, far more than trains
    /// on a CPU. A layer that would take the model past it (a typo such as
    /// `out_features: 10000000000`) is an error before its weights are allocated.
    public static let maximumValues = 1 << 28

    /// The largest integer option of a layer or dimension of an input (channels, kernel sizes,
    /// strides, padding, axes…): larger ones can only be typos, and would overflow the shape
    /// arithmetic.
    public static let maximumSize = 1 << 24

    /// The most cell runs per example of one recurrent layer: building the model traces each
    /// (a GRU runs its cell once per step, layer and direction; an LSTM once per layer and
    /// direction for a whole sequence), so past this it would take long to build and to run.
    public static let maximumRecurrentRuns = 1 << 14

    /// The values of the layers built so far; refuses a layer that would pass the limit.
    struct Budget {
        let limit: Int
        var used = 0.0

        /// Counts `values` (a Double, which products of absurd sizes cannot overflow) for `layer`.
        mutating func reserve(_ values: Double, for layer: ConfigNode) throws {
            guard used + values <= Double(limit) else {
                let count = values < 1e18 ? String(Int(values)) : "\(values)"
                throw layer.error("this layer's \(count) parameters would take the model past the limit of \(limit)")
            }
            used += values
        }
    }

    /// The model of a configuration's `model` section (`facts` sizes the layers that name
    /// "classes" or "vocabulary", `generator` draws the weights; at most `maximumValues` values
    /// in the parameters and buffers, and in an input's example); any problem throws a `ConfigError`.
    public static func build(_ section: ConfigNode, facts: DataFacts, generator: RandomGenerator,
                             maximumValues: Int = ModelBuilder.maximumValues) throws -> Model {
        try section.checkKeys(["inputs", "layers", "output", "name"])
        let inputsNode = try section.node("inputs")
        guard let inputMap = inputsNode.map, !inputMap.isEmpty else { throw inputsNode.error("expected a mapping of input names to shapes") }
        var nodes: [String: Node] = [:]
        var modelInputs: [Node] = []
        for name in inputMap.keys.sorted() {
            let spec = inputsNode.child(name, inputMap[name]!)
            let shape: [Int], dtype: DType
            if spec.map != nil {
                try spec.checkKeys(["shape", "dtype"])
                shape = try spec.intList("shape", minimum: 1, maximum: maximumSize)
                let dtypeName = try spec.string("dtype", default: "float32")
                guard let d = DType(rawValue: dtypeName) else { throw spec.error("unknown dtype '\(dtypeName)' (float32, float64, int32, int64, bool)") }
                dtype = d
            } else {
                shape = try inputsNode.intList(name, minimum: 1, maximum: maximumSize)
                dtype = .float32
            }
            guard shape.reduce(1.0, { $0 * Double($1) }) <= Double(maximumValues) else {
                throw spec.error("an input of shape \(shape) holds more than \(maximumValues) values per example")
            }
            let node = Input(name, shape: shape, dtype: dtype)
            nodes[name] = node
            modelInputs.append(node)
        }
        let layers = try section.list("layers")
        guard !layers.isEmpty else { throw section.error("model.layers is empty") }
        // Names and wiring.
        var names: [String] = []
        for (i, layer) in layers.enumerated() {
            let name = try layer.string("name", default: "\(try layer.string("type", default: "layer"))_\(i)")
            if nodes[name] != nil || names.contains(name) { throw layer.error("the name '\(name)' is used twice") }
            names.append(name)
        }
        var wiring: [[String]] = []
        for (i, layer) in layers.enumerated() {
            if let explicit = try layer.stringList("inputs") ?? layer.stringList("input") {
                for source in explicit where nodes[source] == nil && !names.contains(source) {
                    let hint = nearest(source, in: Array(nodes.keys) + names).map { " (did you mean '\($0)'?)" } ?? ""
                    throw layer.error("input '\(source)' is neither a model input nor a layer\(hint)")
                }
                wiring.append(explicit)
            } else if i > 0 {
                wiring.append([names[i - 1]])
            } else {
                guard modelInputs.count == 1 else { throw layer.error("the first layer must name its input (there are several model inputs)") }
                wiring.append([modelInputs[0].name])
            }
        }
        // Order layers so each comes after what it reads; a cycle is an error.
        var order: [Int] = [], state = [Int](repeating: 0, count: layers.count)   // 0 new, 1 visiting, 2 done
        func visit(_ i: Int, _ path: [String]) throws {
            if state[i] == 2 { return }
            if state[i] == 1 {
                throw layers[i].error("wiring cycle: " + (path.drop { $0 != names[i] } + [names[i]]).joined(separator: " → "))
            }
            state[i] = 1
            for source in wiring[i] { if let j = names.firstIndex(of: source) { try visit(j, path + [names[i]]) } }
            state[i] = 2
            order.append(i)
        }
        for i in layers.indices { try visit(i, []) }
        var budget = Budget(limit: maximumValues)
        for i in order {
            let inputs = wiring[i].map { nodes[$0]! }
            nodes[names[i]] = try apply(layers[i], name: names[i], to: inputs, facts: facts, generator: generator, budget: &budget)
        }
        let outputName = try section.string("output", default: names.last!)
        guard let output = nodes[outputName] else {
            throw section.error("output '\(outputName)' is not a layer" + (nearest(outputName, in: names).map { " (did you mean '\($0)'?)" } ?? ""))
        }
        return try Model(inputs: modelInputs, outputs: [output], name: try section.string("name", default: "model"))
    }

    /// An integer option that may name a data fact ("classes", "vocabulary").
    static func size(_ layer: ConfigNode, _ key: String, facts: DataFacts, default fallback: String? = nil) throws -> Int {
        if let text = (layer.map?[key] as? String) ?? (layer.has(key) ? nil : fallback) {
            switch text {
            case "classes", "answers":
                guard let n = facts.classes else { throw layer.error("'\(key): \(text)' needs a data reader that knows its classes") }
                return n
            case "vocabulary":
                guard let n = facts.vocabularySize else { throw layer.error("'\(key): vocabulary' needs a data reader with a vocabulary") }
                return n
            default: throw layer.error("option '\(key)' must be an integer, 'classes' or 'vocabulary', got '\(text)'")
            }
        }
        return try layer.int(key, minimum: 1, maximum: maximumSize)
    }

    static func pair(_ layer: ConfigNode, _ key: String, default fallback: Int, minimum: Int = 1) throws -> (Int, Int) {
        let values = try layer.intList(key, default: [fallback], minimum: minimum, maximum: maximumSize)
        guard values.count == 1 || values.count == 2 else { throw layer.error("option '\(key)' must be one integer or [height, width]") }
        return (values[0], values.count == 2 ? values[1] : values[0])
    }

    static func apply(_ layer: ConfigNode, name: String, to inputs: [Node], facts: DataFacts, generator: RandomGenerator,
                      budget: inout Budget) throws -> Node {
        let type = try layer.string("type")
        guard layerTypes.contains(type) else {
            throw layer.error("unknown layer type '\(type)'" + (nearest(type, in: layerTypes).map { " (did you mean '\($0)'?)" } ?? ""))
        }
        let common = ["name", "type", "input", "inputs"]
        let x = inputs[0]
        func unary(_ module: Module & UnaryLayer, options: [String]) throws -> Node {
            try layer.checkKeys(common + options)
            guard inputs.count == 1 else { throw layer.error("\(type) takes one input, got \(inputs.count)") }
            var node = try Node.checkedApplying(module, to: inputs, name: name) { module.forward($0[0]) }
            if let activation = try layer.optionalNode("activation").map({ _ in try layer.string("activation") }) {
                guard activations.contains(activation) else { throw layer.error("unknown activation '\(activation)' (\(activations.joined(separator: ", ")))") }
                let act: Module & UnaryLayer = activation == "relu" ? ReLU() : activation == "tanh" ? Tanh() : activation == "sigmoid" ? Sigmoid() : GELU()
                node = try Node.checkedApplying(act, to: [node], name: name) { act.forward($0[0]) }
            }
            return node
        }
        switch type {
        case "conv2d":
            guard x.shape.count == 3 else { throw layer.error("conv2d needs an input of shape [channels, height, width], got \(x.shape)") }
            let same = (layer.map?["padding"] as? String) == "same"
            let explicit = same ? (0, 0) : try pair(layer, "padding", default: 0, minimum: 0)
            let stride = try pair(layer, "stride", default: 1), groups = try layer.int("groups", default: 1, minimum: 1, maximum: maximumSize)
            let outChannels = try layer.int("out_channels", minimum: 1, maximum: maximumSize), kernel = try pair(layer, "kernel_size", default: 3)
            let bias = try layer.bool("bias", default: true)
            if same && stride != (1, 1) { throw layer.error("padding 'same' needs stride 1") }
            guard x.shape[0] % groups == 0, outChannels % groups == 0 else {
                throw layer.error("groups \(groups) must divide the input channels (\(x.shape[0])) and out_channels (\(outChannels))")
            }
            // ReLU is fused into the convolution; other activations run as their own layer.
            let fuse = (layer.map?["activation"] as? String) == "relu"
            let perOutput = Double(x.shape[0] / groups) * Double(kernel.0) * Double(kernel.1) + (bias ? 1 : 0)
            try budget.reserve(Double(outChannels) * perOutput, for: layer)
            let conv = Conv2d(x.shape[0], outChannels, kernelSize: kernel,
                              stride: stride, padding: same ? .same : .explicit(explicit.0, explicit.1), dilation: try pair(layer, "dilation", default: 1),
                              groups: groups, bias: bias, relu: fuse, generator: generator)
            try layer.checkKeys(common + ["out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "activation"])
            if fuse { return try Node.checkedApplying(conv, to: inputs, name: name) { conv.forward($0[0]) } }
            return try unary(conv, options: ["out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "activation"])
        case "linear":
            let inFeatures = x.shape.last ?? 1, outFeatures = try size(layer, "out_features", facts: facts)
            let bias = try layer.bool("bias", default: true)
            try budget.reserve(Double(outFeatures) * (Double(inFeatures) + (bias ? 1 : 0)), for: layer)
            return try unary(Linear(inFeatures, outFeatures, bias: bias, generator: generator), options: ["out_features", "bias", "activation"])
        case "maxpool2d", "avgpool2d":
            let kernel = try pair(layer, "kernel_size", default: 2), padding = try pair(layer, "padding", default: 0, minimum: 0)
            let stride = layer.has("stride") ? try pair(layer, "stride", default: 1) : kernel
            let ceilMode = try layer.bool("ceil_mode", default: false)
            if type == "maxpool2d" {
                return try unary(MaxPool2d(kernelSize: kernel, stride: stride, padding: padding, ceilMode: ceilMode),
                                 options: ["kernel_size", "stride", "padding", "ceil_mode"])
            }
            return try unary(AvgPool2d(kernelSize: kernel, stride: stride, padding: padding, ceilMode: ceilMode,
                                       countIncludePad: try layer.bool("count_include_pad", default: true)),
                             options: ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"])
        case "relu": return try unary(ReLU(), options: [])
        case "tanh": return try unary(Tanh(), options: [])
        case "sigmoid": return try unary(Sigmoid(), options: [])
        case "gelu":
            let approximate = try layer.string("approximate", default: "none")
            guard let approximation = GELUApproximation(rawValue: approximate) else {
                throw layer.error("gelu approximate must be 'none' or 'tanh', got '\(approximate)'")
            }
            return try unary(GELU(approximate: approximation), options: ["approximate"])
        case "leaky_relu": return try unary(LeakyReLU(negativeSlope: try layer.double("negative_slope", default: 0.01)), options: ["negative_slope"])
        case "softmax": return try unary(Softmax(axis: try layer.int("axis", default: -1, minimum: -maximumSize, maximum: maximumSize)), options: ["axis"])
        case "flatten": return try unary(Flatten(startAxis: 1), options: [])
        case "dropout":
            let p = try layer.double("p", default: 0.5)
            guard (0..<1).contains(p) else { throw layer.error("dropout p must be in [0, 1), got \(p)") }
            return try unary(Dropout(p, generator: generator), options: ["p"])
        case "embedding":
            let count = try size(layer, "count", facts: facts, default: "vocabulary")
            let padding = layer.has("padding_index") ? try layer.int("padding_index", minimum: 0, maximum: maximumSize) : nil
            if let padding, padding >= count { throw layer.error("padding_index \(padding) must be below count \(count)") }
            guard x.dtype == .int64 || x.dtype == .int32 else { throw layer.error("embedding needs integer ids, its input is \(x.dtype)") }
            let features = try layer.int("features", minimum: 1, maximum: maximumSize)
            try budget.reserve(Double(count) * Double(features), for: layer)
            return try unary(Embedding(count, features, paddingIndex: padding, generator: generator), options: ["count", "features", "padding_index"])
        case "lstm", "gru":
            guard x.shape.count == 2 else { throw layer.error("\(type) needs an input of shape [steps, features], got \(x.shape)") }
            guard x.dtype == .float32 else { throw layer.error("\(type) needs float32 input (an embedding's output), got \(x.dtype)") }
            let hidden = try layer.int("hidden_size", minimum: 1, maximum: maximumSize)
            let layers = try layer.int("num_layers", default: 1, minimum: 1, maximum: maximumSize)
            let bidirectional = try layer.bool("bidirectional", default: false), sequences = try layer.bool("return_sequences", default: false)
            let options = ["hidden_size", "num_layers", "bidirectional", "return_sequences"]
            let runs = layers * (bidirectional ? 2 : 1) * (type == "gru" ? x.shape[0] : 1)
            guard runs <= maximumRecurrentRuns else {
                let steps = type == "gru" ? "\(x.shape[0]) steps × " : ""
                throw layer.error("\(type) of \(steps)\(layers) layers × \(bidirectional ? 2 : 1) directions runs its cell \(runs) times, "
                                  + "more than \(maximumRecurrentRuns)" + (type == "gru" ? " (an lstm runs a whole sequence at once)" : ""))
            }
            // Per layer and direction: weightIH [G·H, input], weightHH [G·H, H] and two biases [G·H].
            let gateRows = Double(type == "lstm" ? 4 : 3) * Double(hidden), directions = Double(bidirectional ? 2 : 1)
            let first = gateRows * (Double(x.shape[1]) + Double(hidden) + 2)
            let others = Double(layers - 1) * gateRows * (directions * Double(hidden) + Double(hidden) + 2)
            try budget.reserve(directions * (first + others), for: layer)
            if type == "lstm" {
                return try unary(LSTM(inputSize: x.shape[1], hiddenSize: hidden, numLayers: layers, batchFirst: true, bidirectional: bidirectional,
                                      returnsSequences: sequences, generator: generator), options: options)
            }
            let gru = GRU(inputSize: x.shape[1], hiddenSize: hidden, numLayers: layers, batchFirst: true, bidirectional: bidirectional, generator: generator)
            try layer.checkKeys(common + options)
            return try Node.checkedApplying(gru, to: inputs, name: name) { t in
                let (output, state) = gru(t[0])
                if sequences { return output }
                let directions = bidirectional ? 2 : 1
                return state[(layers - 1) * directions..<(layers * directions)].transposed(0, 1).reshaped([t[0].shape[0], directions * hidden])
            }
        case "batchnorm1d", "batchnorm2d":
            let ranks = type == "batchnorm1d" ? [1, 2] : [3]
            guard ranks.contains(x.shape.count) else {
                throw layer.error("\(type) needs an input of shape \(type == "batchnorm1d" ? "[features] or [channels, length]" : "[channels, height, width]"), got \(x.shape)")
            }
            let channels = x.shape.first ?? 1
            try budget.reserve(4 * Double(channels), for: layer)   // weight, bias, running mean and variance
            return try unary(type == "batchnorm1d" ? BatchNorm1d(channels) : BatchNorm2d(channels), options: [])
        case "layernorm":
            try budget.reserve(2 * Double(x.shape.last ?? 1), for: layer)
            return try unary(LayerNorm([x.shape.last ?? 1]), options: [])
        default:   // add, multiply, concatenate
            try layer.checkKeys(common + (type == "concatenate" ? ["axis"] : []))
            guard inputs.count >= 2 else { throw layer.error("\(type) needs at least two inputs (inputs: [a, b])") }
            let merge: MergeLayer = type == "add" ? Add() : type == "multiply" ? Multiply() : Concatenate(axis: try layer.int("axis", default: -1, minimum: -maximumSize, maximum: maximumSize))
            return try Node.checkedApplying(merge, to: inputs, name: name) { merge.forward($0) }
        }
    }
}
