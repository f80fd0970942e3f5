// The backward pass of a 3×3 convolution (stride 1, padding 1) whose ReLU output is max-pooled
// by 2×2 windows, read straight from the pooling's window codes. Each window passes its
// gradient to one pixel of the convolution's output (or to none, code 255), so three quarters
// or more of the output cotangent is zero; a dense backward pass spends its multiplications on
// those zeros. Here each window's gradient g, at the pixel its code names, adds g × the 3×3
// input patch there to the weight gradient and g × the weights to the input gradient's 3×3
// patch: a quarter of the dense passes' multiplications or fewer (when the channels fill whole
// vectors: 19 channels run as 32). Vectors run along 16 input channels, so the input and its
// gradient are held channel-last ([H + 2][W + 2][C16], a zero border of one pixel, channels
// padded to a multiple of 16).
#include "vector16.h"

// The L1 data cache a strip's rows should fit in (48 KB on the Xeons this was tuned on; 32 KB
// on many others, where a few strips run fused that would have run split).
#define L1_BYTES 49152

// Rows r0 ..< r1 of the channel-last padded copy xt [(h + 2)][(w + 2)][c16] of one image x
// [c, h, w]: padded row r holds image row r − 1 from column 1, zeros around it and in the
// channels from c to c16.
APUS_INLINE void apus_nchw_to_padded_nhwc_rows_f32_body(const float *x, int64_t c, int64_t h, int64_t w, int64_t c16,
    int64_t r0, int64_t r1, float *xt) {
    const int64_t wp = w + 2;
    for (int64_t r = r0; r < r1; r++) {
        float *row = xt + r * wp * c16;
        if (r == 0 || r == h + 1) { memset(row, 0, (size_t)(wp * c16) * sizeof(float)); continue; }
        memset(row, 0, (size_t)c16 * sizeof(float));
        memset(row + (w + 1) * c16, 0, (size_t)c16 * sizeof(float));
        const float *src = x + (r - 1) * w;
        for (int64_t x0 = 0; x0 < w; x0 += 16) {
            const int64_t n = w - x0 < 16 ? w - x0 : 16;
            for (int64_t c0 = 0; c0 < c16; c0 += 16) {
                apus_v16 v[16];
#pragma unroll
                for (int i = 0; i < 16; i++) v[i] = c0 + i < c ? load_first(src + (c0 + i) * h * w + x0, n) : (apus_v16)0;
                transpose16(v);
                for (int64_t j = 0; j < n; j++) store16(row + (x0 + j + 1) * c16 + c0, v[j]);
            }
        }
    }
}
APUS_VARIANTS(apus_nchw_to_padded_nhwc_rows_f32, (const float *x, int64_t c, int64_t h, int64_t w, int64_t c16,
    int64_t r0, int64_t r1, float *xt), (x, c, h, w, c16, r0, r1, xt))

// Image rows y0 ..< y1 of dx [c, h, w] from the interior of the channel-last padded buffer
// dxt [(h + 2)][(w + 2)][c16] (image row y is padded row y + 1, from column 1).
APUS_INLINE void apus_padded_nhwc_to_nchw_rows_f32_body(const float *dxt, int64_t c, int64_t h, int64_t w, int64_t c16,
    int64_t y0, int64_t y1, float *dx) {
    const int64_t wp = w + 2;
    for (int64_t y = y0; y < y1; y++) {
        const float *row = dxt + (y + 1) * wp * c16;
        for (int64_t x0 = 0; x0 < w; x0 += 16) {
            const int64_t n = w - x0 < 16 ? w - x0 : 16;
            for (int64_t c0 = 0; c0 < c; c0 += 16) {
                apus_v16 r[16];
#pragma unroll
                for (int j = 0; j < 16; j++) r[j] = j < n ? load16(row + (x0 + j + 1) * c16 + c0) : (apus_v16)0;
                transpose16(r);
                for (int64_t i = 0; i < 16 && c0 + i < c; i++) {
                    float *to = dx + ((c0 + i) * h + y) * w + x0;
                    if (n == 16) store16(to, r[i]);
                    else memcpy(to, &r[i], (size_t)n * sizeof(float));
                }
            }
        }
    }
}
APUS_VARIANTS(apus_padded_nhwc_to_nchw_rows_f32, (const float *dxt, int64_t c, int64_t h, int64_t w, int64_t c16,
    int64_t y0, int64_t y1, float *dx), (dxt, c, h, w, c16, y0, y1, dx))

