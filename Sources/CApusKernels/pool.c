// 2-D max and average pooling over planes of [H, W], forward and backward.
#include <string.h>
#include "dispatch.h"

#define WINDOW_LOOP(BODY)                                                                      \
    for (int64_t p = 0; p < planes; p++)                                                       \
        for (int64_t oy = 0; oy < oh; oy++)                                                    \
            for (int64_t ox = 0; ox < ow; ox++) {                                              \
                int64_t y0 = oy * sh - ph, x0 = ox * sw - pw;                                  \
                int64_t ya = y0 < 0 ? 0 : y0, yb = y0 + kh > h ? h : y0 + kh;                 \
                int64_t xa = x0 < 0 ? 0 : x0, xb = x0 + kw > w ? w : x0 + kw;                 \
                int64_t out = (p * oh + oy) * ow + ox;                                         \
                const int64_t base = p * h * w;                                                \
                BODY                                                                           \
            }

// 2×2, stride-2 windows without padding that all lie inside the input (no partial last window
// from ceil mode): the fast paths.
#define TWO_BY_TWO_INSIDE \
    (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * oh <= h && 2 * ow <= w)

// The divisor of the window at (y0, x0) (its clipped bounds ya..yb, xa..xb): its size within the
// padded input, or with count_include_pad == 0 the number of input elements it covers.
#define AVG_DIVISOR(T)                                                                         \
    (count_include_pad ? (T)(((y0 + kh < h + ph ? y0 + kh : h + ph) - y0) *                    \
                             ((x0 + kw < w + pw ? x0 + kw : w + pw) - x0))                     \
                       : (T)((yb - ya) * (xb - xa)))

