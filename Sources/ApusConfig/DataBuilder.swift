import Apus
import ApusData
import Foundation

/// The `data` section: a reader and its options → train and test data sets, the batch key the
/// loss compares with, and what the model needs to know (classes, vocabulary).
struct DataSection {
    var train: any Dataset
    var test: any Dataset
    let target: String
    let facts: DataFacts
    let vocabulary: Vocabulary?
    /// The name of each class, by id (easy-VQA's answers, the digits, CIFAR-10's classes).
    let classNames: [String]?
    let questionLength: Int?
    /// Where questions are padded (easy-vqa's `question_padding`); prediction encodes the same way.
    var questionPadding = Vocabulary.Padding.pre
    let imageSize: Int?
    /// What loading does with an unreadable example (`on_bad_example: stop | skip`).
    var onBadExample = BadExamplePolicy.stop
    /// The last `validation_split` of the training data, held out of training.
    var heldOut: (any Dataset)?
    /// What `val_` metrics are computed on: the held-out split, or the test split without one.
    var validation: any Dataset { heldOut ?? test }
    /// `normalize`: applied to every split's images and to images given to `apus predict`.
    var normalize: Normalize?

    static let readers = ["easy-vqa", "mnist", "cifar10", "text"]

    static let augmentations = ["random_crop", "center_crop", "horizontal_flip", "resize"]

    static func build(_ node: ConfigNode, relativeTo base: URL, seed: UInt64) throws -> DataSection {
        var section = try buildReader(node, relativeTo: base)
        let policy = try node.string("on_bad_example", default: BadExamplePolicy.stop.rawValue)
        guard let onBadExample = BadExamplePolicy(rawValue: policy) else {
            throw try node.node("on_bad_example").error("must be stop or skip, got '\(policy)'")
        }
        section.onBadExample = onBadExample
        if node.has("validation_split") {
            let fraction = try node.double("validation_split")
            guard fraction > 0 && fraction < 1 else { throw try node.node("validation_split").error("must be between 0 and 1, got \(fraction)") }
            let (train, heldOut) = Subset.split(section.train, validationFraction: fraction)
            guard train.count > 0 else { throw try node.node("validation_split").error("leaves no training example of \(section.train.count)") }
            (section.train, section.heldOut) = (train, heldOut)
        }
        try addImageTransforms(node, to: &section, seed: seed)
        return section
    }

    /// `normalize` (every split) and `augment` (training only, seeded by `seed`, the epoch and
    /// the example) on the examples' `image`.
    private static func addImageTransforms(_ node: ConfigNode, to section: inout DataSection, seed: UInt64) throws {
        if let n = node.optionalNode("normalize") {
            try n.checkKeys(["mean", "std"])
            let mean = try n.doubleList("mean"), std = try n.doubleList("std")
            guard mean.count == std.count, std.allSatisfy({ $0 > 0 }) else { throw n.error("needs as many means as stds, every std positive") }
            section.normalize = Normalize(mean: mean, std: std)
        }
        var augment: [any ImageTransform] = []
        if node.has("augment") {
            for step in try node.list("augment") {
                let type = try step.string("type")
                switch type {
                case "random_crop":
                    try step.checkKeys(["type", "size", "padding"])
                    let size = try step.int("size", minimum: 1)
                    augment.append(RandomCrop(height: size, width: size, padding: try step.int("padding", default: 0, minimum: 0)))
                case "center_crop":
                    try step.checkKeys(["type", "size"])
                    let size = try step.int("size", minimum: 1)
                    augment.append(CenterCrop(height: size, width: size))
                case "horizontal_flip":
                    try step.checkKeys(["type", "p"])
                    let p = try step.double("p", default: 0.5)
                    guard (0...1).contains(p) else { throw step.error("p must be between 0 and 1, got \(p)") }
                    augment.append(RandomHorizontalFlip(p: p))
                case "resize":
                    try step.checkKeys(["type", "size"])
                    augment.append(Resize(try step.int("size", minimum: 1)))
                default:
                    throw step.error("unknown augmentation '\(type)'" + (nearest(type, in: augmentations).map { " (did you mean '\($0)'?)" } ?? " (\(augmentations.joined(separator: ", ")))"))
                }
            }
        }
        let everywhere: [any ImageTransform] = section.normalize.map { [$0] } ?? []
        if !augment.isEmpty || !everywhere.isEmpty {
            section.train = TransformedDataset(section.train, transform: Compose(augment + everywhere), seed: seed)
        }
        if let normalize = section.normalize {
            section.test = TransformedDataset(section.test, transform: normalize, seed: seed)
            section.heldOut = section.heldOut.map { TransformedDataset($0, transform: normalize, seed: seed) }
        }
    }

