// Direct 3×3 convolution (stride 1, no dilation, one group). The forward kernel (also the input
// gradient, as a convolution of the output gradient with the flipped weights) keeps up to 48
// output pixels × 8 output channels in vector registers and reads a zero-padded copy of the
// image: no column matrix is written or read. The weight-gradient kernel transposes a strip of
// the output gradient to [pixel, channel] and keeps 32 output channels × 9 taps of one input
// channel in registers while it runs over the strip's pixels; for images of few channels a
// second one runs its vectors along the pixels instead.
#include "vector16.h"

// Output channels per block in the forward kernel (accumulators: up to 3 × 8 vectors).
#define FORWARD_BLOCK 8
// Elements of the transposed output-gradient strip of the weight-gradient kernel (≈ 256 KB: L2).
#define WGRAD_STRIP_ELEMENTS 65536

// The sum of the 16 lanes.
APUS_INLINE float sum16(apus_v16 v) {
    apus_v16 h = v + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    float lanes[8];
    memcpy(lanes, &h, sizeof lanes);
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

void apus_pad_rows_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                       int64_t r0, int64_t rows, int64_t wp, float *xp) {
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t r = 0; r < rows; r++) {
            float *d = xp + (ci * rows + r) * wp;
            const int64_t y = r0 + r - ph;
            if (y < 0 || y >= h) { memset(d, 0, (size_t)wp * sizeof(float)); continue; }
            memset(d, 0, (size_t)pw * sizeof(float));
            memcpy(d + pw, x + (ci * h + y) * w, (size_t)w * sizeof(float));
            memset(d + pw + w, 0, (size_t)(wp - pw - w) * sizeof(float));
        }
}

void apus_pad_image_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                        int64_t hp, int64_t wp, float *xp) {
    apus_pad_rows_f32(x, c, h, w, ph, pw, 0, hp, wp, xp);
}

void apus_pack_conv3x3_weights_f32(const float *w, int64_t o, int64_t c, int flip, float *packed) {
    int64_t blocks = (o + FORWARD_BLOCK - 1) / FORWARD_BLOCK;
    memset(packed, 0, (size_t)(blocks * c * 9 * FORWARD_BLOCK) * sizeof(float));
    for (int64_t oi = 0; oi < o; oi++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int t = 0; t < 9; t++) {
                // flip: w is [C', O', 3, 3] and the kernel wants [O', C', 3, 3] rotated by 180°
                // (the input gradient as a convolution of the output gradient).
                float v = flip ? w[(ci * o + oi) * 9 + (8 - t)] : w[(oi * c + ci) * 9 + t];
                packed[(((oi / FORWARD_BLOCK) * c + ci) * 9 + t) * FORWARD_BLOCK + oi % FORWARD_BLOCK] = v;
            }
}

