import Foundation

// libFuzzer's entry points (libFuzzer supplies `main`). One binary serves every target:
// `APUS_FUZZ_TARGET=<name>` picks the one to run (libFuzzer's flags are the arguments);
// `APUS_FUZZ_WRITE_SEEDS=<folder>` instead writes every target's seeds to <folder>/<name>/,
// checking that each one is accepted, and exits.

nonisolated(unsafe) var selected: FuzzTarget!

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("apus-fuzz: \(message)\n".utf8))
    exit(status)
}

/// Writes every target's seeds to `folder`/<target>/, stopping at one its target refuses.
func writeSeeds(to folder: URL) {
    do {
        for target in allTargets {
            let directory = folder.appendingPathComponent(target.name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, data) in try target.seeds().sorted(by: { $0.key < $1.key }) {
                do { try target.run(data) } catch { fail("seed \(target.name)/\(name) is refused: \(error)", status: 1) }
                try data.write(to: directory.appendingPathComponent(name))
                print("\(target.name)/\(name): \(data.count) bytes")
            }
        }
    } catch {
        fail("writing seeds failed: \(error)", status: 1)
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    if let folder = environment["APUS_FUZZ_WRITE_SEEDS"] {
        writeSeeds(to: URL(fileURLWithPath: folder))
        exit(0)
    }
    guard let name = environment["APUS_FUZZ_TARGET"], let target = allTargets.first(where: { $0.name == name }) else {
        fail("set APUS_FUZZ_TARGET to one of: \(allTargets.map(\.name).joined(separator: ", "))", status: 2)
    }
    selected = target
    return 0
}

/// One input: run the selected target; a thrown error is a clean refusal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = count > 0 && start != nil ? Data(bytes: start!, count: count) : Data()
    do { try selected.run(data) } catch {}
    return 0
}
