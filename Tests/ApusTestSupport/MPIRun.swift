import Foundation

/// `mpirun` on the PATH, when Open MPI is installed (`scripts/install-system-deps.sh`).
public let mpirun: URL? = {
    let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
    return folders.map { URL(fileURLWithPath: $0).appendingPathComponent("mpirun") }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()

/// The options every test launch passes to `mpirun` before `-np`: root allowed, more ranks than
/// cores allowed, and shared memory between ranks copied through a buffer rather than read from
/// the other process (which containers often forbid).
public let mpirunOptions = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none"]

/// The environment for processes that `mpirun` launches in tests: this one's, but under
/// AddressSanitizer (`scripts/sanitize.sh`) without leak checking, since Open MPI leaves memory of
/// plugins it has already unloaded at exit, which no suppression can name (Apus' own leaks are
/// checked by the in-process tests).
public var mpirunEnvironment: [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment["ASAN_OPTIONS"] = (environment["ASAN_OPTIONS"].map { $0 + ":" } ?? "") + "detect_leaks=0"
    return environment
}