#define DEFINE_POOL(T, SUF)                                                                    \
    APUS_INLINE void apus_maxpool_##SUF##_body(const T *x, int64_t planes, int64_t h, int64_t w, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,    \
        int64_t ow, T *y) {                                                                    \
        if (TWO_BY_TWO_INSIDE) {                                                               \
            for (int64_t p = 0; p < planes; p++)                                               \
                for (int64_t oy = 0; oy < oh; oy++) {                                          \
                    const T *r0 = x + (p * h + 2 * oy) * w, *r1 = r0 + w;                       \
                    T *yr = y + (p * oh + oy) * ow;                                            \
                    for (int64_t ox = 0; ox < ow; ox++) {                                      \
                        T a = r0[2 * ox], b = r0[2 * ox + 1], e = r1[2 * ox], f = r1[2 * ox + 1]; \
                        T top = b > a ? b : a, bottom = f > e ? f : e;                         \
                        yr[ox] = bottom > top ? bottom : top;                                  \
                    }                                                                          \
                }                                                                              \
            return;                                                                            \
        }                                                                                      \
        WINDOW_LOOP({                                                                          \
            T m = -(T)INFINITY;                                                                \
            for (int64_t iy = ya; iy < yb; iy++)                                               \
                for (int64_t ix = xa; ix < xb; ix++) { T v = x[base + iy * w + ix]; m = v > m ? v : m; } \
            y[out] = m;                                                                        \
        })                                                                                     \
    }                                                                                          \
    APUS_VARIANTS(apus_maxpool_##SUF, (const T *x, int64_t planes, int64_t h, int64_t w, int64_t kh, \
        int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, T *y), \
        (x, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow, y))                                  \
    APUS_INLINE void apus_maxpool_backward_##SUF##_body(const T *x, const T *g, int64_t planes, int64_t h, int64_t w, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,    \
        int64_t ow, T *dx) {                                                                   \
        if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && h == 2 * oh && w == 2 * ow) { \
            /* 2×2 / stride 2 tiling the input: every input element is written (dx need not be */ \
            /* zeroed), branch-free: the first maximum of each window gets the gradient.        */ \
            for (int64_t p = 0; p < planes; p++)                                               \
                for (int64_t oy = 0; oy < oh; oy++) {                                          \
                    const T *r0 = x + (p * h + 2 * oy) * w, *r1 = r0 + w;                       \
                    T *d0 = dx + (p * h + 2 * oy) * w, *d1 = d0 + w;                            \
                    const T *gr = g + (p * oh + oy) * ow;                                       \
                    for (int64_t ox = 0; ox < ow; ox++) {                                      \
                        int64_t c = 2 * ox;                                                    \
                        T a = r0[c], b = r0[c + 1], e = r1[c], f = r1[c + 1], v = gr[ox];      \
                        int right0 = b > a, right1 = f > e;                                    \
                        T top = right0 ? b : a, bottom = right1 ? f : e;                       \
                        int lower = bottom > top;                                              \
                        d0[c] = (!lower && !right0) ? v : (T)0;                                \
                        d0[c + 1] = (!lower && right0) ? v : (T)0;                             \
                        d1[c] = (lower && !right1) ? v : (T)0;                                 \
                        d1[c + 1] = (lower && right1) ? v : (T)0;                              \
                    }                                                                          \
                }                                                                              \
            return;                                                                            \
        }                                                                                      \
        for (int64_t i = 0; i < planes * h * w; i++) dx[i] = (T)0;                             \
        WINDOW_LOOP({                                                                          \
            T m = -(T)INFINITY; int64_t at = -1;                                               \
            for (int64_t iy = ya; iy < yb; iy++)                                               \
                for (int64_t ix = xa; ix < xb; ix++) {                                         \
                    T v = x[base + iy * w + ix];                                               \
                    if (v > m || at < 0) { m = v; at = base + iy * w + ix; }                  \
                }                                                                              \
            if (at >= 0) dx[at] += g[out];                                                     \
        })                                                                                     \
    }                                                                                          \
    APUS_VARIANTS(apus_maxpool_backward_##SUF, (const T *x, const T *g, int64_t planes, int64_t h, int64_t w, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, T *dx), \
        (x, g, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow, dx))                              \
    APUS_INLINE void apus_avgpool_##SUF##_body(const T *x, int64_t planes, int64_t h, int64_t w, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,    \
        int64_t ow, int count_include_pad, T *y) {                                             \
        WINDOW_LOOP({                                                                          \
            T s = 0;                                                                           \
            for (int64_t iy = ya; iy < yb; iy++)                                               \
                for (int64_t ix = xa; ix < xb; ix++) s += x[base + iy * w + ix];               \
            y[out] = s / AVG_DIVISOR(T);                                                       \
        })                                                                                     \
    }                                                                                          \
    APUS_VARIANTS(apus_avgpool_##SUF, (const T *x, int64_t planes, int64_t h, int64_t w, int64_t kh, \
        int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,    \
        int count_include_pad, T *y), (x, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, y)) \
    void apus_avgpool_backward_##SUF(const T *g, int64_t planes, int64_t h, int64_t w, int64_t kh, \
        int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,    \
        int count_include_pad, T *dx) {                                                        \
        WINDOW_LOOP({                                                                          \
            T v = g[out] / AVG_DIVISOR(T);                                                     \
            for (int64_t iy = ya; iy < yb; iy++)                                               \
                for (int64_t ix = xa; ix < xb; ix++) dx[base + iy * w + ix] += v;              \
        })                                                                                     \
    }

#include <math.h>
DEFINE_POOL(float, f32)
DEFINE_POOL(double, f64)


// One output row of a 2×2-tiled max-pool scatter: each window's four input positions get the
// (masked) cotangent at its recorded maximum and zeros elsewhere; rows d0 = d and d1 = d + ld.
#define SCATTER_ROW_SCALAR(T, SUF)                                                             \
    APUS_INLINE void scatter_row_scalar_##SUF(const T *g, const int32_t *idx, const T *mask,   \
        int32_t row, int32_t w, int64_t from, int64_t ow, T *d, int64_t ld) {                  \
        for (int64_t ox = from; ox < ow; ox++) {                                               \
            T v = mask && !(mask[ox] > 0) ? (T)0 : g[ox];                                      \
            int32_t q = idx[ox] - row - 2 * (int32_t)ox;   /* 0, 1, w or w + 1 */              \
            d[2 * ox] = q == 0 ? v : (T)0;                                                     \
            d[2 * ox + 1] = q == 1 ? v : (T)0;                                                 \
            d[ld + 2 * ox] = q == w ? v : (T)0;                                                \
            d[ld + 2 * ox + 1] = q == w + 1 ? v : (T)0;                                        \
        }                                                                                      \
    }
SCATTER_ROW_SCALAR(float, f32)
SCATTER_ROW_SCALAR(double, f64)

