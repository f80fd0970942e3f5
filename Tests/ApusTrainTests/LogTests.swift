import Apus
import ApusData
import ApusNN
import ApusOptimizers
import ApusTestSupport
@testable import ApusTrain
import Foundation
import Testing

@Suite struct LogTests {
    /// The records TensorBoard itself wrote (scripts/fixtures/tensorboard_fixture.py) for a
    /// file-version event and three scalars; Apus must write the same bytes.
    @Test func tensorBoardRecordsMatchTensorBoardsOwn() throws {
        let expected = try Data(contentsOf: Fixtures.path("ApusTrainTests", "tensorboard.events"))
        var ours = TensorBoardWriter.record(TensorBoardWriter.fileVersionEvent(wallTime: 1_700_000_000))
        ours += TensorBoardWriter.record(TensorBoardWriter.scalarEvent("loss", 0.75, step: 1, wallTime: 1_700_000_001.5))
        ours += TensorBoardWriter.record(TensorBoardWriter.scalarEvent("accuracy", 0.5, step: 1, wallTime: 1_700_000_001.5))
        ours += TensorBoardWriter.record(TensorBoardWriter.scalarEvent("loss", 0.25, step: 2, wallTime: 1_700_000_002.25))
        #expect(ours == expected)
        #expect(TensorBoardWriter.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        // Framing of the fixture checked independently: every record's two checksums hold.
        var offset = 0
        let bytes = [UInt8](expected)
        while offset < bytes.count {
            let lengthBytes = Array(bytes[offset..<(offset + 8)])
            let length = Int(lengthBytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
            let headerCRC = bytes[(offset + 8)..<(offset + 12)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            #expect(headerCRC == TensorBoardWriter.maskedCRC(lengthBytes))
            let data = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            let dataCRC = bytes[(offset + 12 + length)..<(offset + 16 + length)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            #expect(dataCRC == TensorBoardWriter.maskedCRC(data))
            offset += length + 16
        }
        #expect(offset == bytes.count)
    }

    @Test func loggersWriteFilesAndThePlotIsWellFormed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let model = try classifier(2)
        let trainer = Trainer(model, optimizer: Adam(parameters: model.parameters(), learningRate: 0.05), loss: .crossEntropy,
                              metrics: [Accuracy()], target: "label")
        trainer.verbose = false
        let csv = folder.appendingPathComponent("log.csv")
        let board = TensorBoard(directory: folder.appendingPathComponent("tb"), updateFrequency: 2)
        try trainer.fit(DataLoader(blobs(32, seed: 1), batchSize: 8, workers: 0), validation: DataLoader(blobs(16, seed: 2), batchSize: 8, workers: 0),
                        epochs: 3, callbacks: [CSVLogger(url: csv), board])
        let text = try String(contentsOf: csv, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "epoch,accuracy,loss,val_accuracy,val_loss" && lines.count == 4)
        #expect(lines[3].hasPrefix("3,"))
        let events = try Data(contentsOf: board.writer!.url)
        #expect(events.count > 40 * 7)   // version + 6 batch losses + 12 epoch values
        let svg = SVGDocument(try TrainingCurves.svg(csv: text))
        #expect(svg.series == ["panel-loss": ["loss", "val_loss"], "panel-accuracy": ["accuracy", "val_accuracy"]])
        #expect(throws: TrainingError.self) { try TrainingCurves.svg(csv: "loss\n1\n") }
    }
}
