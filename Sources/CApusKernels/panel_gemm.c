// C = C_in + A·B for a short A (a few rows: an LSTM batch) against a B packed once into
// 16-column panels. OpenBLAS packs all of B on every call, which at 10–30 rows costs as much as
// the product; a recurrence multiplies by the same B at every step, so packing it once per
// sequence and streaming the panels (each [k][16], from L1/L2 while a column panel serves every
// block of 5 rows) runs ≈ 1.5× faster than OpenBLAS at these shapes (Benchmarks/README.md).
#include "apus_kernels.h"

void apus_sgemm_pack_panels(int64_t k, int64_t n, const float *b, int64_t ldb, int transposed, float *packed) {
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        float *panel = packed + j0 * k;
        int64_t width = n - j0 < 16 ? n - j0 : 16;
        if (width < 16)   // the last, partial panel: zero columns past n
            for (int64_t p = 0; p < k; p++)
                for (int64_t j = 0; j < 16; j++)
                    panel[p * 16 + j] = j < width ? (transposed ? b[(j0 + j) * ldb + p] : b[p * ldb + j0 + j]) : 0.0f;
        else if (transposed)   // column j of the panel is row j0 + j of b: read each row along
            for (int64_t j = 0; j < 16; j++) {
                const float *row = b + (j0 + j) * ldb;
                for (int64_t p = 0; p < k; p++) panel[p * 16 + j] = row[p];
            }
        else
            for (int64_t p = 0; p < k; p++)
                for (int64_t j = 0; j < 16; j++) panel[p * 16 + j] = b[p * ldb + j0 + j];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

// Lanes i < remaining of 8 set (all when remaining ≥ 8, none when ≤ 0), for masked loads and stores.
static inline __attribute__((always_inline, target("avx2"))) __m256i lanes(int64_t remaining) {
    int32_t r = remaining > 8 ? 8 : (remaining < 0 ? 0 : (int32_t)remaining);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// R rows × one panel (16 columns, `width` of them real): 2R accumulators, two panel loads and
// R broadcasts per step of k.
#define PANEL_BLOCK(R)                                                                                             \
    __attribute__((target("avx2,fma"))) static void block_##R(int64_t width, int64_t k, const float *a, int64_t lda, \
        const float *panel, const float *c_in, int64_t ldc_in, float *c, int64_t ldc) {                            \
        __m256i m0 = lanes(width), m1 = lanes(width - 8);                                                          \
        __m256 acc[R][2];                                                                                          \
        for (int r = 0; r < R; r++) {                                                                              \
            acc[r][0] = _mm256_maskload_ps(c_in + r * ldc_in, m0);                                                  \
            acc[r][1] = _mm256_maskload_ps(c_in + r * ldc_in + 8, m1);                                              \
        }                                                                                                          \
        for (int64_t p = 0; p < k; p++) {                                                                          \
            __m256 b0 = _mm256_load_ps(panel + p * 16), b1 = _mm256_load_ps(panel + p * 16 + 8);                    \
            for (int r = 0; r < R; r++) {                                                                          \
                __m256 av = _mm256_broadcast_ss(a + r * lda + p);                                                   \
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);                                                     \
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);                                                     \
            }                                                                                                      \
        }                                                                                                          \
        for (int r = 0; r < R; r++) {                                                                              \
            _mm256_maskstore_ps(c + r * ldc, m0, acc[r][0]);                                                        \
            _mm256_maskstore_ps(c + r * ldc + 8, m1, acc[r][1]);                                                    \
        }                                                                                                          \
    }
PANEL_BLOCK(1)
PANEL_BLOCK(2)
PANEL_BLOCK(3)
PANEL_BLOCK(4)
PANEL_BLOCK(5)

int apus_sgemm_panels(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                      const float *c_in, int64_t ldc_in, float *c, int64_t ldc) {
    if (apus_cpu_level() < 1) return 0;
    for (int64_t j = 0; j < n; j += 16) {
        const float *panel = packed + j * k;
        int64_t width = n - j;
        for (int64_t i = 0; i < m; i += 5) {
            const float *ai = a + i * lda, *ci = c_in + i * ldc_in + j;
            float *co = c + i * ldc + j;
            switch (m - i < 5 ? m - i : 5) {
            case 1: block_1(width, k, ai, lda, panel, ci, ldc_in, co, ldc); break;
            case 2: block_2(width, k, ai, lda, panel, ci, ldc_in, co, ldc); break;
            case 3: block_3(width, k, ai, lda, panel, ci, ldc_in, co, ldc); break;
            case 4: block_4(width, k, ai, lda, panel, ci, ldc_in, co, ldc); break;
            default: block_5(width, k, ai, lda, panel, ci, ldc_in, co, ldc); break;
            }
        }
    }
    return 1;
}
#else
// Other CPUs: no panel kernel; the caller uses BLAS.
int apus_sgemm_panels(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                      const float *c_in, int64_t ldc_in, float *c, int64_t ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed; (void)c_in; (void)ldc_in; (void)c; (void)ldc;
    return 0;
}
#endif
