import Apus
import ApusNN
import Foundation
import Testing

/// The repository root (three levels above this file).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The python of the onnx + onnxruntime venv (`Benchmarks/peers/install.sh onnx`), when installed.
let onnxPython: URL? = {
    let folder = ProcessInfo.processInfo.environment["APUS_PEERS_DIR"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/apus-peers").path
    let python = URL(fileURLWithPath: folder).appendingPathComponent("onnx/bin/python")
    guard FileManager.default.isExecutableFile(atPath: python.path) else { return nil }
    return python
}()

let onnxRuntimeMissing = "the onnx venv is missing (Benchmarks/peers/install.sh onnx installs it; make test does): the onnxruntime round trips did NOT run"

/// A fresh temporary folder for one test.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("apus-onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `python script arguments…` with a time limit; returns stdout, or throws with stderr.
func runPython(_ python: URL, _ script: String, _ arguments: [String], limit: Double = 300) throws -> String {
    let process = Process()
    process.executableURL = python
    process.arguments = [repositoryRoot.appendingPathComponent(script).path] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["OMP_NUM_THREADS"] = "1"
    process.environment = environment
    let out = Pipe(), err = Pipe()
    (process.standardOutput, process.standardError) = (out, err)
    try process.run()
    let deadline = Date().addingTimeInterval(limit)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    struct PythonFailure: Error, CustomStringConvertible { let description: String }
    guard process.terminationStatus == 0 else { throw PythonFailure(description: "\(script) failed (\(process.terminationStatus)):\n\(stderr)") }
    return stdout
}

/// Checks `model` with onnx's full checker and runs it in onnxruntime on `inputs`: the outputs
/// by name and the helper's JSON summary line.
func runInONNXRuntime(_ model: URL, _ inputs: [String: Tensor]) throws -> (outputs: [String: Tensor], summary: String) {
    let folder = model.deletingLastPathComponent()
    let (inURL, outURL) = (folder.appendingPathComponent("inputs.safetensors"), folder.appendingPathComponent("outputs.safetensors"))
    try SafeTensors.write(inputs, to: inURL)
    let summary = try runPython(onnxPython!, "scripts/onnx/run_onnx.py", [model.path, inURL.path, outURL.path])
    return (try SafeTensors.read(from: outURL).tensors, summary)
}

/// The largest |a − b| over two tensors of one shape (infinity when the shapes differ).
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Double {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.scalars(as: Double.self), b.scalars(as: Double.self)).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}