typedef float pool_v16 __attribute__((ext_vector_type(16)));
typedef float pool_v32 __attribute__((ext_vector_type(32)));
typedef int32_t pool_i16 __attribute__((ext_vector_type(16)));

// Float32: 16 windows at a time, the two output rows built by interleaving lanes.
APUS_INLINE void scatter_row_f32(const float *g, const int32_t *idx, const float *mask, int32_t row, int32_t w,
                                 int64_t ow, float *d, int64_t ld) {
    const pool_i16 lane = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    int64_t ox = 0;
    for (; ox + 16 <= ow; ox += 16) {
        pool_v16 v, m;
        pool_i16 at;
        memcpy(&v, g + ox, sizeof v);
        memcpy(&at, idx + ox, sizeof at);
        if (mask) { memcpy(&m, mask + ox, sizeof m); v = m > 0 ? v : 0; }
        pool_i16 q = at - (row + 2 * (int32_t)ox) - lane;
        pool_v16 e0 = q == 0 ? v : 0, e1 = q == 1 ? v : 0, e2 = q == w ? v : 0, e3 = q == w + 1 ? v : 0;
        pool_v32 top = __builtin_shufflevector(e0, e1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                               8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        pool_v32 bottom = __builtin_shufflevector(e2, e3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                  8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        memcpy(d + 2 * ox, &top, sizeof top);
        memcpy(d + ld + 2 * ox, &bottom, sizeof bottom);
    }
    scatter_row_scalar_f32(g, idx, mask, row, w, ox, ow, d, ld);
}

APUS_INLINE void scatter_row_f64(const double *g, const int32_t *idx, const double *mask, int32_t row, int32_t w,
                                 int64_t ow, double *d, int64_t ld) {
    scatter_row_scalar_f64(g, idx, mask, row, w, 0, ow, d, ld);
}

// One output row of 2×2, stride-2 max pooling with indices, from input rows r0 and r1 = r0 + w
// whose first element has plane index row0: the first maximum of each window in row-major order
// wins (strict comparisons, as in the general loop).
#define POOL_ROW_SCALAR(T, SUF)                                                                \
    APUS_INLINE void pool_row_2x2_scalar_##SUF(const T *r0, const T *r1, int32_t row0, int32_t w, \
        int64_t from, int64_t ow, T *y, int32_t *idx) {                                        \
        for (int64_t ox = from; ox < ow; ox++) {                                               \
            int64_t c = 2 * ox;                                                                \
            T a = r0[c], b = r0[c + 1], e = r1[c], f = r1[c + 1];                              \
            int right0 = b > a, right1 = f > e;                                                \
            T top = right0 ? b : a, bottom = right1 ? f : e;                                   \
            int lower = bottom > top;                                                          \
            y[ox] = lower ? bottom : top;                                                      \
            idx[ox] = lower ? row0 + w + (int32_t)c + right1 : row0 + (int32_t)c + right0;     \
        }                                                                                      \
    }
POOL_ROW_SCALAR(float, f32)
POOL_ROW_SCALAR(double, f64)

// Float32: 16 windows at a time, each row's pairs split into even and odd lanes.
APUS_INLINE void pool_row_2x2_f32(const float *r0, const float *r1, int32_t row0, int32_t w, int64_t ow,
                                  float *y, int32_t *idx) {
    const pool_i16 lane = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    int64_t ox = 0;
    for (; ox + 16 <= ow; ox += 16) {
        pool_v32 t, u;
        memcpy(&t, r0 + 2 * ox, sizeof t);
        memcpy(&u, r1 + 2 * ox, sizeof u);
        pool_v16 a = __builtin_shufflevector(t, t, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        pool_v16 b = __builtin_shufflevector(t, t, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        pool_v16 e = __builtin_shufflevector(u, u, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        pool_v16 f = __builtin_shufflevector(u, u, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        pool_i16 right0 = b > a, right1 = f > e;   // −1 where true
        pool_v16 top = right0 ? b : a, bottom = right1 ? f : e;
        pool_i16 lower = bottom > top, c = row0 + 2 * (int32_t)ox + lane;
        pool_v16 m = lower ? bottom : top;
        pool_i16 at = lower ? c + w - right1 : c - right0;
        memcpy(y + ox, &m, sizeof m);
        memcpy(idx + ox, &at, sizeof at);
    }
    pool_row_2x2_scalar_f32(r0, r1, row0, w, ox, ow, y, idx);
}

APUS_INLINE void pool_row_2x2_f64(const double *r0, const double *r1, int32_t row0, int32_t w, int64_t ow,
                                  double *y, int32_t *idx) {
    pool_row_2x2_scalar_f64(r0, r1, row0, w, 0, ow, y, idx);
}

// Max pooling with indices: each output also records where (iy·w + ix within its plane) its
// window's first maximum lies, so the backward pass needs neither the input nor the output.
#define DEFINE_POOL_INDICES(T, SUF)                                                            \
    APUS_INLINE void apus_maxpool_indices_##SUF##_body(const T *x, int64_t planes, int64_t h,  \
        int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,     \
        int64_t oh, int64_t ow, T *y, int32_t *idx) {                                          \
        if (TWO_BY_TWO_INSIDE) {                                                               \
            for (int64_t p = 0; p < planes; p++)                                               \
                for (int64_t oy = 0; oy < oh; oy++) {                                          \
                    const T *r0 = x + (p * h + 2 * oy) * w;                                    \
                    pool_row_2x2_##SUF(r0, r0 + w, (int32_t)(2 * oy * w), (int32_t)w, ow,      \
                                       y + (p * oh + oy) * ow, idx + (p * oh + oy) * ow);      \
                }                                                                              \
            return;                                                                            \
        }                                                                                      \
        WINDOW_LOOP({                                                                          \
            T m = -(T)INFINITY; int64_t at = -1;                                               \
            for (int64_t iy = ya; iy < yb; iy++)                                               \
                for (int64_t ix = xa; ix < xb; ix++) {                                         \
                    T v = x[base + iy * w + ix];                                               \
                    if (v > m || at < 0) { m = v; at = iy * w + ix; }                         \
                }                                                                              \
            y[out] = m;                                                                        \
            idx[out] = (int32_t)at;                                                            \
        })                                                                                     \
    }                                                                                          \
    APUS_VARIANTS(apus_maxpool_indices_##SUF, (const T *x, int64_t planes, int64_t h, int64_t w, \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,    \
        int64_t ow, T *y, int32_t *idx), (x, planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow, y, idx)) \
    APUS_INLINE void apus_maxpool_scatter_##SUF##_body(const T *g, const int32_t *idx, const T *mask,   \
        int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, int tiled, T *dx) {     \
        for (int64_t p = 0; p < planes; p++) {                                                 \
            T *d = dx + p * h * w;                                                             \
            const T *gp = g + p * oh * ow, *mp = mask ? mask + p * oh * ow : 0;                \
            const int32_t *ip = idx + p * oh * ow;                                             \
            if (tiled) { /* 2×2 windows tiling the plane: write each element once */           \
                for (int64_t oy = 0; oy < oh; oy++)                                            \
                    scatter_row_##SUF(gp + oy * ow, ip + oy * ow, mp ? mp + oy * ow : 0,       \
                                      (int32_t)(2 * oy * w), (int32_t)w, ow, d + 2 * oy * w, w); \
                continue;                                                                      \
            }                                                                                  \
            for (int64_t i = 0; i < h * w; i++) d[i] = (T)0;                                   \
            for (int64_t j = 0; j < oh * ow; j++)                                              \
                if (!mp || mp[j] > 0) d[ip[j]] += gp[j];                                       \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_maxpool_scatter_##SUF, (const T *g, const int32_t *idx, const T *mask, int64_t planes, \
        int64_t h, int64_t w, int64_t oh, int64_t ow, int tiled, T *dx), (g, idx, mask, planes, h, w, oh, ow, tiled, dx))

