import CApusKernels
import CBLAS
import Foundation

/// Makes sure OpenBLAS runs kernels that fit this CPU.
///
/// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons (for example Emerald Rapids) and
/// falls back to its Prescott (SSE3) kernels, which run sgemm ≈ 5× slower than its AVX-512
/// ones. When the user has not set `OPENBLAS_CORETYPE` and OpenBLAS reports Prescott on a CPU
/// with AVX2 or AVX-512, Apus sets the matching core type and asks OpenBLAS to pick its
/// kernels again, once, before the first BLAS call.
enum BLASSetup {
    /// OpenBLAS' name for the kernels in use after setup.
    static let coreName: String = {
        openblas_set_num_threads(1)   // Apus splits GEMMs over its own worker pool
        let current = String(cString: openblas_get_corename())
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, current == "Prescott" else { return current }
        let families = [1: "Haswell", 2: "SkylakeX", 3: "Cooperlake"]
        guard let family = families[Int(apus_cpu_blas_kernel_hint())] else { return current }
        setenv("OPENBLAS_CORETYPE", family, 1)
        gotoblas_dynamic_quit()
        gotoblas_dynamic_init()
        unsetenv("OPENBLAS_CORETYPE")
        openblas_set_num_threads(1)
        return String(cString: openblas_get_corename())
    }()

    /// Call before any BLAS routine.
    @inline(__always) static func ensure() { _ = coreName }
}

/// What the CPU backend runs on this machine.
public enum CPUBackendInfo {
    /// OpenBLAS' name for its kernels in use (e.g. "Cooperlake").
    public static var blasKernels: String { BLASSetup.coreName }
}
