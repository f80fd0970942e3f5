// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Apus",
    products: [
        .library(name: "Apus", targets: ["Apus"]),
        .library(name: "ApusNN", targets: ["ApusNN"]),
        .library(name: "ApusOptimizers", targets: ["ApusOptimizers"]),
        .library(name: "ApusData", targets: ["ApusData"]),
        .library(name: "ApusTrain", targets: ["ApusTrain"]),
        .library(name: "ApusConfig", targets: ["ApusConfig"]),
        .library(name: "ApusExchange", targets: ["ApusExchange"]),
        .library(name: "ApusDistributed", targets: ["ApusDistributed"]),
        .executable(name: "apus", targets: ["ApusCLI"]),
        .executable(name: "apus-bench", targets: ["ApusBench"]),
        .executable(name: "easy-vqa", targets: ["EasyVQAExample"]),
        .executable(name: "mnist-mlp", targets: ["MNISTMLPExample"]),
        .executable(name: "custom-layer", targets: ["CustomLayerExample"]),
        .executable(name: "apus-distributed-check", targets: ["ApusDistributedCheck"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // ONNX's wire format (ApusExchange); the generated onnx.pb.swift is committed (scripts/generate-protos.sh).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // `make docs`: the API reference (swift package generate-documentation); no code depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CApusMPI", dependencies: ["CMPI"], path: "Sources/CApusMPI"),
        .target(name: "CApusKernels", path: "Sources/CApusKernels"),
        .target(name: "Apus", dependencies: ["CBLAS", "CApusKernels"], path: "Sources/Apus"),
        .target(name: "CApusCodecs", path: "Sources/CApusCodecs",
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("z")]),
        .target(name: "ApusNN", dependencies: ["Apus"], path: "Sources/ApusNN"),
        .target(name: "ApusData", dependencies: ["Apus", "CApusCodecs", "CApusKernels"], path: "Sources/ApusData"),
        .target(name: "ApusTrain", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData"], path: "Sources/ApusTrain"),
        .target(name: "ApusConfig", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", "ApusDistributed", "Yams"],
                path: "Sources/ApusConfig"),
        .target(name: "ApusExchange", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                path: "Sources/ApusExchange", exclude: ["Generated/README.md"]),
        .executableTarget(name: "ApusCLI", dependencies: ["Apus", "ApusConfig", "ApusTrain", "ApusNN", "ApusData", "ApusDistributed", "ApusExchange",
                                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/ApusCLI"),
        .target(name: "ApusOptimizers", dependencies: ["Apus", "ApusNN", "CApusKernels"], path: "Sources/ApusOptimizers"),
        .target(name: "ApusDistributed", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", "CMPI", "CApusMPI"], path: "Sources/ApusDistributed"),
        .executableTarget(name: "ApusDistributedCheck", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", "ApusDistributed",
                                                                      "CMPI", "CApusMPI"],
                          path: "Sources/ApusDistributedCheck"),
        .executableTarget(name: "ApusBench", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", "CApusKernels"], path: "Sources/ApusBench"),
        .executableTarget(name: "EasyVQAExample", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain"],
                          path: "Examples/EasyVQA"),
        .executableTarget(name: "MNISTMLPExample", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain"],
                          path: "Examples/MNISTMLP"),
        .executableTarget(name: "CustomLayerExample", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain"],
                          path: "Examples/CustomLayer"),
        .target(name: "ApusTestSupport", dependencies: ["Apus"], path: "Tests/ApusTestSupport"),
        .testTarget(name: "ApusTests", dependencies: ["Apus", "ApusTestSupport"], path: "Tests/ApusTests", exclude: ["Fixtures"]),
        .testTarget(name: "ApusNNTests", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusTestSupport"],
                    path: "Tests/ApusNNTests", exclude: ["Fixtures"]),
        .testTarget(name: "ApusDataTests", dependencies: ["Apus", "ApusData", "ApusTestSupport"], path: "Tests/ApusDataTests"),
        .testTarget(name: "ApusConfigTests", dependencies: ["Apus", "ApusNN", "ApusData", "ApusTrain", "ApusConfig", "ApusTestSupport"],
                    path: "Tests/ApusConfigTests"),
        .testTarget(name: "ApusExchangeTests", dependencies: ["Apus", "ApusNN", "ApusTrain", "ApusExchange", "ApusTestSupport"],
                    path: "Tests/ApusExchangeTests", exclude: ["Fixtures"]),
        .testTarget(name: "ApusDistributedTests", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", "ApusDistributed", "ApusTestSupport"],
                    path: "Tests/ApusDistributedTests"),
        .testTarget(name: "ApusTrainTests", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusTrain", "ApusTestSupport"],
                    path: "Tests/ApusTrainTests", exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)

// The fuzz harness (Fuzz/README.md): one libFuzzer binary over every reader of outside input.
// Only `scripts/fuzz.sh` builds it (APUS_FUZZ=1, sanitizers on); normal builds never see it.
if Context.environment["APUS_FUZZ"] == "1" {
    package.products.append(.executable(name: "apus-fuzz", targets: ["ApusFuzz"]))
    package.targets.append(.executableTarget(name: "ApusFuzz", dependencies: ["Apus", "ApusNN", "ApusOptimizers", "ApusData", "ApusConfig", "ApusExchange"],
                                             path: "Fuzz/Sources"))
}
