// apus-bench: performance figures of Apus on this machine, printed next to peer figures
// measured in the same run (see Benchmarks/README.md).
//
//   apus-bench core|nn|data|vqa|pooled-backward [--peers peers.json] [--output results.md]
//   apus-bench vqa-parity --start DIR [--data data/easy-vqa]   (see VQAParity)
//   apus-bench breadth --workload resnet18|transformer|mlp|lstm --mode eager|graph [--iterations N] [--json out.json]
//   apus-bench conv-shapes   (ResNet-18's and the VQA model's convolutions one by one, GFLOP/s)
import Apus
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let suites: [String: ([String: Any]) -> String] = ["core": CoreBenchmark.run, "nn": NNBenchmark.run, "data": DataBenchmark.run, "vqa": VQABenchmark.run,
                                                         "vqa-parity": VQAParity.run, "pooled-backward": PooledBackwardBenchmark.run,
                                                         "breadth": BreadthBenchmark.run, "conv-shapes": ConvShapesBenchmark.run]
guard let suite = arguments.first.flatMap({ suites[$0] }) else {
    FileHandle.standardError.write("usage: apus-bench core|nn|data|vqa|pooled-backward [--peers peers.json] [--output file.md]\n       apus-bench breadth --workload W --mode eager|graph [--iterations N] [--json out.json]\n       apus-bench conv-shapes\n       apus-bench vqa-parity --start DIR [--data data/easy-vqa]\n".data(using: .utf8)!)
    exit(2)
}
func option(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}
var peers: [String: Any] = [:]
if let path = option("--peers") {
    guard let data = FileManager.default.contents(atPath: path),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        FileHandle.standardError.write("apus-bench: cannot read peer results from \(path)\n".data(using: .utf8)!)
        exit(1)
    }
    peers = object
}
let report = suite(peers)
print(report)
if let output = option("--output") {
    do {
        let url = URL(fileURLWithPath: output)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try report.write(to: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    } catch {
        FileHandle.standardError.write("apus-bench: cannot write \(output): \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}