DEFINE_POOL_INDICES(float, f32)
DEFINE_POOL_INDICES(double, f64)

// Window codes: one byte per 2×2 window, its maximum's position (bit 1: lower row, bit 0: right
// column) or APUS_NO_GRADIENT where the maximum is not positive (ReLU's gradient is zero there).
// Converted to and from plane indices a row at a time in L1, so the vector row kernels above serve.
#define APUS_NO_GRADIENT 255
enum { CODE_ROW = 256 };   /* windows per conversion chunk */

// Rows 2·py0 ..< 2·py1 of every plane of the tiled 2×2 scatter above, into dx: row r of plane p at
// dx + p·plane + r·ld. A strip small enough to stay in cache while a kernel reads it, possibly
// inside a padded buffer. The positions come from idx or, when codes is not null, from codes.
APUS_INLINE void apus_maxpool_scatter_rows_f32_body(const float *g, const int32_t *idx, const uint8_t *codes, const float *mask,
    int64_t planes, int64_t w, int64_t oh, int64_t ow, int64_t py0, int64_t py1, int64_t ld, int64_t plane, float *dx) {
    int32_t decoded[CODE_ROW];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = py0; oy < py1; oy++) {
            const int64_t at = p * oh * ow + oy * ow;
            const int32_t row = (int32_t)(2 * oy * w);
            float *d = dx + p * plane + 2 * (oy - py0) * ld;
            if (!codes) {
                scatter_row_f32(g + at, idx + at, mask ? mask + at : 0, row, (int32_t)w, ow, d, ld);
                continue;
            }
            for (int64_t from = 0; from < ow; from += CODE_ROW) {   /* indices counted from the chunk's first window */
                const int64_t n = ow - from < CODE_ROW ? ow - from : CODE_ROW;
                for (int64_t i = 0; i < n; i++) {
                    const int32_t code = codes[at + from + i];
                    decoded[i] = code == APUS_NO_GRADIENT ? -1 : 2 * (int32_t)i + (code >> 1) * (int32_t)w + (code & 1);
                }
                scatter_row_f32(g + at + from, decoded, mask ? mask + at + from : 0, 0, (int32_t)w, n, d + 2 * from, ld);
            }
        }
}
APUS_VARIANTS(apus_maxpool_scatter_rows_f32, (const float *g, const int32_t *idx, const uint8_t *codes, const float *mask,
    int64_t planes, int64_t w, int64_t oh, int64_t ow, int64_t py0, int64_t py1, int64_t ld, int64_t plane, float *dx),
    (g, idx, codes, mask, planes, w, oh, ow, py0, py1, ld, plane, dx))

