// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Apus",
    products: [
        .library(name: "Apus", targets: ["Apus"]),
        .executable(name: "apus-bench", targets: ["ApusBench"]),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CApusKernels", path: "Sources/CApusKernels"),
        .target(name: "Apus", dependencies: ["CBLAS", "CApusKernels"], path: "Sources/Apus"),
        .executableTarget(name: "ApusBench", dependencies: ["Apus", "CApusKernels"], path: "Sources/ApusBench"),
        .testTarget(name: "ApusTests", dependencies: ["Apus"], path: "Tests/ApusTests", exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
