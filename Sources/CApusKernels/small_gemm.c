// C (+)= A·B for a short A (few rows, e.g. an LSTM batch) against a wide row-major B, with
// register blocking: on AVX-512, 4 rows × 64 columns of C live in 16 registers while B streams
// once per row block; on AVX2 (16 registers of 8 floats), 6 rows × 16 columns in 12 registers,
// and each 16-column panel of B serves every row block while it is in L1 cache. OpenBLAS packs
// all of B on every call, which dominates at these shapes.
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

// Lanes i < remaining of 8 set (all when remaining ≥ 8, none when ≤ 0), for AVX2's masked loads and stores.
static inline __attribute__((always_inline, target("avx2"))) __m256i avx2_lanes(int64_t remaining) {
    int32_t r = remaining > 8 ? 8 : (remaining < 0 ? 0 : (int32_t)remaining);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// C[R rows, columns j..<min(j + 16, n1)] (+)= A[R rows, k]·B[k, same columns], R known at compile time.
#define AVX2_BLOCK(R)                                                                                              \
    __attribute__((target("avx2,fma"))) static void avx2_block_##R(int64_t j, int64_t n1, int64_t k, const float *a,   \
        int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, int accumulate) {                         \
        __m256i m0 = avx2_lanes(n1 - j), m1 = avx2_lanes(n1 - j - 8);                                                \
        __m256 acc[R][2];                                                                                          \
        for (int r = 0; r < R; r++) {                                                                              \
            acc[r][0] = accumulate ? _mm256_maskload_ps(c + r * ldc + j, m0) : _mm256_setzero_ps();                 \
            acc[r][1] = accumulate ? _mm256_maskload_ps(c + r * ldc + j + 8, m1) : _mm256_setzero_ps();             \
        }                                                                                                          \
        if (n1 - j >= 16) {                                                                                        \
            for (int64_t p = 0; p < k; p++) {                                                                      \
                const float *brow = b + p * ldb + j;                                                               \
                __m256 b0 = _mm256_loadu_ps(brow), b1 = _mm256_loadu_ps(brow + 8);                                  \
                for (int r = 0; r < R; r++) {                                                                      \
                    __m256 av = _mm256_broadcast_ss(a + r * lda + p);                                               \
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);                                                 \
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);                                                 \
                }                                                                                                  \
            }                                                                                                      \
        } else {                                                                                                   \
            for (int64_t p = 0; p < k; p++) {                                                                      \
                const float *brow = b + p * ldb + j;                                                               \
                __m256 b0 = _mm256_maskload_ps(brow, m0), b1 = _mm256_maskload_ps(brow + 8, m1);                    \
                for (int r = 0; r < R; r++) {                                                                      \
                    __m256 av = _mm256_broadcast_ss(a + r * lda + p);                                               \
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);                                                 \
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);                                                 \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
        for (int r = 0; r < R; r++) {                                                                              \
            _mm256_maskstore_ps(c + r * ldc + j, m0, acc[r][0]);                                                    \
            _mm256_maskstore_ps(c + r * ldc + j + 8, m1, acc[r][1]);                                                \
        }                                                                                                          \
    }
AVX2_BLOCK(1)
AVX2_BLOCK(2)
AVX2_BLOCK(3)
AVX2_BLOCK(4)
AVX2_BLOCK(5)
AVX2_BLOCK(6)

// The AVX2 kernel: column panels of 16 outermost, so each panel of B (k × 16) is read from
// memory once and then from L1 for every block of 6 rows.
static void sgemm_short_avx2(int64_t m, int64_t n0, int64_t n1, int64_t k, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float *c, int64_t ldc, int accumulate) {
    for (int64_t j = n0; j < n1; j += 16)
        for (int64_t i = 0; i < m; i += 6) {
            const float *ai = a + i * lda;
            float *ci = c + i * ldc;
            switch (m - i < 6 ? m - i : 6) {
            case 1: avx2_block_1(j, n1, k, ai, lda, b, ldb, ci, ldc, accumulate); break;
            case 2: avx2_block_2(j, n1, k, ai, lda, b, ldb, ci, ldc, accumulate); break;
            case 3: avx2_block_3(j, n1, k, ai, lda, b, ldb, ci, ldc, accumulate); break;
            case 4: avx2_block_4(j, n1, k, ai, lda, b, ldb, ci, ldc, accumulate); break;
            case 5: avx2_block_5(j, n1, k, ai, lda, b, ldb, ci, ldc, accumulate); break;
            default: avx2_block_6(j, n1, k, ai, lda, b, ldb, ci, ldc, accumulate); break;
            }
        }
}

int apus_sgemm_short(int64_t m, int64_t n0, int64_t n1, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, int accumulate) {
    int level = apus_cpu_level();
    if (level == 1) {
        sgemm_short_avx2(m, n0, n1, k, a, lda, b, ldb, c, ldc, accumulate);
        return 1;
    }
    if (level < 2) return 0;
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
