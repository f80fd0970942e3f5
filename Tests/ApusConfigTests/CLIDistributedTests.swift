import Apus
import ApusNN
import ApusTestSupport
import Foundation
import Testing

/// The tensors of a safetensors file, as exact Float arrays.
private func weights(_ url: URL) throws -> [String: [Float]] {
    try SafeTensors.read(from: url).tensors.mapValues { $0.scalars(as: Float.self) }
}

/// `mpirun -np 2 apus train` on the tiny easy-VQA workspace: the config unchanged, batch 2 per
/// process.
@Suite(.serialized, .enabled(if: mpirun != nil, "mpirun is missing (scripts/install-system-deps.sh installs openmpi-bin): apus under mpirun did NOT run"))
struct CLIDistributedTests {
    /// Two processes with batch 2 train as one with batch 4 (weights within 1e-5, the same epoch
    /// logs); rank 0 alone prints and writes.
    @Test func twoProcessesTrainLikeOneWithTwiceTheBatch() throws {
        let pair = try workspace(), single = try workspace()
        let two = try apus(["train", "vqa.yaml"], in: pair, ranks: 2)
        #expect(two.status == 0, "\(two.output)\n\(two.error)")
        #expect(two.output.components(separatedBy: "test accuracy").count == 2, "not printed once: \(two.output)")
        #expect(two.output.components(separatedBy: " - val_loss: ").count == 3, "not one line per epoch: \(two.output)")
        let one = try apus(["train", "vqa.yaml", "--batch-size", "4"], in: single)
        #expect(one.status == 0, "\(one.error)")
        let a = try weights(pair.appendingPathComponent("run/epoch-2-model.safetensors"))
        let b = try weights(single.appendingPathComponent("run/epoch-2-model.safetensors"))
        #expect(a.keys.sorted() == b.keys.sorted())
        for (name, values) in a {
            let gap = zip(values, b[name]!).map { Swift.abs($0 - $1) }.max() ?? 0
            #expect(gap < 1e-5, "\(name): \(gap)")
        }
        let logs = try [pair, single].map { try String(contentsOf: $0.appendingPathComponent("run/log.csv"), encoding: .utf8).split(separator: "\n") }
        #expect(logs[0][0] == logs[1][0] && logs[0].count == 3)
        for (x, y) in zip(logs[0].dropFirst(), logs[1].dropFirst()) {
            for (u, v) in zip(x.split(separator: ","), y.split(separator: ",")) { #expect(Swift.abs(Double(u)! - Double(v)!) < 1e-5, "\(x) against \(y)") }
        }
    }

    /// A checkpoint of a 2-process run resumes on 2 processes with the weights, optimizer state
    /// and logs of a run never stopped; on another number of processes it is refused.
    @Test func aTwoProcessCheckpointResumesExactly() throws {
        let whole = try workspace(), stopped = try workspace()
        #expect(try apus(["train", "vqa.yaml"], in: whole, ranks: 2).status == 0)
        let first = try apus(["train", "vqa.yaml", "--epochs", "1"], in: stopped, ranks: 2)
        #expect(first.status == 0, "\(first.error)")
        let elsewhere = try apus(["resume", "vqa.yaml"], in: stopped)
        #expect(elsewhere.status == 4 && elsewhere.error.contains("the run trained on 2 processes, this is 1"), "\(elsewhere.error)")
        let resumed = try apus(["resume", "vqa.yaml"], in: stopped, ranks: 2)
        #expect(resumed.status == 0, "\(resumed.output)\n\(resumed.error)")
        for file in ["run/epoch-2-model.safetensors", "run/epoch-2-optimizer.safetensors"] {
            #expect(try weights(stopped.appendingPathComponent(file)) == weights(whole.appendingPathComponent(file)), "\(file)")
        }
        for file in ["run/log.csv", "run/steps.csv"] {
            #expect(try String(contentsOf: stopped.appendingPathComponent(file), encoding: .utf8)
                    == String(contentsOf: whole.appendingPathComponent(file), encoding: .utf8), "\(file)")
        }
    }

    /// A configuration error under mpirun: rank 0's one line, a non-zero exit, no hang.
    @Test func aConfigurationErrorEndsTheJob() throws {
        let folder = try workspace()
        try validConfig.replacingOccurrences(of: "out_features: classes", with: "out_features: 2")
            .write(to: folder.appendingPathComponent("vqa.yaml"), atomically: true, encoding: .utf8)
        let run = try apus(["train", "vqa.yaml"], in: folder, ranks: 2)
        #expect(run.status != 0)
        #expect(run.error.hasPrefix("apus: vqa.yaml: model: layer 'answer' gives 2 classes"), "\(run.error)")
    }
}
