import Apus
import ApusDistributed
import Foundation

/// Not a check: times a blocking all-reduce (sum) of the Float32 gradients of the VQA model
/// (2,783,053 parameters) and of ResNet-18 (11,173,962, CIFAR-10 head), median of 7 after 2
/// warm-up runs, and prints it on rank 0 with the bus bandwidth 2(N−1)/N · bytes / time.
func timeAllReduce(_ world: Communicator) throws {
    for (name, count) in [("VQA", 2_783_053), ("ResNet-18", 11_173_962)] {
        var gradients = Tensor.ones([count])
        var times: [Double] = []
        for run in 0..<9 {
            try world.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            try world.allReduce(&gradients, op: .mean)
            if run >= 2 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        let median = times.sorted()[times.count / 2]
        let bytes = Double(count * 4), ranks = Double(world.size)
        if world.rank == 0 {
            print(String(format: "allReduce of %@ gradients (%.1f MB) on %d ranks: %.1f ms, bus bandwidth %.2f GB/s",
                         name, bytes / 1e6, world.size, median * 1e3, 2 * (ranks - 1) / ranks * bytes / median / 1e9))
        }
    }
}
