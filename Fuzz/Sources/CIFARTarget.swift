import ApusData
import Foundation

/// A CIFAR-10 binary batch (`CIFAR10(batches:)` from bytes, gzipped or not), then its last example.
let cifarTarget = FuzzTarget(name: "cifar", run: { data in
    let cifar = try CIFAR10(batches: [(source: "fuzz", data: data)])
    if cifar.count > 0 { _ = try cifar.example(cifar.count - 1) }
}, seeds: {
    var record = [UInt8](repeating: 0, count: 3073)
    record[0] = 9
    for i in 1..<record.count { record[i] = UInt8(i * 37 % 256) }
    return ["record.bin": Data(record), "records.bin.gz": try gzipped(Data(record + record))]
})
