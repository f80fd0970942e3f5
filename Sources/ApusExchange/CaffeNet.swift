import Apus
import ApusNN
import ApusTrain
import Foundation
import SwiftProtobuf

/// A Caffe network description (`.prototxt`, Caffe's protobuf text format) turned into an
/// Apus functional `Model`, and a `.caffemodel`'s weights loaded into it.
///
/// ```swift
/// let net = try CaffeNet(contentsOf: URL(fileURLWithPath: "lenet_train_test.prototxt"))
/// let lenet = try net.build(phase: .test, inputShapes: ["data": [1, 28, 28]])
/// try lenet.loadWeights(from: URL(fileURLWithPath: "lenet_iter_10000.caffemodel"))
/// let logits = lenet.model(["data": pixels])[0]      // pixels 0–255, scaled as the Data layer says
/// ```
///
/// Layers: Input, Data (and ImageData, HDF5Data, MemoryData: their `data` top becomes a model
/// input of the shape given in `inputShapes`, less `transform_param`'s mean, times its scale), Convolution,
/// Pooling (MAX, AVE; Caffe's ceil rounding; global), InnerProduct, ReLU (with
/// `negative_slope`), Sigmoid, TanH, Dropout, Softmax, Concat, Eltwise (SUM, PROD), Flatten,
/// LRN (across channels), BatchNorm (+ the Scale layer after it, as one affine BatchNorm), with
/// Caffe's weight fillers;
/// SoftmaxWithLoss and Accuracy mark the model's outputs (their first bottom: the logits).
/// Any other layer type is an error naming every such layer.
public final class CaffeNet {
    /// The parsed network.
    public let proto: Caffe_NetParameter

    /// Parses a network in Caffe's text format. Throws `CaffeError` (`.malformed`) naming
    /// what did not parse (an unknown field or layer parameter is refused by name).
    public init(prototxt: String) throws {
        do {
            proto = try Caffe_NetParameter(textFormatString: prototxt)
        } catch {
            throw CaffeError(.malformed, "Caffe prototxt: \(error)")
        }
    }

    /// Reads and parses the `.prototxt` at `url`.
    public convenience init(contentsOf url: URL) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw CaffeError(.io, "\(url.path): cannot read the network") }
        do { try self.init(prototxt: text) } catch let error as CaffeError { throw CaffeError(error.kind, "\(url.lastPathComponent): \(error.message)") }
    }

    /// Whether `layer` belongs to the network in `phase` (its include / exclude rules).
    static func isIncluded(_ layer: Caffe_LayerParameter, in phase: Caffe_Phase) -> Bool {
        if layer.hasPhase && layer.phase != phase { return false }
        if !layer.include.isEmpty && !layer.include.contains(where: { !$0.hasPhase || $0.phase == phase }) { return false }
        return !layer.exclude.contains(where: { !$0.hasPhase || $0.phase == phase })
    }

    static let dataTypes: Set<String> = ["Data", "ImageData", "HDF5Data", "MemoryData", "DummyData"]
    static let supported: Set<String> = dataTypes.union(["Input", "Convolution", "Pooling", "InnerProduct", "ReLU", "Sigmoid", "TanH",
        "Dropout", "Softmax", "Concat", "Eltwise", "Flatten", "LRN", "BatchNorm", "Scale", "SoftmaxWithLoss", "Accuracy"])

    /// The network of `phase` as a functional model. `inputShapes` gives the per-example shape
    /// (no batch) of each data layer's `data` top (a Data layer's records are not described in the
    /// prototxt), and may override an Input layer's. Throws `CaffeError`: `.unsupported` naming
    /// every layer without a mapping (name and type), `.malformed` for wiring or shape errors
    /// (naming the layer).
    /// `parameterBudget` caps the network's weights (2²⁸ values unless given).
    public func build(phase: Caffe_Phase = .test, inputShapes: [String: [Int]] = [:], generator: RandomGenerator = .global,
                      parameterBudget: Int = 1 << 28) throws -> CaffeModel {
        let layers = proto.layer.filter { Self.isIncluded($0, in: phase) }
        let unsupported = layers.filter { !Self.supported.contains($0.type) }
        if !unsupported.isEmpty {
            throw CaffeError(.unsupported, "Caffe: \(unsupported.count) unsupported layer(s): " + unsupported.map { "'\($0.name)' (\($0.type))" }.joined(separator: ", "))
        }
        var builder = CaffeModelBuilder(inputShapes: inputShapes, generator: generator, parameterBudget: parameterBudget)
        for (k, name) in proto.input.enumerated() {   // legacy `input:` + `input_shape` / `input_dim`
            var dims = k < proto.inputShape.count ? proto.inputShape[k].dim.map(Int.init) : []
            if dims.isEmpty && proto.inputDim.count >= 4 * (k + 1) { dims = proto.inputDim[(4 * k)..<(4 * k + 4)].map(Int.init) }
            try builder.addInput(name, dims.isEmpty ? nil : Array(dims.dropFirst()), layer: "input")
        }
        var index = 0
        while index < layers.count {
            let layer = layers[index]
            // BatchNorm followed by a Scale on its output: one affine BatchNorm.
            let scale = layer.type == "BatchNorm" && index + 1 < layers.count && layers[index + 1].type == "Scale"
                && layers[index + 1].bottom == layer.top ? layers[index + 1] : nil
            do {
                try builder.add(layer, scale: scale)
            } catch let error as CaffeError {
                throw error
            } catch {
                throw CaffeError(.malformed, "Caffe layer '\(layer.name)' (\(layer.type)): \(error)")
            }
            index += scale == nil ? 1 : 2
        }
        return try builder.finish(name: proto.name.isEmpty ? "caffe" : proto.name)
    }
}

