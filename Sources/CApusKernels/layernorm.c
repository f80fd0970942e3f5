// Layer normalisation over the last n elements of each of `rows` rows (rows r0..<r1; threads
// take row ranges). Forward: each row's mean and inverse standard deviation (biased variance,
// accumulated in double), y = (x − mean)·invstd·w + b (w, b of n elements, or NULL).
// Backward: with x̂ = (x − mean)·invstd and ĝ = g·w, dx = invstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),
// plus the cotangents of the mean (gm/n) and invstd (−gs·invstd³·(x − mean)/n) outputs;
// dw += Σ g·x̂ and db += Σ g over the rows (into the caller's per-thread accumulators).
#include <math.h>
#include "dispatch.h"

#define DEFINE_LAYERNORM(T, SUF)                                                                     \
    APUS_INLINE void apus_layernorm_forward_##SUF##_body(int64_t n, int64_t r0, int64_t r1, const T *x, \
        const T *w, const T *b, double eps, T *y, T *mean, T *invstd) {                              \
        _Pragma("clang fp reassociate(on)")                                                          \
        for (int64_t r = r0; r < r1; r++) {                                                          \
            const T *row = x + r * n;                                                                \
            T *out = y + r * n;                                                                      \
            T sum = 0;                                                                               \
            for (int64_t k = 0; k < n; k++) sum += row[k];                                           \
            double m = (double)sum / (double)n;                                                      \
            T mt = (T)m, squares = 0;                                                                \
            for (int64_t k = 0; k < n; k++) { T d = row[k] - mt; squares += d * d; }                 \
            T is = (T)(1.0 / sqrt((double)squares / (double)n + eps));                               \
            if (w && b) for (int64_t k = 0; k < n; k++) out[k] = (row[k] - mt) * is * w[k] + b[k];   \
            else if (w) for (int64_t k = 0; k < n; k++) out[k] = (row[k] - mt) * is * w[k];          \
            else for (int64_t k = 0; k < n; k++) out[k] = (row[k] - mt) * is + (b ? b[k] : (T)0);    \
            mean[r] = mt;                                                                            \
            invstd[r] = is;                                                                          \
        }                                                                                            \
    }                                                                                                \
    APUS_VARIANTS(apus_layernorm_forward_##SUF, (int64_t n, int64_t r0, int64_t r1, const T *x, const T *w, \
        const T *b, double eps, T *y, T *mean, T *invstd), (n, r0, r1, x, w, b, eps, y, mean, invstd)) \
    APUS_INLINE void apus_layernorm_backward_##SUF##_body(int64_t n, int64_t r0, int64_t r1, const T *g, \
        const T *x, const T *w, const T *mean, const T *invstd, const T *gmean, const T *ginvstd,    \
        T *dx, T *dw, T *db) {                                                                       \
        _Pragma("clang fp reassociate(on)")                                                          \
        for (int64_t r = r0; r < r1; r++) {                                                          \
            const T *gr = g + r * n, *xr = x + r * n;                                                \
            T *out = dx + r * n;                                                                     \
            T mt = mean[r], is = invstd[r], sg = 0, sgx = 0;                                         \
            for (int64_t k = 0; k < n; k++) {                                                        \
                T gh = w ? gr[k] * w[k] : gr[k], xh = (xr[k] - mt) * is;                             \
                sg += gh;                                                                            \
                sgx += gh * xh;                                                                      \
                if (dw) dw[k] += gr[k] * xh;                                                         \
                if (db) db[k] += gr[k];                                                              \
            }                                                                                        \
            T inv = (T)1 / (T)n, a0 = -is * sg * inv + (gmean ? gmean[r] : (T)0) * inv;               \
            T ax = -is * is * sgx * inv - (ginvstd ? ginvstd[r] : (T)0) * is * is * is * inv;        \
            for (int64_t k = 0; k < n; k++) {                                                        \
                T gh = w ? gr[k] * w[k] : gr[k];                                                     \
                out[k] = is * gh + ax * (xr[k] - mt) + a0;                                           \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    APUS_VARIANTS(apus_layernorm_backward_##SUF, (int64_t n, int64_t r0, int64_t r1, const T *g, const T *x, \
        const T *w, const T *mean, const T *invstd, const T *gmean, const T *ginvstd, T *dx, T *dw, T *db), \
        (n, r0, r1, g, x, w, mean, invstd, gmean, ginvstd, dx, dw, db))

DEFINE_LAYERNORM(float, f32)
DEFINE_LAYERNORM(double, f64)