// The pixels of output row y of channel o that get a gradient (the windows of row y/2 whose
// maximum lies in row y), left to right: their 3×3 patches' first elements in the padded
// channel-last buffers (pixel (y, x) reads padded rows y ..< y + 3, columns x ..< x + 3) and
// their gradients. No branch: each window is written and counted only when it belongs.
APUS_INLINE int64_t gradient_pixels(const float *gp, const uint8_t *codes, int64_t o, int64_t ph, int64_t pw, int64_t y,
    int64_t wp, int64_t c16, int32_t *offset, float *gradient) {
    const int64_t at = (o * ph + y / 2) * pw;
    const int dy = (int)(y & 1);
    int64_t n = 0;
    for (int64_t px = 0; px < pw; px++) {
        const int k = codes[at + px];
        offset[n] = (int32_t)((y * wp + 2 * px + (k & 1)) * c16);
        gradient[n] = gp[at + px];
        n += (k >> 1) == dy;   // code 255 has no row bit of 0 or 1: never counted
    }
    return n;
}

// One row's pixels, 16 channels: acc[tap] += g · xt[patch + tap] (when wgrad) and
// dxt[patch + tap] += g · wv[tap] for kernel rows ky0 ..< ky1 (when dxt is not null). Inlined
// with constant flags, so each kind of row gets its own loop.
APUS_INLINE void run_pixels(int64_t n, const int32_t *restrict offset, const float *restrict gradient, const float *restrict xt,
    float *restrict dxt, const int64_t *taps, apus_v16 acc[9], const apus_v16 wv[9], int wgrad, int ky0, int ky1) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gradient[i];
        if (wgrad) {
            const float *xs = xt + offset[i];
#pragma unroll
            for (int t = 0; t < 9; t++) acc[t] += g * load16(xs + taps[t]);
        }
        if (dxt) {
            float *ds = dxt + offset[i];
#pragma unroll
            for (int t = 0; t < 9; t++)
                if (t / 3 >= ky0 && t / 3 < ky1) store16(ds + taps[t], load16(ds + taps[t]) + g * wv[t]);
        }
    }
}

// Output channel oi's pixels of a strip (rows y0 ..< y0 + rows, lists as below), 16 channels:
// its weight gradient (when weights) and input gradient (when dxt is not null). The rows just
// outside the strip (above, below) add only the taps that land inside it. Inlined with
// constant flags.
APUS_INLINE void strip_channel(const int32_t *offsets, const float *gradients, const int32_t *counts, int64_t rows, int64_t pw,
    int64_t y0, int64_t py0, int64_t py1, int above, int below, const float *xt, float *dxt, const float *wv_at, float *acc_at,
    int64_t c16, const int64_t *taps, int weights) {
    apus_v16 acc[9], wv[9];
#pragma unroll
    for (int t = 0; t < 9; t++) {
        acc[t] = weights ? load16(acc_at + t * c16) : (apus_v16)0;
        wv[t] = dxt ? load16(wv_at + t * c16) : (apus_v16)0;
    }
    for (int64_t r = 0; r < rows; r++) {
        const int64_t y = y0 + r, n = counts[r];
        const int32_t *of = offsets + r * pw;
        const float *gr = gradients + r * pw;
        if (above && r == 0) { if (dxt) run_pixels(n, of, gr, xt, dxt, taps, acc, wv, 0, 2, 3); }
        else if (below && r == rows - 1) { if (dxt) run_pixels(n, of, gr, xt, dxt, taps, acc, wv, 0, 0, 1); }
        else if (above && y == 2 * py0) run_pixels(n, of, gr, xt, dxt, taps, acc, wv, weights, 1, 3);
        else if (below && y == 2 * py1 - 1) run_pixels(n, of, gr, xt, dxt, taps, acc, wv, weights, 0, 2);
        else run_pixels(n, of, gr, xt, dxt, taps, acc, wv, weights, 0, 3);
    }
    if (weights)
#pragma unroll
        for (int t = 0; t < 9; t++) store16(acc_at + t * c16, acc[t]);
}

