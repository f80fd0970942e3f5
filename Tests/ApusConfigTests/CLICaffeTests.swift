import Foundation
import Testing

/// `apus train lenet_solver.prototxt`: Caffe's LeNet files, run on MNIST-format data in the
/// folders their Data layers name.
@Suite(.serialized) struct CLICaffeTests {
    /// An MNIST IDX pair of `count` 28×28 images whose class is where a bright block sits.
    static func idx(count: Int, seed: UInt64) -> (images: Data, labels: Data) {
        func header(_ values: [UInt32]) -> Data { Data(values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }) }
        var images = header([0x803, UInt32(count), 28, 28]), labels = header([0x801, UInt32(count)])
        var state = seed
        func noise() -> UInt8 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 59) * 4
        }
        for n in 0..<count {
            let label = n % 10, (top, left) = (2 + (label / 5) * 13, 2 + (label % 5) * 5)
            for r in 0..<28 { for c in 0..<28 { images.append((top..<(top + 10)).contains(r) && (left..<(left + 4)).contains(c) ? 230 : noise()) } }
            labels.append(UInt8(label))
        }
        return (images, labels)
    }

    /// Copies Caffe's example `net` and `solver` files from the fixtures into `folder`, the
    /// solver with each (from, to) replaced (a shorter run); the net file unchanged.
    static func installExample(net: String, solver: String, into folder: URL, replacing: [(String, String)]) throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ApusExchangeTests/Fixtures/caffe")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent(net), to: folder.appendingPathComponent(net))
        var text = try String(contentsOf: fixtures.appendingPathComponent(solver), encoding: .utf8)
        for (from, to) in replacing { text = text.replacingOccurrences(of: from, with: to) }
        try text.write(to: folder.appendingPathComponent(solver), atomically: true, encoding: .utf8)
    }

    @Test func trainsCaffesLeNetFilesUnchangedButForTheirLength() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-caffe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let mnist = folder.appendingPathComponent("examples/mnist")
        for (split, count, seed) in [("train", 200, UInt64(1)), ("test", 100, UInt64(2))] {
            let source = mnist.appendingPathComponent("mnist_\(split)_lmdb")
            try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
            let (images, labels) = Self.idx(count: count, seed: seed)
            try images.write(to: source.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try labels.write(to: source.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        // Caffe's solver with a shorter run (10,000 iterations of 64 would take hours here).
        try Self.installExample(net: "lenet_train_test.prototxt", solver: "lenet_solver.prototxt", into: mnist,
                                replacing: [("test_iter: 100", "test_iter: 1"), ("test_interval: 500", "test_interval: 40"),
                                            ("display: 100", "display: 20"), ("max_iter: 10000", "max_iter: 80"), ("snapshot: 5000", "snapshot: 40")])

        let run = try apus(["train", "examples/mnist/lenet_solver.prototxt"], in: folder)
        #expect(run.status == 0, "\(run.error)")
        print(run.output)
        #expect(run.output.contains("Iteration 0, Testing net: accuracy") && run.output.contains("Iteration 80, Testing net: accuracy"))
        let accuracy = try #require(run.output.split(separator: "\n").last.flatMap { line in
            line.split(separator: " ").dropFirst(2).first.flatMap { Double($0) } })
        #expect(accuracy > 50, "\(run.output)")
        for iteration in [40, 80] {
            #expect(FileManager.default.fileExists(atPath: mnist.appendingPathComponent("lenet_iter_\(iteration).caffemodel").path))
        }
        // A solver setting Apus does not have: one line, exit 3.
        let solver = try String(contentsOf: mnist.appendingPathComponent("lenet_solver.prototxt"), encoding: .utf8)
        try solver.replacingOccurrences(of: "lr_policy: \"inv\"", with: "lr_policy: \"triangular\"")
            .write(to: mnist.appendingPathComponent("odd_solver.prototxt"), atomically: true, encoding: .utf8)
        let odd = try apus(["train", "examples/mnist/odd_solver.prototxt"], in: folder)
        #expect(odd.status == 3 && odd.error.split(separator: "\n").count == 1 && odd.error.contains("lr_policy \"triangular\""), "\(odd.error)")
    }

    @Test func trainsCaffesCIFAR10QuickFilesWithAMeanFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-caffe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cifar = folder.appendingPathComponent("examples/cifar10")
        var state: UInt64 = 5
        for (split, count) in [("train", 200), ("test", 100)] {
            let source = cifar.appendingPathComponent("cifar10_\(split)_lmdb")
            try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
            var records = Data()
            for n in 0..<count {   // CIFAR-10 binary records: label, then R, G, B planes; the class sets the colour
                let label = n % 10
                records.append(UInt8(label))
                for plane in 0..<3 {
                    for _ in 0..<1024 {
                        state = state &* 6364136223846793005 &+ 1442695040888963407
                        records.append(UInt8(truncatingIfNeeded: (label * 25 + plane * 60) % 256) &+ UInt8(truncatingIfNeeded: state >> 60))
                    }
                }
            }
            try records.write(to: source.appendingPathComponent("data_batch_1.bin"))
        }
        // mean.binaryproto as Caffe's compute_image_mean writes it: a BlobProto with num, channels,
        // height, width (fields 1–4) and the packed float data (field 5), encoded by hand.
        func varint(_ v: Int) -> [UInt8] {
            var v = v, bytes: [UInt8] = []
            repeat { bytes.append(UInt8(v & 0x7f) | (v > 0x7f ? 0x80 : 0)); v >>= 7 } while v > 0
            return bytes
        }
        var mean = Data([8, 1, 16, 3, 24, 32, 32, 32] + [42] + varint(3072 * 4))
        for _ in 0..<3072 { withUnsafeBytes(of: Float(128).bitPattern.littleEndian) { mean.append(contentsOf: $0) } }
        try mean.write(to: cifar.appendingPathComponent("mean.binaryproto"))
        try Self.installExample(net: "cifar10_quick_train_test.prototxt", solver: "cifar10_quick_solver.prototxt", into: cifar,
                                replacing: [("test_iter: 100", "test_iter: 1"), ("test_interval: 500", "test_interval: 10"),
                                            ("display: 100", "display: 5"), ("max_iter: 4000", "max_iter: 20"), ("snapshot: 4000", "snapshot: 20")])
        let run = try apus(["train", "examples/cifar10/cifar10_quick_solver.prototxt"], in: folder)
        #expect(run.status == 0, "\(run.error)")
        print(run.output)
        #expect(run.output.contains("snapshot_format HDF5") && run.output.contains("Iteration 20, Testing net: accuracy"))
        #expect(run.output.contains("test accuracy: "))
        #expect(FileManager.default.fileExists(atPath: cifar.appendingPathComponent("cifar10_quick_iter_20.caffemodel").path))
    }
}
