import Apus
import ApusData
import Foundation

/// Loading throughput on the real easy-VQA training set (after scripts/fetch-easy-vqa.sh): one
/// epoch of 38,575 questions with their decoded 64×64 images in batches of 32, next to PyTorch's
/// DataLoader with Pillow measured in the same run.
enum DataBenchmark {
    static func run(peers: [String: Any]) -> String {
        let root = URL(fileURLWithPath: "data/easy-vqa")
        let dataset: EasyVQA
        do { dataset = try EasyVQA(root: root, split: "train") } catch {
            return "apus-bench data: \(error) (run scripts/fetch-easy-vqa.sh first)"
        }
        var lines = ["# Apus data loading (easy-VQA train, \(dataset.count) questions, batch 32)", "",
                     "| loader | images/s | epoch s |", "|---|---|---|"]
        for workers in [0, 2] {
            let loader = DataLoader(dataset, batchSize: 32, shuffle: true, seed: 0, workers: workers)
            let start = DispatchTime.now().uptimeNanoseconds
            let epoch = loader.epoch(0)
            var seen = 0
            do { while let batch = try epoch.next() { seen += batch["answer"]!.count } } catch { return "apus-bench data: \(error)" }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            lines.append(String(format: "| Apus DataLoader, %d workers | %.0f | %.2f |", workers, Double(seen) / seconds, seconds))
        }
        for workers in [0, 2] {
            if let rate = peers["images_per_second_workers\(workers)"] as? Double {
                lines.append(String(format: "| PyTorch DataLoader + Pillow, %d workers | %.0f | %.2f |", workers, rate, Double(dataset.count) / rate))
            }
        }
        return lines.joined(separator: "\n")
    }
}