    private static func buildReader(_ node: ConfigNode, relativeTo base: URL) throws -> DataSection {
        let reader = try node.string("reader")
        func path(_ key: String) throws -> URL {
            let text = try node.string(key)
            return text.hasPrefix("/") ? URL(fileURLWithPath: text) : base.appendingPathComponent(text)
        }
        do {
            switch reader {
            case "easy-vqa":
                try node.checkKeys(["reader", "on_bad_example", "validation_split", "augment", "normalize", "root", "image_size", "question_length", "question_padding"])
                let root = try path("root")
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder.boolValue else {
                    throw node.error("data folder \(root.path) is missing (run scripts/fetch-easy-vqa.sh)")
                }
                let length = try node.int("question_length", default: 12, minimum: 1)
                let paddingName = try node.string("question_padding", default: Vocabulary.Padding.pre.rawValue)
                guard let padding = Vocabulary.Padding(rawValue: paddingName) else {
                    throw try node.node("question_padding").error("must be pre or post, got '\(paddingName)'")
                }
                let size = node.has("image_size") ? try node.int("image_size", minimum: 1) : nil
                let train = try EasyVQA(root: root, split: "train", questionLength: length, padding: padding, imageSize: size)
                let test = try EasyVQA(root: root, split: "test", vocabulary: train.vocabulary, questionLength: length,
                                       padding: padding, imageSize: size)
                return DataSection(train: train, test: test, target: "answer",
                                   facts: DataFacts(classes: train.answers.count, vocabularySize: train.vocabulary.count),
                                   vocabulary: train.vocabulary, classNames: train.answers, questionLength: length,
                                   questionPadding: padding, imageSize: size)
            case "mnist":
                let digits = (0..<10).map(String.init)
                try node.checkKeys(["reader", "on_bad_example", "validation_split", "augment", "normalize", "train_images", "train_labels", "test_images", "test_labels"])
                let train = try MNIST(images: try path("train_images"), labels: try path("train_labels"))
                let test = try MNIST(images: try path("test_images"), labels: try path("test_labels"))
                return DataSection(train: train, test: test, target: "label", facts: DataFacts(classes: 10, vocabularySize: nil),
                                   vocabulary: nil, classNames: digits, questionLength: nil, imageSize: nil)
            case "cifar10":
                try node.checkKeys(["reader", "on_bad_example", "validation_split", "augment", "normalize", "train", "test"])
                let train = try CIFAR10(batches: (try node.stringList("train") ?? []).map { URL(fileURLWithPath: $0, relativeTo: base) })
                let test = try CIFAR10(batches: (try node.stringList("test") ?? []).map { URL(fileURLWithPath: $0, relativeTo: base) })
                return DataSection(train: train, test: test, target: "label", facts: DataFacts(classes: 10, vocabularySize: nil),
                                   vocabulary: nil, classNames: CIFAR10.classNames, questionLength: nil, imageSize: nil)
            case "text":
                try node.checkKeys(["reader", "on_bad_example", "validation_split", "augment", "normalize", "path", "sequence_length", "test_fraction"])
                let file = try path("path"), length = try node.int("sequence_length", default: 64, minimum: 1)
                let all = try TextCharacters(file: file, length: length)
                let fraction = try node.double("test_fraction", default: 0.1)
                guard fraction > 0 && fraction < 1 else { throw node.error("test_fraction must be between 0 and 1, got \(fraction)") }
                let testCount = Swift.max(1, Int(Double(all.totalWindows) * fraction))
                guard all.totalWindows > testCount else { throw node.error("\(file.path) is too short for a train and a test split") }
                let train = try TextCharacters(file: file, length: length, vocabulary: all.vocabulary, windows: 0..<(all.totalWindows - testCount))
                let test = try TextCharacters(file: file, length: length, vocabulary: all.vocabulary,
                                              windows: (all.totalWindows - testCount)..<all.totalWindows)
                return DataSection(train: train, test: test, target: "target",
                                   facts: DataFacts(classes: all.vocabulary.count, vocabularySize: all.vocabulary.count),
                                   vocabulary: all.vocabulary, classNames: nil, questionLength: length, imageSize: nil)
            default:
                throw node.error("unknown data reader '\(reader)'" + (nearest(reader, in: readers).map { " (did you mean '\($0)'?)" } ?? " (\(readers.joined(separator: ", ")))"))
            }
        } catch let error as DataError {
            throw node.error(error.description)
        }
    }
}
