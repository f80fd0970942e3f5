// Direct 3×3 convolution (stride 1, no dilation, one group) for layers with few input channels,
// such as the first layer of an image network (C = 3): there im2col + GEMM has an inner
// dimension of only C·9 = 27, so it is bound by writing and reading the column matrix. These
// kernels read a zero-padded copy of the image instead and keep 16 output pixels of several
// channels in vector registers.
#include <string.h>
#include "dispatch.h"

typedef float apus_v16 __attribute__((ext_vector_type(16)));

// Output channels per block in the forward kernel (accumulators: 8 vectors).
#define FORWARD_BLOCK 8
// Output rows per strip of the weight-gradient kernel (its data stays in L2).
#define WGRAD_STRIP 8

APUS_INLINE apus_v16 load16(const float *p) { apus_v16 v; memcpy(&v, p, sizeof v); return v; }

// The first n (≤ 16) floats at p, the other lanes zero.
APUS_INLINE apus_v16 load_first(const float *p, int64_t n) {
    if (n >= 16) return load16(p);
    apus_v16 v = 0;
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

void apus_pad_image_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                        int64_t hp, int64_t wp, float *xp) {
    memset(xp, 0, (size_t)(c * hp * wp) * sizeof(float));
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t y = 0; y < h; y++)
            memcpy(xp + (ci * hp + y + ph) * wp + pw, x + (ci * h + y) * w, (size_t)w * sizeof(float));
}

APUS_INLINE void apus_conv3x3_direct_f32_body(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *w,
    int64_t o, const float *bias, int relu, int64_t oh, int64_t ow, float *y) {
    for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t o0 = 0; o0 < o; o0 += FORWARD_BLOCK) {
            int64_t nb = o - o0 < FORWARD_BLOCK ? o - o0 : FORWARD_BLOCK;
            for (int64_t ox = 0; ox < ow; ox += 16) {
                apus_v16 acc[FORWARD_BLOCK];
                for (int b = 0; b < FORWARD_BLOCK; b++) acc[b] = b < nb && bias ? bias[o0 + b] : 0.0f;
                for (int64_t ci = 0; ci < c; ci++)
                    for (int ky = 0; ky < 3; ky++) {
                        const float *row = xp + (ci * hp + oy + ky) * wp + ox;
                        for (int kx = 0; kx < 3; kx++) {
                            apus_v16 xv = load16(row + kx);
                            const float *wk = w + (o0 * c + ci) * 9 + ky * 3 + kx;
                            for (int b = 0; b < FORWARD_BLOCK; b++)
                                if (b < nb) acc[b] += wk[b * c * 9] * xv;
                        }
                    }
                int64_t n = ow - ox < 16 ? ow - ox : 16;
                for (int64_t b = 0; b < nb; b++) {
                    apus_v16 v = acc[b];
                    if (relu) v = v > 0 ? v : 0;
                    memcpy(y + ((o0 + b) * oh + oy) * ow + ox, &v, (size_t)n * sizeof(float));
                }
            }
        }
}
APUS_VARIANTS(apus_conv3x3_direct_f32, (const float *xp, int64_t c, int64_t hp, int64_t wp, const float *w,
    int64_t o, const float *bias, int relu, int64_t oh, int64_t ow, float *y), (xp, c, hp, wp, w, o, bias, relu, oh, ow, y))

APUS_INLINE void apus_conv3x3_direct_wgrad_f32_body(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g,
    int64_t o, int64_t oh, int64_t ow, float *acc) {
    for (int64_t oy0 = 0; oy0 < oh; oy0 += WGRAD_STRIP) {
        int64_t oy1 = oy0 + WGRAD_STRIP < oh ? oy0 + WGRAD_STRIP : oh;
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t o0 = 0; o0 < o; o0 += 2) {
                int two = o - o0 >= 2;
                float *acc0 = acc + ((o0 * c + ci) * 9) * 16, *acc1 = two ? acc + (((o0 + 1) * c + ci) * 9) * 16 : acc0;
                apus_v16 a0[9], a1[9];
                for (int t = 0; t < 9; t++) { a0[t] = load16(acc0 + 16 * t); a1[t] = two ? load16(acc1 + 16 * t) : 0; }
                for (int64_t oy = oy0; oy < oy1; oy++)
                    for (int64_t ox = 0; ox < ow; ox += 16) {
                        int64_t n = ow - ox;
                        apus_v16 g0 = load_first(g + (o0 * oh + oy) * ow + ox, n);
                        apus_v16 g1 = two ? load_first(g + ((o0 + 1) * oh + oy) * ow + ox, n) : 0;
                        for (int ky = 0; ky < 3; ky++) {
                            const float *row = xp + (ci * hp + oy + ky) * wp + ox;
                            for (int kx = 0; kx < 3; kx++) {
                                apus_v16 xv = load16(row + kx);
                                a0[ky * 3 + kx] += g0 * xv;
                                a1[ky * 3 + kx] += g1 * xv;
                            }
                        }
                    }
                for (int t = 0; t < 9; t++) {
                    memcpy(acc0 + 16 * t, &a0[t], sizeof(apus_v16));
                    if (two) memcpy(acc1 + 16 * t, &a1[t], sizeof(apus_v16));
                }
            }
    }
}
APUS_VARIANTS(apus_conv3x3_direct_wgrad_f32, (const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g,
    int64_t o, int64_t oh, int64_t ow, float *acc), (xp, c, hp, wp, g, o, oh, ow, acc))

void apus_sum_lanes_f32(const float *acc, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        float s = 0;
        for (int l = 0; l < 16; l++) s += acc[i * 16 + l];
        out[i] += s;
    }
}