/// A Caffe network built as Apus layers: the functional `model` and each weighted layer by its
/// Caffe name (for `.caffemodel` weights).
public final class CaffeModel {
    /// The network as a functional model (inputs named by their Caffe tops).
    public let model: Model
    /// The Apus module of each Caffe layer that has weights (Convolution, InnerProduct, BatchNorm), by layer name.
    public let layers: [String: Module]
    /// The Caffe layer a Scale layer was merged into (Scale name → BatchNorm name).
    let mergedScales: [String: String]
    /// The model input that receives the labels in a training net (the Data layer's second top), if any.
    public let labelInput: String?

    init(model: Model, layers: [String: Module], mergedScales: [String: String], labelInput: String?) {
        (self.model, self.layers, self.mergedScales, self.labelInput) = (model, layers, mergedScales, labelInput)
    }

    /// Loads the weights of a `.caffemodel` (a binary `NetParameter`) into the layers of the same
    /// names; layers the file does not hold keep their values. Throws `CaffeError` for a file
    /// that does not parse, or blobs whose count or shape do not fit their layer.
    public func loadWeights(from url: URL) throws {
        guard let data = try? Data(contentsOf: url) else { throw CaffeError(.io, "\(url.path): cannot read the weights") }
        try loadWeights(caffemodel: data)
    }

    /// Loads the weights of `.caffemodel` bytes; see `loadWeights(from:)`.
    public func loadWeights(caffemodel data: Data) throws {
        let net: Caffe_NetParameter
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 32
            net = try Caffe_NetParameter(serializedBytes: data, options: options)
        } catch {
            throw CaffeError(.malformed, "caffemodel: not a Caffe NetParameter (\(error))")
        }
        for layer in net.layer where !layer.blobs.isEmpty {
            let target = mergedScales[layer.name] ?? layer.name
            guard let module = layers[target] else { continue }
            let blobs = try layer.blobs.enumerated().map { k, blob in try Self.tensor(blob, layer: layer.name, index: k) }
            try assign(blobs, to: module, layer: layer.name, isScale: mergedScales[layer.name] != nil)
        }
    }

    /// A blob's values with its shape (`shape.dim`, or the legacy num/channels/height/width).
    static func tensor(_ blob: Caffe_BlobProto, layer: String, index: Int) throws -> Tensor {
        var shape = blob.shape.dim.map(Int.init)
        if !blob.hasShape { shape = [blob.num, blob.channels, blob.height, blob.width].map(Int.init) }
        let values: [Double] = blob.data.isEmpty ? blob.doubleData : blob.data.map(Double.init)
        guard let count = checkedCount(shape), count == values.count else {
            throw CaffeError(.malformed, "caffemodel: blob \(index) of layer '\(layer)' has shape \(shape) but \(values.count) values")
        }
        return Tensor(shape: shape, scalars: values, dtype: .float32)
    }

    func assign(_ blobs: [Tensor], to module: Module, layer: String, isScale: Bool) throws {
        func fit(_ blob: Tensor, _ target: Tensor, _ what: String) throws -> Tensor {
            guard blob.count == target.count else {
                throw CaffeError(.malformed, "caffemodel: layer '\(layer)' \(what) has shape \(blob.shape), the network needs \(target.shape)")
            }
            return blob.reshaped(target.shape)
        }
        switch module {
        case let conv as Conv2d:
            conv.weight = try fit(blobs[0], conv.weight, "weights")
            if blobs.count > 1, let bias = conv.bias { conv.bias = try fit(blobs[1], bias, "bias") }
        case let linear as Linear:
            linear.weight = try fit(blobs[0], linear.weight, "weights")
            if blobs.count > 1, let bias = linear.bias { linear.bias = try fit(blobs[1], bias, "bias") }
        case let norm as BatchNorm where isScale:
            if let weight = norm.weight { norm.weight = try fit(blobs[0], weight, "scale") }
            if blobs.count > 1, let bias = norm.bias { norm.bias = try fit(blobs[1], bias, "bias") }
        case let norm as BatchNorm:
            guard blobs.count == 3, blobs[2].count == 1 else { throw CaffeError(.malformed, "caffemodel: BatchNorm '\(layer)' needs 3 blobs (mean, variance, factor)") }
            let factor = blobs[2].item(), inverse = factor == 0 ? 0 : 1 / factor
            norm.runningMean = try fit(blobs[0], norm.runningMean, "mean") * inverse
            norm.runningVar = try fit(blobs[1], norm.runningVar, "variance") * inverse
        default:
            throw CaffeError(.malformed, "caffemodel: layer '\(layer)' has weights but no weighted Apus layer")
        }
    }
}