// Window rows py0 ..< py1 (of ph × pw) of one image. For every output pixel (y, x) that gets a
// gradient g (gp [o, ph, pw] at its window, code k ≠ 255: y = 2·py + k/2, x = 2·px + k%2):
//   dwt[o][tap][·] += g · xt[(y, x) + tap][·]          (the weight gradient [o][9][c16])
//   dxt[(y, x) + tap][·] += g · wt[o][tap][·]           (the input gradient, when dxt is not null)
//   lanes[o][l] += g, l = ((y mod lane_rows)·2·pw + x) mod 16   (the bias gradient, when lanes is not null)
// xt, dxt: channel-last, padded ([(2·ph + 2)][(2·pw + 2)][c16]); xt must hold padded rows
// 2·py0 ..< 2·py1 + 2. The input gradient writes only image rows 2·py0 ..< 2·py1 (with the
// border rows above or below at the image's edges), which this call finishes: it adds the
// pixels of the rows just outside the strip too, those of their taps that land inside.
// Every sum runs in the order of the dense kernels in conv_direct.c (pixels in row order; for
// the input gradient output channels outermost; the bias in the 16 lanes of the weight-gradient
// kernel's strips of lane_rows rows), so for finite inputs the results are bit for bit theirs
// (the dense kernels' products with zero would turn an infinity into NaN). scratch: at least
// o·(2·(py1 − py0) + 2)·(2·pw + 1) int32s.
APUS_INLINE void apus_conv3x3_pooled_backward_f32_body(const float *restrict xt, const float *restrict wt, const float *restrict gp,
    const uint8_t *restrict codes, int64_t o, int64_t c16, int64_t ph, int64_t pw, int64_t py0, int64_t py1, int64_t lane_rows,
    float *restrict dwt, float *restrict lanes, float *restrict dxt, int32_t *restrict scratch) {
    const int64_t wp = 2 * pw + 2, ow = 2 * pw;
    const int above = dxt && py0 > 0, below = dxt && py1 < ph;   // rows outside the strip whose taps reach into it
    const int64_t y0 = 2 * py0 - above, rows = 2 * py1 + below - y0;
    // Every output channel's pixels first, so that each block of 16 channels then runs over all
    // of them while the strip's rows of xt and dxt (for those 16 channels) stay in L1.
    int32_t *offsets = scratch, *counts = scratch + 2 * o * rows * pw;
    float *gradients = (float *)(scratch + o * rows * pw);
    int64_t taps[9];
    for (int t = 0; t < 9; t++) taps[t] = ((t / 3) * wp + t % 3) * c16;
    for (int64_t oi = 0; oi < o; oi++)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t at = (oi * rows + r) * pw, n = gradient_pixels(gp, codes, oi, ph, pw, y0 + r, wp, c16, offsets + at, gradients + at);
            counts[oi * rows + r] = (int32_t)n;
            if (lanes && r >= above && r < rows - below)
                for (int64_t i = 0; i < n; i++) {
                    const int64_t y = y0 + r, x = offsets[at + i] / c16 - y * wp;
                    lanes[oi * 16 + ((y % lane_rows) * ow + x) % 16] += gradients[at + i];
                }
        }
    // Per block of 16 channels and output channel, each pixel's weight and input gradients
    // together. When the strip's rows of xt and dxt (those 16 channels) would not fit in L1
    // together (wide images), every channel's weight gradient runs first, then every channel's
    // input gradient, each pass with only its own buffer's rows in L1.
    const int split = dxt && 2 * rows * wp * 16 * (int64_t)sizeof(float) > L1_BYTES;
#define STRIP_CHANNEL(oi, dx, weights)                                                              \
    strip_channel(offsets + (oi) * rows * pw, gradients + (oi) * rows * pw, counts + (oi) * rows, rows, pw, y0, py0, py1, \
                  above, below, xt + c0, (dx), wt ? wt + (oi) * 9 * c16 + c0 : 0, dwt + (oi) * 9 * c16 + c0, c16, taps, (weights))
    for (int64_t c0 = 0; c0 < c16; c0 += 16) {
        float *d = dxt ? dxt + c0 : 0;
        if (!split) {
            for (int64_t oi = 0; oi < o; oi++) STRIP_CHANNEL(oi, d, 1);
        } else {
            for (int64_t oi = 0; oi < o; oi++) STRIP_CHANNEL(oi, 0, 1);
            for (int64_t oi = 0; oi < o; oi++) STRIP_CHANNEL(oi, d, 0);
        }
    }
#undef STRIP_CHANNEL
}
APUS_VARIANTS(apus_conv3x3_pooled_backward_f32, (const float *restrict xt, const float *restrict wt, const float *restrict gp,
    const uint8_t *restrict codes, int64_t o, int64_t c16, int64_t ph, int64_t pw, int64_t py0, int64_t py1, int64_t lane_rows,
    float *restrict dwt, float *restrict lanes, float *restrict dxt, int32_t *restrict scratch),
    (xt, wt, gp, codes, o, c16, ph, pw, py0, py1, lane_rows, dwt, lanes, dxt, scratch))

// wt [o][9][c16] from weights w [o, c, 3, 3] (channels c ..< c16 zero).
void apus_pack_conv3x3_nhwc_weights_f32(const float *w, int64_t o, int64_t c, int64_t c16, float *wt) {
    memset(wt, 0, (size_t)(o * 9 * c16) * sizeof(float));
    for (int64_t oi = 0; oi < o; oi++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int t = 0; t < 9; t++) wt[(oi * 9 + t) * c16 + ci] = w[(oi * c + ci) * 9 + t];
}

// dw [o, c, 3, 3] += dwt [o][9][c16].
void apus_conv3x3_nhwc_wgrad_finish_f32(const float *dwt, int64_t o, int64_t c, int64_t c16, float *dw) {
    for (int64_t oi = 0; oi < o; oi++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int t = 0; t < 9; t++) dw[(oi * c + ci) * 9 + t] += dwt[(oi * 9 + t) * c16 + ci];
}
