import Apus
import ApusExchange
import Foundation

/// A Caffe network in text format: `CaffeNet(prototxt:)`, then `build` of both phases (data
/// layers given a [1, 28, 28] shape, at most 2^20 weights so no input spends long drawing them).
let caffePrototxtTarget = FuzzTarget(name: "caffe-prototxt", run: { data in
    let net = try CaffeNet(prototxt: String(decoding: data, as: UTF8.self))
    for phase in [Caffe_Phase.train, .test] {
        do { _ = try net.build(phase: phase, inputShapes: ["data": [1, 28, 28]], parameterBudget: 1 << 20) } catch is CaffeError {}
    }
}, seeds: {
    var seeds: [String: Data] = [:]
    for name in ["lenet_train_test.prototxt", "tiny.prototxt"] {
        if let bytes = FileManager.default.contents(atPath: "Tests/ApusExchangeTests/Fixtures/caffe/\(name)") { seeds[name] = bytes }
    }
    return seeds
})

/// A `.caffemodel` loaded into the test network `tiny.prototxt`.
let caffemodelTarget = FuzzTarget(name: "caffemodel", run: { data in
    let text = FileManager.default.contents(atPath: "Tests/ApusExchangeTests/Fixtures/caffe/tiny.prototxt") ?? Data()
    try CaffeNet(prototxt: String(decoding: text, as: UTF8.self)).build().loadWeights(caffemodel: data)
}, seeds: {
    var seeds: [String: Data] = [:]
    if let bytes = FileManager.default.contents(atPath: "Tests/ApusExchangeTests/Fixtures/caffe/tiny.caffemodel") { seeds["tiny.caffemodel"] = bytes }
    return seeds
})
