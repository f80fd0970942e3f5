import Apus
import ApusData
import ApusTestSupport
import Foundation
import Testing

/// Writes an easy-VQA layout with two images and three questions under a new folder.
func makeEasyVQA(questions: String? = nil, answers: String = "circle\nred\nyes\nno\n", skipImage: Bool = false) throws -> URL {
    let root = temporaryFolder()
    try answers.write(to: root.appendingPathComponent("answers.txt"), atomically: true, encoding: .utf8)
    let images = root.appendingPathComponent("train/images")
    try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
    let json = questions ?? #"[["What shape is in the image?", "circle", 0], ["What color is the circle?", "red", 1], ["Is there a circle?", "yes", 0]]"#
    try json.write(to: root.appendingPathComponent("train/questions.json"), atomically: true, encoding: .utf8)
    try pattern(width: 8, height: 8, channels: 3).pngData().write(to: images.appendingPathComponent("0.png"))
    if !skipImage { try pattern(width: 8, height: 8, channels: 4).pngData().write(to: images.appendingPathComponent("1.png")) }
    return root
}

func expectDataError(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a DataError containing '\(fragment)'", sourceLocation: sourceLocation)
    } catch let error as DataError {
        #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ReaderTests {
    @Test func easyVQA() throws {
        let root = try makeEasyVQA()
        let data = try EasyVQA(root: root, split: "train", questionLength: 6, imageSize: 4)
        #expect(data.count == 3 && data.answers == ["circle", "red", "yes", "no"])
        let e = try data.example(1)
        #expect(e["image"]!.shape == [3, 4, 4])
        #expect(e["answer"]!.item() == 1)
        let ids = e["question"]!.scalars(as: Int.self)
        #expect(ids.first == Vocabulary.paddingID && ids.last != Vocabulary.paddingID, "padded before the words by default")
        #expect(data.vocabulary.decode(ids) == ["what", "color", "is", "the", "circle"])
        let postPadded = try EasyVQA(root: root, split: "train", questionLength: 6, padding: .post).example(1)["question"]!
        #expect(postPadded.scalars(as: Int.self) == Array(ids.dropFirst()) + [Vocabulary.paddingID])
        let full = try EasyVQA(root: root, split: "train", vocabulary: data.vocabulary)
        expectClose(try full.example(0)["image"]!, pattern(width: 8, height: 8, channels: 3).tensor().scalars(as: Double.self), tolerance: 1e-6)
        let batch = try DataLoader(full, batchSize: 3, workers: 0).epoch(0).next()!
        #expect(batch["image"]!.shape == [3, 3, 8, 8] && batch["question"]!.shape == [3, 12] && batch["answer"]!.shape == [3])
    }

    @Test func easyVQAErrorsNameTheFile() throws {
        expectDataError("questions.json: malformed") { _ = try EasyVQA(root: try makeEasyVQA(questions: "{not json"), split: "train") }
        expectDataError("answer 'blue' is not in answers.txt") {
            _ = try EasyVQA(root: try makeEasyVQA(questions: #"[["What color?", "blue", 0]]"#), split: "train")
        }
        expectDataError("1.png: image is missing") { _ = try EasyVQA(root: try makeEasyVQA(skipImage: true), split: "train") }
        expectDataError("answers.txt: missing") { _ = try EasyVQA(root: temporaryFolder(), split: "train") }
        let corrupt = try makeEasyVQA()
        try Data("garbage".utf8).write(to: corrupt.appendingPathComponent("train/images/1.png"))
        let data = try EasyVQA(root: corrupt, split: "train")
        expectDataError("1.png: not a PNG or JPEG") { _ = try data.example(1) }
    }

    @Test func daquar() throws {
        let root = temporaryFolder()
        try pattern(width: 6, height: 4, channels: 3).pngData().write(to: root.appendingPathComponent("image12.png"))
        try pattern(width: 6, height: 4, channels: 3).pngData().write(to: root.appendingPathComponent("image7.png"))
        let text = "what is on the table in the image12 ?\nlamp, book\nhow many chairs are in the image7 ?\n2\nwhat is left of the tape_dispenser in the image12 ?\nlamp\n"
        let file = root.appendingPathComponent("qa.txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let data = try DAQUAR(questionsFile: file, imageFolder: root, questionLength: 10)
        #expect(data.count == 3 && data.answers == ["2", "lamp"])
        #expect(data.questions[1].imageID == "7" && data.allAnswers[0] == ["lamp", "book"])
        let e = try data.example(0)
        #expect(e["image"]!.shape == [3, 4, 6] && e["answer"]!.item() == 1)
        try "what is this in the image99 ?\nlamp\n".write(to: file, atomically: true, encoding: .utf8)
        expectDataError("image99.png: image is missing") { _ = try DAQUAR(questionsFile: file, imageFolder: root) }
        try "what is this in the image12 ?\nsofa\n".write(to: file, atomically: true, encoding: .utf8)
        expectDataError("answer 'sofa' is not among the known answers") { _ = try DAQUAR(questionsFile: file, imageFolder: root, answers: ["lamp"]) }
    }

    @Test func mnistIDXPlainAndGzipped() throws {
        let root = temporaryFolder()
        var images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]
        images += [0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255]
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 2, 7, 3]
        try Data(images).write(to: root.appendingPathComponent("images-idx3-ubyte"))
        try Data(labels).write(to: root.appendingPathComponent("labels-idx1-ubyte"))
        let plain = try MNIST(images: root.appendingPathComponent("images-idx3-ubyte"), labels: root.appendingPathComponent("labels-idx1-ubyte"))
        #expect(plain.count == 2 && plain.rows == 2 && plain.columns == 3)
        expectClose(try plain.example(0)["image"]!, [0, 0.2, 0.4, 0.6, 0.8, 1], tolerance: 1e-6)
        #expect(try plain.example(1)["label"]!.item() == 3)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", root.appendingPathComponent("images-idx3-ubyte").path, root.appendingPathComponent("labels-idx1-ubyte").path]
        try gzip.run()
        gzip.waitUntilExit()
        let zipped = try MNIST(images: root.appendingPathComponent("images-idx3-ubyte.gz"), labels: root.appendingPathComponent("labels-idx1-ubyte.gz"))
        #expect(zipped.images == plain.images && zipped.labels == plain.labels)
        let truncated = try Data(contentsOf: root.appendingPathComponent("images-idx3-ubyte.gz"))
        try truncated.prefix(truncated.count - 12).write(to: root.appendingPathComponent("bad.gz"))
        expectDataError("bad.gz: cannot decompress") { _ = try MNIST(images: root.appendingPathComponent("bad.gz"), labels: root.appendingPathComponent("labels-idx1-ubyte")) }
        expectDataError("not an IDX image file") { _ = try MNIST(images: root.appendingPathComponent("labels-idx1-ubyte"), labels: root.appendingPathComponent("labels-idx1-ubyte")) }
    }

    /// IDX sizes whose product overflows are an error (fuzzing found rows × columns trapping).
    @Test func mnistHeaderWithOverflowingSizesIsRefused() {
        let images = Data([0, 0, 8, 3, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 7])
        let labels = Data([0, 0, 8, 1, 0, 0, 0, 1, 3])
        expectDataError("images.idx: holds 1 pixel bytes, header promises 1×4294967295×4294967295") {
            _ = try MNIST(imageData: images, labelData: labels, imagesSource: "images.idx", labelsSource: "labels.idx")
        }
    }

    @Test func cifar10() throws {
        let root = temporaryFolder()
        var record = [UInt8](repeating: 0, count: 3073)
        record[0] = 9
        record[1] = 255          // red plane, first pixel
        record[1 + 1024] = 51    // green plane
        record[1 + 2048 + 1023] = 102
        try Data(record + record).write(to: root.appendingPathComponent("data_batch_1.bin"))
        let data = try CIFAR10(batches: [root.appendingPathComponent("data_batch_1.bin")])
        #expect(data.count == 2)
        let e = try data.example(1)
        #expect(e["label"]!.item() == 9 && e["image"]!.shape == [3, 32, 32])
        let values = e["image"]!.scalars(as: Float.self)
        #expect(values[0] == 1 && abs(values[1024] - 0.2) < 1e-6 && abs(values[3071] - 0.4) < 1e-6)
        try Data(record.prefix(100)).write(to: root.appendingPathComponent("short.bin"))
        expectDataError("not a multiple of the 3073-byte") { _ = try CIFAR10(batches: [root.appendingPathComponent("short.bin")]) }
    }
}
