// C (+)= A·B for a short A (few rows, e.g. an LSTM batch) against a wide row-major B, with
// AVX-512 register blocking: 4 rows × 64 columns of C live in 16 registers while B streams
// once per row block. OpenBLAS packs all of B on every call, which dominates at these shapes.
#include "apus_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

static inline __attribute__((always_inline, target("avx512f"))) __mmask16 lane_mask(int64_t remaining) {
    return remaining >= 16 ? (__mmask16)0xFFFF : (remaining <= 0 ? (__mmask16)0 : (__mmask16)((1u << remaining) - 1));
}

__attribute__((target("avx512f")))
static void block(int64_t rows, int64_t j, int64_t n1, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float *c, int64_t ldc, int accumulate) {
    __mmask16 mask[4];
    for (int q = 0; q < 4; q++) mask[q] = lane_mask(n1 - (j + 16 * q));
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++)
            acc[r][q] = (accumulate && r < rows) ? _mm512_maskz_loadu_ps(mask[q], c + r * ldc + j + 16 * q) : _mm512_setzero_ps();
    if (rows == 4) {
        for (int64_t p = 0; p < k; p++) {
            const float *brow = b + p * ldb + j;
            __m512 b0 = _mm512_maskz_loadu_ps(mask[0], brow), b1 = _mm512_maskz_loadu_ps(mask[1], brow + 16);
            __m512 b2 = _mm512_maskz_loadu_ps(mask[2], brow + 32), b3 = _mm512_maskz_loadu_ps(mask[3], brow + 48);
            for (int r = 0; r < 4; r++) {
                __m512 av = _mm512_set1_ps(a[r * lda + p]);
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
                acc[r][3] = _mm512_fmadd_ps(av, b3, acc[r][3]);
            }
        }
    } else {
        for (int64_t p = 0; p < k; p++) {
            const float *brow = b + p * ldb + j;
            __m512 bv[4];
            for (int q = 0; q < 4; q++) bv[q] = _mm512_maskz_loadu_ps(mask[q], brow + 16 * q);
            for (int r = 0; r < rows; r++) {
                __m512 av = _mm512_set1_ps(a[r * lda + p]);
                for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(c + r * ldc + j + 16 * q, mask[q], acc[r][q]);
}

int apus_sgemm_short(int64_t m, int64_t n0, int64_t n1, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, int accumulate) {
    if (apus_cpu_level() < 2) return 0;
    for (int64_t i = 0; i < m; i += 4) {
        int64_t rows = m - i < 4 ? m - i : 4;
        for (int64_t j = n0; j < n1; j += 64)
            block(rows, j, n1, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
    }
    return 1;
}
#else
// Other CPUs: no short kernel; the caller uses BLAS.
int apus_sgemm_short(int64_t m, int64_t n0, int64_t n1, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, int accumulate) {
    (void)m; (void)n0; (void)n1; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)accumulate;
    return 0;
}
#endif
