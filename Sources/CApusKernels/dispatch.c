#include "apus_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

int apus_cpu_level(void) {
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq"))
            level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            level = 1;
        else
            level = 0;
    }
    return level;
}

int apus_cpu_blas_kernel_hint(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        return __builtin_cpu_supports("avx512bf16") ? 3 : 2;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

void apus_cpu_relax(void) { __builtin_ia32_pause(); }

void apus_flush_denormals(void) {
    static __thread int done = 0;
    if (!done) {
        _mm_setcsr(_mm_getcsr() | 0x8040);   // FTZ (bit 15) and DAZ (bit 6)
        done = 1;
    }
}
#else
// Other CPUs (aarch64): the portable kernels (level 0), default BLAS kernels, a plain spin, and
// denormals left as the platform treats them.
int apus_cpu_level(void) { return 0; }
int apus_cpu_blas_kernel_hint(void) { return 0; }
void apus_cpu_relax(void) {}
void apus_flush_denormals(void) {}
#endif
