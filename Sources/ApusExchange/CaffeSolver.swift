import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTrain
import Foundation
import SwiftProtobuf

/// A Caffe `solver.prototxt` run by Apus: the network it names (TRAIN phase to train, TEST
/// phase's data to test), SGD with Caffe's update (momentum, weight decay, per-blob `lr_mult`
/// and `decay_mult`), its learning-rate policy, `max_iter` iterations of `batch_size`
/// examples, a test every `test_interval` iterations over `test_iter` batches, and
/// `.caffemodel` snapshots every `snapshot` iterations (`<snapshot_prefix>_iter_<N>.caffemodel`).
///
/// Data layers read Apus's readers instead of LMDB: a layer's `source` is a folder holding
/// MNIST IDX files (names containing `images` and `labels`, gzipped or not) or CIFAR-10 binary
/// batches (`*.bin`). Caffe's Data layer sees raw bytes (0–255) and applies
/// `transform_param.scale`; so does this one (the readers' [0, 1] values are multiplied by 255).
public struct CaffeSolver {
    /// The parsed solver.
    public let proto: Caffe_SolverParameter
    /// The network file the solver names, resolved.
    public let netURL: URL

    /// Reads the solver at `url`; its `net` (or `train_net`) path is resolved against the current
    /// directory (as Caffe does), else against the solver's folder.
    public init(contentsOf url: URL) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw CaffeError(.io, "\(url.path): cannot read the solver") }
        do {
            proto = try Caffe_SolverParameter(textFormatString: text)
        } catch {
            throw CaffeError(.malformed, "\(url.lastPathComponent): \(error)")
        }
        let net = proto.hasNet ? proto.net : proto.trainNet
        guard !net.isEmpty else { throw CaffeError(.unsupported, "\(url.lastPathComponent): the solver names no net file (net: or train_net:)") }
        let here = URL(fileURLWithPath: net)
        netURL = FileManager.default.fileExists(atPath: here.path) ? here : url.deletingLastPathComponent().appendingPathComponent(net)
        try Self.check(proto, source: url.lastPathComponent)
    }

    static func check(_ p: Caffe_SolverParameter, source: String) throws {
        var problems: [String] = []
        if p.type != "SGD" { problems.append("type \"\(p.type)\" (only SGD)") }
        if !["fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid"].contains(p.lrPolicy) { problems.append("lr_policy \"\(p.lrPolicy)\"") }
        if p.iterSize != 1 { problems.append("iter_size \(p.iterSize)") }
        if p.regularizationType != "L2" { problems.append("regularization_type \(p.regularizationType)") }
        if p.maxIter <= 0 { problems.append("max_iter \(p.maxIter) (must be positive)") }
        if !problems.isEmpty { throw CaffeError(.unsupported, "\(source): unsupported solver settings: \(problems.joined(separator: ", "))") }
    }

    /// Caffe's learning rate at `iteration` for the solver's `lr_policy`.
    public func learningRate(at iteration: Int) -> Double {
        let p = proto, base = Double(p.baseLr), gamma = Double(p.gamma), power = Double(p.power), it = Double(iteration)
        switch p.lrPolicy {
        case "step": return base * Foundation.pow(gamma, Double(iteration / Swift.max(Int(p.stepsize), 1)))
        case "exp": return base * Foundation.pow(gamma, it)
        case "inv": return base * Foundation.pow(1 + gamma * it, -power)
        case "multistep": return base * Foundation.pow(gamma, Double(p.stepvalue.filter { Int($0) <= iteration }.count))
        case "poly": return base * Foundation.pow(1 - it / Double(p.maxIter), power)
        case "sigmoid": return base / (1 + Foundation.exp(-gamma * (it - Double(p.stepsize))))
        default: return base
        }
    }

    /// The data set a Data layer's `source` folder holds (MNIST IDX or CIFAR-10 binary).
    static func dataset(_ layer: Caffe_LayerParameter) throws -> any Dataset {
        let folder = URL(fileURLWithPath: layer.dataParam.source)
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() else {
            throw CaffeError(.io, "Caffe layer '\(layer.name)': source \(folder.path) is not a folder of MNIST IDX or CIFAR-10 binary files")
        }
        if let images = files.first(where: { $0.contains("images") }), let labels = files.first(where: { $0.contains("labels") }) {
            return try MNIST(images: folder.appendingPathComponent(images), labels: folder.appendingPathComponent(labels))
        }
        let batches = files.filter { $0.hasSuffix(".bin") || $0.hasSuffix(".bin.gz") }
        guard !batches.isEmpty else {
            throw CaffeError(.io, "Caffe layer '\(layer.name)': \(folder.path) holds no MNIST IDX (…images…, …labels…) or CIFAR-10 (*.bin) files")
        }
        return try CIFAR10(batches: batches.map { folder.appendingPathComponent($0) })
    }

    /// The batch of `size` examples starting at `start` (wrapping, as Caffe's Data layer does):
    /// images scaled to raw bytes (0–255), labels.
    static func batch(_ data: any Dataset, from start: Int, size: Int) throws -> (Tensor, Tensor) {
        var images: [Tensor] = [], labels: [Tensor] = []
        for k in 0..<size {
            let example = try data.example((start + k) % data.count)
            guard let image = example["image"], let label = example["label"] else { throw CaffeError(.malformed, "a data example has no image or label") }
            images.append(image)
            labels.append(label)
        }
        return (Tensor.stack(images, axis: 0) * 255, Tensor.stack(labels, axis: 0))
    }

    /// The result of a run: the last test's accuracy and loss, the snapshots written.
    public struct Outcome {
        /// Accuracy and mean loss of the last test pass.
        public let accuracy: Double, loss: Double
        /// The `.caffemodel` files written.
        public let snapshots: [URL]
    }

    /// Trains the network as Caffe would; `log` receives Caffe-style progress lines.
    public func train(log: (String) -> Void = { print($0) }) throws -> Outcome {
        let net = try CaffeNet(contentsOf: netURL)
        let p = proto
        func dataLayer(_ phase: Caffe_Phase) throws -> Caffe_LayerParameter {
            guard let layer = net.proto.layer.first(where: { CaffeNet.dataTypes.contains($0.type) && CaffeNet.isIncluded($0, in: phase) }),
                  layer.type == "Data", layer.top.count == 2 else {
                throw CaffeError(.unsupported, "\(netURL.lastPathComponent): the \(phase == .train ? "TRAIN" : "TEST") phase needs a Data layer with tops data and label")
            }
            return layer
        }
        let trainLayer = try dataLayer(.train), testLayer = try dataLayer(.test)
        let trainData = try Self.dataset(trainLayer), testData = try Self.dataset(testLayer)
        guard trainData.count > 0, testData.count > 0 else { throw CaffeError(.malformed, "a data source is empty") }
        let shape = try trainData.example(0)["image"]?.shape ?? []
        let dataTop = trainLayer.top[0]
        let built = try net.build(phase: .train, inputShapes: [dataTop: shape], generator: RandomGenerator(seed: p.randomSeed >= 0 ? UInt64(p.randomSeed) : 0))
        let model = built.model
        guard model.outputs.count == 1 else { throw CaffeError(.unsupported, "\(netURL.lastPathComponent): training needs exactly one SoftmaxWithLoss") }
        // Each parameter with Caffe's lr_mult and decay_mult for its blob.
        var specs: [(Parameter, lr: Double, decay: Double)] = []
        for layer in net.proto.layer where CaffeNet.isIncluded(layer, in: .train) {
            guard let module = built.layers[layer.name] else { continue }
            let blobs: [Parameter?]
            switch module {
            case let conv as Conv2d: blobs = [conv.$weight, conv.$bias]
            case let linear as Linear: blobs = [linear.$weight, linear.$bias]
            case let norm as BatchNorm: blobs = [norm.$weight, norm.$bias]
            default: blobs = []
            }
            for (k, parameter) in blobs.enumerated() {
                guard let parameter else { continue }
                let spec = k < layer.param.count ? layer.param[k] : Caffe_ParamSpec()
                specs.append((parameter, Double(spec.lrMult), Double(spec.decayMult)))
            }
        }
        let optimizer = SGD(parameters: specs.map(\.0), learningRate: learningRate(at: 0), momentum: Double(p.momentum))
        let trainBatch = Int(trainLayer.dataParam.batchSize), testBatch = Int(testLayer.dataParam.batchSize)
        guard trainBatch > 0, testBatch > 0 else { throw CaffeError(.malformed, "data_param.batch_size must be positive") }
        let testIterations = Int(p.testIter.first ?? 0)
        var snapshots: [URL] = [], last = (accuracy: Double.nan, loss: Double.nan), position = 0

        func test(_ iteration: Int) throws {
            guard testIterations > 0 else { return }
            model.eval()
            defer { model.train() }
            var correct = 0.0, total = 0.0, lossSum = 0.0
            try withoutGrad {
                for k in 0..<testIterations {
                    let (x, y) = try Self.batch(testData, from: k * testBatch, size: testBatch)
                    let logits = try Tensor.checking { model([dataTop: x])[0] }
                    let predicted = logits.argmax(axis: 1).scalars(as: Int64.self), labels = y.scalars(as: Int64.self)
                    correct += Double(zip(predicted, labels).filter { $0 == $1 }.count)
                    total += Double(labels.count)
                    lossSum += try Tensor.checking { crossEntropy(logits: logits, labels: y) }.item()
                }
            }
            last = (correct / total, lossSum / Double(testIterations))
            log("Iteration \(iteration), Testing net: accuracy = \(last.accuracy), loss = \(last.loss)")
        }
        func snapshot(_ iteration: Int) throws {
            let prefix = p.snapshotPrefix.isEmpty ? netURL.deletingPathExtension().path : p.snapshotPrefix
            let url = URL(fileURLWithPath: "\(prefix)_iter_\(iteration).caffemodel")
            do { try AtomicFile.write(try built.caffemodelData(name: net.proto.name), to: url) } catch { throw CaffeError(.io, "snapshot: \(error)") }
            snapshots.append(url)
            log("Snapshotting to binary proto file \(url.path)")
        }

        if p.snapshotFormat == .hdf5 && (p.snapshot > 0 || p.snapshotAfterTrain) {
            log("snapshot_format HDF5: Apus writes binary proto (.caffemodel) snapshots instead")
        }
        model.train()
        for iteration in 0..<Int(p.maxIter) {
            if p.testInterval > 0 && iteration % Int(p.testInterval) == 0 && (iteration > 0 || p.testInitialization) { try test(iteration) }
            let (x, y) = try Self.batch(trainData, from: position, size: trainBatch)
            position = (position + trainBatch) % trainData.count
            model.zeroGrad()
            let loss = try Tensor.checking { crossEntropy(logits: model([dataTop: x])[0], labels: y) }
            guard loss.item().isFinite else { throw CaffeError(.malformed, "iteration \(iteration): the loss is \(loss.item())") }
            loss.backward()
            // Caffe's update: v = momentum·v + lr·lr_mult·(∇ + weight_decay·decay_mult·w), w −= v.
            withoutGrad {
                for (parameter, lrMult, decayMult) in specs {
                    guard let g = parameter.grad else { continue }
                    let decay = Double(p.weightDecay) * decayMult
                    parameter.grad = (decay == 0 ? g : g + parameter.value * decay) * lrMult
                }
            }
            optimizer.learningRate = learningRate(at: iteration)
            optimizer.step()
            if p.display > 0 && iteration % Int(p.display) == 0 {
                log("Iteration \(iteration), loss = \(loss.item()), lr = \(learningRate(at: iteration))")
            }
            if p.snapshot > 0 && (iteration + 1) % Int(p.snapshot) == 0 { try snapshot(iteration + 1) }
        }
        try test(Int(p.maxIter))
        if p.snapshotAfterTrain && (p.snapshot <= 0 || Int(p.maxIter) % Int(p.snapshot) != 0) { try snapshot(Int(p.maxIter)) }
        return Outcome(accuracy: last.accuracy, loss: last.loss, snapshots: snapshots)
    }
}

