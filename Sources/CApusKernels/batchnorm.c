// Batch normalisation with batch statistics over a contiguous [N, C, P] tensor (P pixels of
// each channel in each image), for channels c0..<c1 (threads take channel ranges).
// Forward: mean and inverse standard deviation (biased variance, two passes in double), then
// y = (x − mean)·invstd·w + b, optionally max(·, 0).
// Backward: db = Σg, dw = Σ g·x̂, dx = w·invstd·(g − db/M − x̂·dw/M) with x̂ = (x − mean)·invstd,
// M = N·P (g masked by y > 0 first when ReLU was fused), plus the contributions of cotangents on
// the mean (gm/M) and on invstd (−gs·invstd³·(x − mean)/M) outputs.
#include <math.h>
#include "dispatch.h"

#define DEFINE_BATCHNORM(T, SUF)                                                                     \
    APUS_INLINE void apus_batchnorm_forward_##SUF##_body(int64_t n, int64_t c, int64_t p, int64_t c0,  \
        int64_t c1, const T *x, const T *w, const T *b, double eps, int relu, T *y, T *mean, T *invstd) { \
        _Pragma("clang fp reassociate(on)")                                                          \
        double count = (double)(n * p);                                                              \
        for (int64_t ch = c0; ch < c1; ch++) {                                                       \
            double sum = 0, squares = 0;                                                             \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const T *row = x + (i * c + ch) * p;                                                 \
                T acc = 0;                                                                           \
                for (int64_t k = 0; k < p; k++) acc += row[k];                                       \
                sum += acc;                                                                          \
            }                                                                                        \
            double m = sum / count;                                                                  \
            T mt = (T)m;                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const T *row = x + (i * c + ch) * p;                                                 \
                T acc = 0;                                                                           \
                for (int64_t k = 0; k < p; k++) { T d = row[k] - mt; acc += d * d; }                 \
                squares += acc;                                                                      \
            }                                                                                        \
            double is = 1.0 / sqrt(squares / count + eps);                                           \
            T scale = (T)(w[ch] * is), shift = (T)(b[ch] - m * (w[ch] * is));                        \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const T *row = x + (i * c + ch) * p;                                                 \
                T *out = y + (i * c + ch) * p;                                                       \
                if (relu) for (int64_t k = 0; k < p; k++) { T v = row[k] * scale + shift; out[k] = v > 0 ? v : 0; } \
                else for (int64_t k = 0; k < p; k++) out[k] = row[k] * scale + shift;                \
            }                                                                                        \
            mean[ch] = (T)m;                                                                         \
            invstd[ch] = (T)is;                                                                      \
        }                                                                                            \
    }                                                                                                \
    APUS_VARIANTS(apus_batchnorm_forward_##SUF, (int64_t n, int64_t c, int64_t p, int64_t c0, int64_t c1, \
        const T *x, const T *w, const T *b, double eps, int relu, T *y, T *mean, T *invstd),        \
        (n, c, p, c0, c1, x, w, b, eps, relu, y, mean, invstd))                                      \
    APUS_INLINE void apus_batchnorm_backward_##SUF##_body(int64_t n, int64_t c, int64_t p, int64_t c0, \
        int64_t c1, const T *g, const T *x, const T *y, const T *w, const T *mean, const T *invstd,  \
        const T *gmean, const T *ginvstd, T *dx, T *dw, T *db) {                                     \
        _Pragma("clang fp reassociate(on)")                                                          \
        double count = (double)(n * p);                                                              \
        for (int64_t ch = c0; ch < c1; ch++) {                                                       \
            T mt = mean[ch];                                                                         \
            double sg = 0, sgx = 0;                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const T *gr = g + (i * c + ch) * p, *xr = x + (i * c + ch) * p;                      \
                T a = 0, ax = 0;                                                                     \
                if (y) {                                                                             \
                    const T *yr = y + (i * c + ch) * p;                                              \
                    for (int64_t k = 0; k < p; k++) { T gk = yr[k] > 0 ? gr[k] : 0; a += gk; ax += gk * (xr[k] - mt); } \
                } else {                                                                             \
                    for (int64_t k = 0; k < p; k++) { a += gr[k]; ax += gr[k] * (xr[k] - mt); }     \
                }                                                                                    \
                sg += a;                                                                             \
                sgx += ax;                                                                           \
            }                                                                                        \
            double is = invstd[ch], wis = w[ch] * is;                                                \
            if (db) db[ch] = (T)sg;                                                                  \
            if (dw) dw[ch] = (T)(sgx * is);                                                          \
            if (!dx) continue;                                                                       \
            double gm = gmean ? gmean[ch] : 0, gs = ginvstd ? ginvstd[ch] : 0;                       \
            T ag = (T)wis;                                                                           \
            T ax = (T)(-wis * is * is * sgx / count - gs * is * is * is / count);                    \
            T a0 = (T)(-wis * sg / count + gm / count);                                              \
            for (int64_t i = 0; i < n; i++) {                                                        \
                const T *gr = g + (i * c + ch) * p, *xr = x + (i * c + ch) * p;                      \
                T *out = dx + (i * c + ch) * p;                                                      \
                if (y) {                                                                             \
                    const T *yr = y + (i * c + ch) * p;                                              \
                    for (int64_t k = 0; k < p; k++) out[k] = ag * (yr[k] > 0 ? gr[k] : 0) + ax * (xr[k] - mt) + a0; \
                } else {                                                                             \
                    for (int64_t k = 0; k < p; k++) out[k] = ag * gr[k] + ax * (xr[k] - mt) + a0;  \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    APUS_VARIANTS(apus_batchnorm_backward_##SUF, (int64_t n, int64_t c, int64_t p, int64_t c0, int64_t c1, \
        const T *g, const T *x, const T *y, const T *w, const T *mean, const T *invstd, const T *gmean, \
        const T *ginvstd, T *dx, T *dw, T *db),                                                      \
        (n, c, p, c0, c1, g, x, y, w, mean, invstd, gmean, ginvstd, dx, dw, db))

DEFINE_BATCHNORM(float, f32)
DEFINE_BATCHNORM(double, f64)
