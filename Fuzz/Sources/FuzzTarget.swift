import Foundation

/// One reader of outside input under libFuzzer. `run` feeds it the bytes of one input: a thrown
/// error is the reader refusing bad input, a fine outcome; a crash (trap, precondition, address
/// sanitizer report, huge allocation) or a hang is a bug. `seeds` are small valid inputs, written
/// to `Fuzz/corpus/<name>/` by `scripts/fuzz.sh --seeds`.
struct FuzzTarget {
    let name: String
    let run: (Data) throws -> Void
    let seeds: () throws -> [String: Data]
}

/// Every target, by the name `APUS_FUZZ_TARGET` selects.
let allTargets: [FuzzTarget] = [
    safeTensorsTarget, optimizerStateTarget, stateJSONTarget, configTarget, easyVQATarget,
    idxTarget, cifarTarget, pngTarget, jpegTarget, gzipTarget, vocabularyTarget, onnxTarget,
    caffePrototxtTarget, caffemodelTarget,
]

/// `data` compressed by the system's `gzip` (for seeds).
func gzipped(_ data: Data) throws -> Data {
    let process = Process(), input = Pipe(), output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-9nc"]
    (process.standardInput, process.standardOutput) = (input, output)
    try process.run()
    input.fileHandleForWriting.write(data)
    try input.fileHandleForWriting.close()
    let compressed = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return compressed
}