extension CaffeModel {
    /// The network's weights as `.caffemodel` bytes (a binary `NetParameter` named `name`):
    /// each Convolution and InnerProduct layer's weights and bias, each BatchNorm's mean,
    /// variance and a factor of 1, and the merged Scale layers' scale and bias.
    public func caffemodelData(name: String) throws -> Data {
        var net = Caffe_NetParameter()
        net.name = name
        func blob(_ t: Tensor) -> Caffe_BlobProto {
            var b = Caffe_BlobProto()
            b.shape.dim = t.shape.map(Int64.init)
            b.data = t.scalars(as: Float.self)
            return b
        }
        func layer(_ name: String, _ type: String, _ tensors: [Tensor]) -> Caffe_LayerParameter {
            var l = Caffe_LayerParameter()
            (l.name, l.type, l.blobs) = (name, type, tensors.map(blob))
            return l
        }
        let scales = Dictionary(mergedScales.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        for (name, module) in layers.sorted(by: { $0.key < $1.key }) {
            switch module {
            case let conv as Conv2d: net.layer.append(layer(name, "Convolution", [conv.weight] + (conv.bias.map { [$0] } ?? [])))
            case let linear as Linear: net.layer.append(layer(name, "InnerProduct", [linear.weight] + (linear.bias.map { [$0] } ?? [])))
            case let norm as BatchNorm:
                net.layer.append(layer(name, "BatchNorm", [norm.runningMean, norm.runningVar, Tensor.ones([1])]))
                if let scale = scales[name], let w = norm.weight, let b = norm.bias { net.layer.append(layer(scale, "Scale", [w, b])) }
            default: continue
            }
        }
        do { return try net.serializedData() } catch { throw CaffeError(.io, "caffemodel: \(error)") }
    }
}