// Pooled rows py0 ..< py1 of every plane of 2×2, stride-2 max pooling with indices, from a strip
// x [planes, 2·(py1 − py0), w] of the input rows 2·py0 ..< 2·py1: into y [planes, oh, ow] and
// either idx [planes, oh, ow] (indices within the whole input plane, as apus_maxpool_indices_f32
// writes them) or, when codes is not null, codes [planes, oh, ow].
APUS_INLINE void apus_maxpool_rows_f32_body(const float *x, int64_t planes, int64_t w, int64_t oh, int64_t ow,
    int64_t py0, int64_t py1, float *y, int32_t *idx, uint8_t *codes) {
    int32_t found[CODE_ROW];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = py0; oy < py1; oy++) {
            const float *r0 = x + (p * 2 * (py1 - py0) + 2 * (oy - py0)) * w;
            const int64_t at = p * oh * ow + oy * ow;
            const int32_t row = (int32_t)(2 * oy * w);
            if (!codes) {
                pool_row_2x2_f32(r0, r0 + w, row, (int32_t)w, ow, y + at, idx + at);
                continue;
            }
            for (int64_t from = 0; from < ow; from += CODE_ROW) {   /* indices counted from the chunk's first window */
                const int64_t n = ow - from < CODE_ROW ? ow - from : CODE_ROW;
                pool_row_2x2_f32(r0 + 2 * from, r0 + w + 2 * from, 0, (int32_t)w, n, y + at + from, found);
                for (int64_t i = 0; i < n; i++) {
                    const int32_t q = found[i] - 2 * (int32_t)i;   /* 0, 1, w or w + 1 */
                    codes[at + from + i] = !(y[at + from + i] > 0) ? APUS_NO_GRADIENT : (uint8_t)(q >= w ? 2 + q - (int32_t)w : q);
                }
            }
        }
}
APUS_VARIANTS(apus_maxpool_rows_f32, (const float *x, int64_t planes, int64_t w, int64_t oh, int64_t ow,
    int64_t py0, int64_t py1, float *y, int32_t *idx, uint8_t *codes), (x, planes, w, oh, ow, py0, py1, y, idx, codes))
