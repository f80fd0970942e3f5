// im2col / col2im for convolution as GEMM: one image [C, H, W] ↔ columns [C*KH*KW, pixels] for
// the output rows oy0..<oy1 (rows of the column matrix `ld` elements apart), so a convolution
// can work through an image in blocks of rows whose columns stay in cache.
#include <string.h>
#include "dispatch.h"

// Output columns lo…hi − 1 of a row read input columns ox·sw + x0 inside 0…w − 1; the ones
// outside are padding. Splitting them off leaves the interior loops without branches, so they
// vectorise (stride 2 included).
static inline void interior_columns(int64_t ow, int64_t sw, int64_t x0, int64_t w, int64_t *lo, int64_t *hi) {
    int64_t first = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw;          // first ox with ox·sw + x0 ≥ 0
    int64_t end = w - x0 <= 0 ? 0 : (w - x0 + sw - 1) / sw;     // first ox with ox·sw + x0 ≥ w
    *lo = first < ow ? first : ow;
    *hi = end < *lo ? *lo : (end < ow ? end : ow);
}

#define DEFINE_IM2COL(T, SUF)                                                                  \
    APUS_INLINE void apus_im2col_##SUF##_body(const T *x, int64_t c, int64_t h, int64_t w,     \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,    \
        int64_t dw, int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, T *col) {                \
        for (int64_t ci = 0; ci < c; ci++)                                                     \
            for (int64_t ki = 0; ki < kh; ki++)                                                \
                for (int64_t kj = 0; kj < kw; kj++) {                                          \
                    T *dst = col + ((ci * kh + ki) * kw + kj) * ld;                       \
                    const T *src = x + ci * h * w;                                             \
                    int64_t x0 = kj * dw - pw, lo, hi;                                         \
                    interior_columns(ow, sw, x0, w, &lo, &hi);                                 \
                    for (int64_t oy = oy0; oy < oy1; oy++) {                                   \
                        int64_t iy = oy * sh - ph + ki * dh;                                   \
                        T *d = dst + (oy - oy0) * ow;                                          \
                        if (iy < 0 || iy >= h) { memset(d, 0, sizeof(T) * (size_t)ow); continue; } \
                        const T *srow = src + iy * w;                                          \
                        for (int64_t ox = 0; ox < lo; ox++) d[ox] = (T)0;                      \
                        if (sw == 1) for (int64_t ox = lo; ox < hi; ox++) d[ox] = srow[ox + x0]; \
                        else if (sw == 2) for (int64_t ox = lo; ox < hi; ox++) d[ox] = srow[2 * ox + x0]; \
                        else for (int64_t ox = lo; ox < hi; ox++) d[ox] = srow[ox * sw + x0];  \
                        for (int64_t ox = hi; ox < ow; ox++) d[ox] = (T)0;                     \
                    }                                                                          \
                }                                                                              \
    }                                                                                          \
    APUS_VARIANTS(apus_im2col_##SUF, (const T *x, int64_t c, int64_t h, int64_t w, int64_t kh, \
        int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,    \
        int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, T *col), (x, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oy0, oy1, ow, ld, col)) \
    APUS_INLINE void apus_col2im_##SUF##_body(const T *col, int64_t c, int64_t h, int64_t w,   \
        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,    \
        int64_t dw, int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, T *x) {                  \
        for (int64_t ci = 0; ci < c; ci++)                                                     \
            for (int64_t ki = 0; ki < kh; ki++)                                                \
                for (int64_t kj = 0; kj < kw; kj++) {                                          \
                    const T *srcc = col + ((ci * kh + ki) * kw + kj) * ld;                \
                    T *dst = x + ci * h * w;                                                   \
                    int64_t x0 = kj * dw - pw, lo, hi;                                         \
                    interior_columns(ow, sw, x0, w, &lo, &hi);                                 \
                    for (int64_t oy = oy0; oy < oy1; oy++) {                                   \
                        int64_t iy = oy * sh - ph + ki * dh;                                   \
                        if (iy < 0 || iy >= h) continue;                                       \
                        const T *s = srcc + (oy - oy0) * ow;                                   \
                        T *drow = dst + iy * w;                                                \
                        if (sw == 1) for (int64_t ox = lo; ox < hi; ox++) drow[ox + x0] += s[ox]; \
                        else for (int64_t ox = lo; ox < hi; ox++) drow[ox * sw + x0] += s[ox]; \
                    }                                                                          \
                }                                                                              \
    }                                                                                          \
    APUS_VARIANTS(apus_col2im_##SUF, (const T *col, int64_t c, int64_t h, int64_t w, int64_t kh, \
        int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,    \
        int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, T *x), (col, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oy0, oy1, ow, ld, x))

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

// The epilogue of a fused convolution: y[c, p] = y[c, p] + bias[c] (bias may be NULL), then
// max(·, 0) when `relu`, in place over [channels, pixels].
#define DEFINE_BIAS_RELU(T, SUF)                                                               \
    APUS_INLINE void apus_bias_relu_##SUF##_body(int64_t channels, int64_t pixels, T *y, const T *bias, int relu) { \
        for (int64_t c = 0; c < channels; c++) {                                               \
            T b = bias ? bias[c] : (T)0;                                                       \
            T *row = y + c * pixels;                                                           \
            if (relu) for (int64_t p = 0; p < pixels; p++) { T v = row[p] + b; row[p] = v > 0 ? v : (T)0; } \
            else for (int64_t p = 0; p < pixels; p++) row[p] += b;                              \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_bias_relu_##SUF, (int64_t channels, int64_t pixels, T *y, const T *bias, int relu), \
                  (channels, pixels, y, bias, relu))

DEFINE_BIAS_RELU(float, f32)
DEFINE_BIAS_RELU(double, f64)

// Several small images side by side: rows r of images [rows, pixels] (`stride` bytes apart)
// gathered into one matrix [rows, images·pixels] (image j at column j·pixels), and back.
void apus_gather_images(const void *src, int64_t images, int64_t stride, int64_t rows, int64_t row_bytes, void *dst) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < images; j++)
            memcpy((char *)dst + (r * images + j) * row_bytes, (const char *)src + j * stride + r * row_bytes, (size_t)row_bytes);
}

void apus_scatter_images(const void *src, int64_t images, int64_t stride, int64_t rows, int64_t row_bytes, void *dst) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < images; j++)
            memcpy((char *)dst + j * stride + r * row_bytes, (const char *)src + (r * images + j) * row_bytes, (size_t)row_bytes);
}