// NV tiles of 16 output pixels (tile t: output row oy[t], columns ox[t]..) × FORWARD_BLOCK
// output channels, accumulated over every input channel and tap: per tap NV input loads and
// FORWARD_BLOCK weight broadcasts feed NV·FORWARD_BLOCK FMAs. Tiles may lie on different rows,
// so narrow images (16 or 32 pixels wide) still fill the registers.
#define DEFINE_CONV_TILES(NV)                                                                  \
    APUS_INLINE void conv_tiles_##NV(const float *xp, int64_t c, int64_t hp, int64_t wp,       \
        const float *wb, const float *bias, int relu, int64_t nb, const int64_t *oy,           \
        const int64_t *ox, int64_t ow, int64_t plane, float *y) {                              \
        apus_v16 acc[NV][FORWARD_BLOCK];                                                       \
        for (int b = 0; b < FORWARD_BLOCK; b++) {                                              \
            float init = b < nb && bias ? bias[b] : 0.0f;                                      \
            for (int v = 0; v < NV; v++) acc[v][b] = init;                                     \
        }                                                                                      \
        for (int64_t ci = 0; ci < c; ci++)                                                     \
            for (int ky = 0; ky < 3; ky++) {                                                   \
                const float *rows[NV];                                                         \
                for (int v = 0; v < NV; v++) rows[v] = xp + (ci * hp + oy[v] + ky) * wp + ox[v]; \
                const float *wk = wb + (ci * 9 + ky * 3) * FORWARD_BLOCK;                      \
                for (int kx = 0; kx < 3; kx++) {                                               \
                    apus_v16 xv[NV];                                                           \
                    for (int v = 0; v < NV; v++) xv[v] = load16(rows[v] + kx);                 \
                    for (int b = 0; b < FORWARD_BLOCK; b++) {                                  \
                        float wv = wk[kx * FORWARD_BLOCK + b];                                 \
                        for (int v = 0; v < NV; v++) acc[v][b] += wv * xv[v];                  \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
        for (int64_t b = 0; b < nb; b++)                                                       \
            for (int v = 0; v < NV; v++) {                                                     \
                int64_t n = ow - ox[v] < 16 ? ow - ox[v] : 16;                                 \
                apus_v16 r = acc[v][b];                                                        \
                if (relu) r = r > 0 ? r : 0;                                                   \
                float *to = y + b * plane + oy[v] * ow + ox[v];                                \
                if (n == 16) memcpy(to, &r, sizeof r); /* one vector store, not a call */      \
                else memcpy(to, &r, (size_t)n * sizeof(float));                                \
            }                                                                                  \
    }
DEFINE_CONV_TILES(1)
DEFINE_CONV_TILES(2)
DEFINE_CONV_TILES(3)

APUS_INLINE void apus_conv3x3_direct_f32_body(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *packed,
    int64_t o, const float *bias, int relu, int64_t oh, int64_t ow, int64_t y_plane, float *y) {
    const int64_t per_row = (ow + 15) / 16, tiles = oh * per_row;
    for (int64_t o0 = 0; o0 < o; o0 += FORWARD_BLOCK) {
        int64_t nb = o - o0 < FORWARD_BLOCK ? o - o0 : FORWARD_BLOCK;
        const float *wb = packed + (o0 / FORWARD_BLOCK) * c * 9 * FORWARD_BLOCK;
        const float *bb = bias ? bias + o0 : 0;
        float *yb = y + o0 * y_plane;
        for (int64_t t = 0; t < tiles; t += 3) {
            int64_t oy[3], ox[3], count = tiles - t < 3 ? tiles - t : 3;
            for (int64_t v = 0; v < count; v++) { oy[v] = (t + v) / per_row; ox[v] = (t + v) % per_row * 16; }
            if (count == 3) conv_tiles_3(xp, c, hp, wp, wb, bb, relu, nb, oy, ox, ow, y_plane, yb);
            else if (count == 2) conv_tiles_2(xp, c, hp, wp, wb, bb, relu, nb, oy, ox, ow, y_plane, yb);
            else conv_tiles_1(xp, c, hp, wp, wb, bb, relu, nb, oy, ox, ow, y_plane, yb);
        }
    }
}
APUS_VARIANTS(apus_conv3x3_direct_f32, (const float *xp, int64_t c, int64_t hp, int64_t wp, const float *packed,
    int64_t o, const float *bias, int relu, int64_t oh, int64_t ow, int64_t y_plane, float *y),
    (xp, c, hp, wp, packed, o, bias, relu, oh, ow, y_plane, y))

int64_t apus_conv3x3_wgrad_strip_rows(int64_t o, int64_t ow) {
    const int64_t strip = WGRAD_STRIP_ELEMENTS / (ow * ((o + 31) / 32 * 32));
    return strip < 1 ? 1 : strip;
}

APUS_INLINE void apus_conv3x3_direct_wgrad_f32_body(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g,
    int64_t g_row, int64_t g_plane, int64_t o, int64_t oh, int64_t ow, float *gt, float *acc, float *bias_acc) {
    const int64_t o32 = (o + 31) / 32 * 32, strip = apus_conv3x3_wgrad_strip_rows(o, ow);
    for (int64_t oy0 = 0; oy0 < oh; oy0 += strip) {
        int64_t rows = oh - oy0 < strip ? oh - oy0 : strip, pixels = rows * ow;
        // This strip of the output gradient, transposed to [pixel, channel] (channels padded to
        // 32) in 16 × 16 blocks held in registers: 16 channel loads and 16 pixel stores each.
        // Blocks run along pixels of the flattened strip when its rows are contiguous, else along each row.
        const int64_t run = g_row == ow ? pixels : ow;
        for (int64_t p0 = 0, n; p0 < pixels; p0 += n) {
            n = run - p0 % run < 16 ? run - p0 % run : 16;
            const float *gs = g + (oy0 + p0 / run) * g_row + p0 % run;
            for (int64_t oi0 = 0; oi0 < o32; oi0 += 16) {
                apus_v16 r[16];
#pragma unroll
                for (int i = 0; i < 16; i++) {
                    r[i] = oi0 + i < o ? load_first(gs + (oi0 + i) * g_plane, n) : (apus_v16)0;
                    if (bias_acc && oi0 + i < o) {   // lane-wise partial sums: no serial chain of additions
                        apus_v16 lanes = load16(bias_acc + 16 * (oi0 + i)) + r[i];
                        memcpy(bias_acc + 16 * (oi0 + i), &lanes, sizeof lanes);
                    }
                }
                transpose16(r);
#pragma unroll
                for (int j = 0; j < 16; j++)
                    if (j < n) memcpy(gt + (p0 + j) * o32 + oi0, &r[j], sizeof(apus_v16));
            }
        }
        for (int64_t ob = 0; ob < o32; ob += 32)
            for (int64_t ci = 0; ci < c; ci++) {
                float *a = acc + ci * 9 * o32 + ob;
                apus_v16 lo[9], hi[9];
                for (int t = 0; t < 9; t++) { lo[t] = load16(a + t * o32); hi[t] = load16(a + t * o32 + 16); }
                for (int64_t r = 0; r < rows; r++) {
                    const float *x0 = xp + (ci * hp + oy0 + r) * wp, *x1 = x0 + wp, *x2 = x1 + wp;
                    const float *gr = gt + r * ow * o32 + ob;
                    for (int64_t ox = 0; ox < ow; ox++) {
                        apus_v16 g0 = load16(gr + ox * o32), g1 = load16(gr + ox * o32 + 16);
                        const float *xs[3] = {x0 + ox, x1 + ox, x2 + ox};
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                float v = xs[ky][kx];
                                lo[ky * 3 + kx] += v * g0;
                                hi[ky * 3 + kx] += v * g1;
                            }
                    }
                }
                for (int t = 0; t < 9; t++) { memcpy(a + t * o32, &lo[t], sizeof(apus_v16)); memcpy(a + t * o32 + 16, &hi[t], sizeof(apus_v16)); }
            }
    }
}
APUS_VARIANTS(apus_conv3x3_direct_wgrad_f32, (const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g,
    int64_t g_row, int64_t g_plane, int64_t o, int64_t oh, int64_t ow, float *gt, float *acc, float *bias_acc),
    (xp, c, hp, wp, g, g_row, g_plane, o, oh, ow, gt, acc, bias_acc))

// The weight gradient for few input channels (C ≤ 4, an RGB image), where transposing the
// cotangent would cost more than the few FMAs it feeds: vectors run along 16 output pixels of a
// row, and 3 output channels × 9 taps of one input channel accumulate in registers over a strip
// of rows (per 16 pixels: 3 cotangent and 9 input loads feed 27 FMAs), then are summed across
// lanes. Same accumulators as the kernel above ([C, 9, O32] += sums; bias [O, 16] += lane sums).
APUS_INLINE void apus_conv3x3_wgrad_lanes_f32_body(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g,
    int64_t g_row, int64_t g_plane, int64_t o, int64_t oh, int64_t ow, float *acc, float *bias_acc) {
    const int64_t o32 = (o + 31) / 32 * 32;
    int64_t strip = 131072 / (o * ow);   // the strip's cotangent, every channel: ≈ 512 KB, in L2
    if (strip < 1) strip = 1;
    for (int64_t oy0 = 0; oy0 < oh; oy0 += strip) {
        const int64_t rows = oh - oy0 < strip ? oh - oy0 : strip;
        if (bias_acc)
            for (int64_t oi = 0; oi < o; oi++) {
                apus_v16 lanes = load16(bias_acc + 16 * oi);
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t ox = 0; ox < ow; ox += 16) lanes += load_first(g + oi * g_plane + (oy0 + r) * g_row + ox, ow - ox);
                memcpy(bias_acc + 16 * oi, &lanes, sizeof lanes);
            }
        for (int64_t o0 = 0; o0 < o; o0 += 3) {
            const int64_t k = o - o0 < 3 ? o - o0 : 3;   // channels of this block; missing ones repeat the last, unused
            const float *g0 = g + o0 * g_plane + oy0 * g_row, *g1 = k > 1 ? g0 + g_plane : g0, *g2 = k > 2 ? g1 + g_plane : g1;
            for (int64_t ci = 0; ci < c; ci++) {
                apus_v16 a0[9], a1[9], a2[9];
#pragma unroll
                for (int t = 0; t < 9; t++) { a0[t] = 0; a1[t] = 0; a2[t] = 0; }
                for (int64_t r = 0; r < rows; r++) {
                    const float *x0 = xp + (ci * hp + oy0 + r) * wp;
                    for (int64_t ox = 0; ox < ow; ox += 16) {
                        const int64_t n = ow - ox < 16 ? ow - ox : 16;
                        const apus_v16 v0 = load_first(g0 + r * g_row + ox, n), v1 = load_first(g1 + r * g_row + ox, n),
                                       v2 = load_first(g2 + r * g_row + ox, n);
#pragma unroll
                        for (int ky = 0; ky < 3; ky++)
#pragma unroll
                            for (int kx = 0; kx < 3; kx++) {
                                const apus_v16 v = load_first(x0 + ky * wp + ox + kx, n);
                                a0[ky * 3 + kx] += v * v0;
                                a1[ky * 3 + kx] += v * v1;
                                a2[ky * 3 + kx] += v * v2;
                            }
                    }
                }
                float *out = acc + ci * 9 * o32 + o0;
#pragma unroll
                for (int t = 0; t < 9; t++) {
                    out[t * o32] += sum16(a0[t]);
                    if (k > 1) out[t * o32 + 1] += sum16(a1[t]);
                    if (k > 2) out[t * o32 + 2] += sum16(a2[t]);
                }
            }
        }
    }
}
APUS_VARIANTS(apus_conv3x3_wgrad_lanes_f32, (const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g,
    int64_t g_row, int64_t g_plane, int64_t o, int64_t oh, int64_t ow, float *acc, float *bias_acc),
    (xp, c, hp, wp, g, g_row, g_plane, o, oh, ow, acc, bias_acc))

void apus_conv3x3_wgrad_finish_f32(const float *acc, int64_t o, int64_t c, float *dw) {
    const int64_t o32 = (o + 31) / 32 * 32;
    for (int64_t oi = 0; oi < o; oi++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int t = 0; t < 9; t++) dw[(oi * c + ci) * 9 + t] += acc[(ci * 9 + t) * o32 + oi];
}
