import ApusData
import Foundation

/// The gzip inflation that the IDX and CIFAR readers apply to `.gz` files (`inflateIfGzipped`).
let gzipTarget = FuzzTarget(name: "gzip", run: { data in
    _ = try inflateIfGzipped(data, source: "fuzz")
}, seeds: {
    ["text.gz": try gzipped(Data(String(repeating: "Apus reads gzip. ", count: 20).utf8)),
     "bytes.gz": try gzipped(Data((0..<300).map { UInt8($0 * 7 % 256) })),
     "empty.gz": try gzipped(Data())]
})
