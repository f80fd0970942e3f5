// Winograd F(2×2, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016): a 3×3, stride-1 convolution computed on 4×4 input tiles that each give a
// 2×2 output tile, with 16 element-wise products per (tile, input channel, output channel)
// instead of 36. With U = G g Gᵀ (weights), V = Bᵀ d B (input tiles) and Y = Aᵀ M A (output
// tiles), M[ξ] = U[ξ] · V[ξ] is one GEMM per position ξ of the 4×4 tile, done by the caller:
//
//   Bᵀ = [1  0 -1  0]   G = [1    0    0  ]   Aᵀ = [1  1  1  0]
//        [0  1  1  0]       [1/2  1/2  1/2]        [0  1 -1 -1]
//        [0 -1  1  0]       [1/2 -1/2  1/2]
//        [0  1  0 -1]       [0    0    1  ]
//
// Layouts: U [16][outputs][channels]; V [16][channels][ldv] and M [16][outputs][ldm], tile t
// of image n at column n·tiles_h·tiles_w + th·tiles_w + tw. Float32 only.
#include <string.h>
#include "dispatch.h"

// U = G g Gᵀ for every (output, channel) of weights w [outputs, channels, 3, 3].
void apus_winograd_weights_f32(const float *w, int64_t outputs, int64_t channels, float *u) {
    int64_t plane = outputs * channels;
    for (int64_t o = 0; o < outputs; o++)
        for (int64_t c = 0; c < channels; c++) {
            const float *g = w + (o * channels + c) * 9;
            float a[4][3];
            for (int j = 0; j < 3; j++) {
                a[0][j] = g[j];
                a[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                a[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                a[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) {
                float *row = u + (int64_t)(i * 4) * plane + o * channels + c;
                row[0] = a[i][0];
                row[plane] = 0.5f * (a[i][0] + a[i][1] + a[i][2]);
                row[2 * plane] = 0.5f * (a[i][0] - a[i][1] + a[i][2]);
                row[3 * plane] = a[i][2];
            }
        }
}

// One tile row: rows r0…r3 (with their borders) → the 16 positions' values of tiles_w tiles,
// position ξ at o[ξ·stride + tw]. Written with distinct restrict pointers so it vectorises.
APUS_INLINE void winograd_input_row(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                                    const float *restrict r3, int64_t tiles_w, float *restrict o, int64_t stride) {
    float *restrict o0 = o, *restrict o1 = o + stride, *restrict o2 = o + 2 * stride, *restrict o3 = o + 3 * stride;
    float *restrict o4 = o + 4 * stride, *restrict o5 = o + 5 * stride, *restrict o6 = o + 6 * stride, *restrict o7 = o + 7 * stride;
    float *restrict o8 = o + 8 * stride, *restrict o9 = o + 9 * stride, *restrict o10 = o + 10 * stride, *restrict o11 = o + 11 * stride;
    float *restrict o12 = o + 12 * stride, *restrict o13 = o + 13 * stride, *restrict o14 = o + 14 * stride, *restrict o15 = o + 15 * stride;
    for (int64_t tw = 0; tw < tiles_w; tw++) {
        int64_t k = 2 * tw;
        // Bᵀ d: rows combined, for each of the 4 columns.
        float a0 = r0[k] - r2[k], a1 = r0[k + 1] - r2[k + 1], a2 = r0[k + 2] - r2[k + 2], a3 = r0[k + 3] - r2[k + 3];
        float b0 = r1[k] + r2[k], b1 = r1[k + 1] + r2[k + 1], b2 = r1[k + 2] + r2[k + 2], b3 = r1[k + 3] + r2[k + 3];
        float c0 = r2[k] - r1[k], c1 = r2[k + 1] - r1[k + 1], c2 = r2[k + 2] - r1[k + 2], c3 = r2[k + 3] - r1[k + 3];
        float d0 = r1[k] - r3[k], d1 = r1[k + 1] - r3[k + 1], d2 = r1[k + 2] - r3[k + 2], d3 = r1[k + 3] - r3[k + 3];
        // (Bᵀ d) B: columns combined, for each row.
        o0[tw] = a0 - a2;  o1[tw] = a1 + a2;  o2[tw] = a2 - a1;  o3[tw] = a1 - a3;
        o4[tw] = b0 - b2;  o5[tw] = b1 + b2;  o6[tw] = b2 - b1;  o7[tw] = b1 - b3;
        o8[tw] = c0 - c2;  o9[tw] = c1 + c2;  o10[tw] = c2 - c1; o11[tw] = c1 - c3;
        o12[tw] = d0 - d2; o13[tw] = d1 + d2; o14[tw] = d2 - d1; o15[tw] = d1 - d3;
    }
}

// V = Bᵀ d B for every 4×4 tile (origin (2·th − pad, 2·tw − pad), zero outside the image) of
// every channel of `images` images x [images, channels, height, width]. `padded` is scratch of
// 4·(2·tiles_w + 2) floats: each tile row's four input rows with their zero borders.
APUS_INLINE void apus_winograd_input_f32_body(const float *x, int64_t images, int64_t channels, int64_t height,
                                              int64_t width, int64_t pad, int64_t tiles_h, int64_t tiles_w,
                                              float *v, int64_t ldv, float *padded) {
    int64_t span = 2 * tiles_w + 2, per_image = tiles_h * tiles_w, stride = channels * ldv;
    for (int64_t n = 0; n < images; n++)
        for (int64_t c = 0; c < channels; c++) {
            const float *source = x + (n * channels + c) * height * width;
            float *out = v + c * ldv + n * per_image;
            for (int64_t th = 0; th < tiles_h; th++) {
                for (int i = 0; i < 4; i++) {
                    float *row = padded + i * span;
                    int64_t y = 2 * th - pad + i;
                    memset(row, 0, sizeof(float) * (size_t)span);
                    if (y < 0 || y >= height) continue;
                    int64_t first = pad, count = width;            // row[pad + k] = x[y][k]
                    if (first + count > span) count = span - first;
                    if (count > 0) memcpy(row + first, source + y * width, sizeof(float) * (size_t)count);
                }
                winograd_input_row(padded, padded + span, padded + 2 * span, padded + 3 * span, tiles_w,
                                   out + th * tiles_w, stride);
            }
        }
}
APUS_VARIANTS(apus_winograd_input_f32,
              (const float *x, int64_t images, int64_t channels, int64_t height, int64_t width, int64_t pad,
               int64_t tiles_h, int64_t tiles_w, float *v, int64_t ldv, float *padded),
              (x, images, channels, height, width, pad, tiles_h, tiles_w, v, ldv, padded))

// One tile row: the 16 positions' values of tiles_w tiles (position ξ at s[ξ·stride + tw]) →
// its two output rows, top and bottom (2·tiles_w values each).
APUS_INLINE void winograd_output_row(const float *restrict s, int64_t stride, int64_t tiles_w,
                                     float *restrict top, float *restrict bottom) {
    const float *restrict s0 = s, *restrict s1 = s + stride, *restrict s2 = s + 2 * stride, *restrict s3 = s + 3 * stride;
    const float *restrict s4 = s + 4 * stride, *restrict s5 = s + 5 * stride, *restrict s6 = s + 6 * stride, *restrict s7 = s + 7 * stride;
    const float *restrict s8 = s + 8 * stride, *restrict s9 = s + 9 * stride, *restrict s10 = s + 10 * stride, *restrict s11 = s + 11 * stride;
    const float *restrict s12 = s + 12 * stride, *restrict s13 = s + 13 * stride, *restrict s14 = s + 14 * stride, *restrict s15 = s + 15 * stride;
    for (int64_t tw = 0; tw < tiles_w; tw++) {
        // Aᵀ M: rows combined, for each of the 4 columns.
        float p0 = s0[tw] + s4[tw] + s8[tw], p1 = s1[tw] + s5[tw] + s9[tw], p2 = s2[tw] + s6[tw] + s10[tw], p3 = s3[tw] + s7[tw] + s11[tw];
        float q0 = s4[tw] - s8[tw] - s12[tw], q1 = s5[tw] - s9[tw] - s13[tw], q2 = s6[tw] - s10[tw] - s14[tw], q3 = s7[tw] - s11[tw] - s15[tw];
        // (Aᵀ M) A: columns combined, for each row.
        top[2 * tw] = p0 + p1 + p2;    top[2 * tw + 1] = p1 - p2 - p3;
        bottom[2 * tw] = q0 + q1 + q2; bottom[2 * tw + 1] = q1 - q2 - q3;
    }
}

// Y = Aᵀ M A for every tile, written to y [images, outputs, out_h, out_w] (the chunk's first
// image first). `rows` is scratch of 2·(2·tiles_w) floats: a tile row's two output rows.
APUS_INLINE void apus_winograd_output_f32_body(const float *m, int64_t images, int64_t outputs, int64_t out_h,
                                               int64_t out_w, int64_t tiles_h, int64_t tiles_w, int64_t ldm,
                                               float *y, float *rows) {
    int64_t per_image = tiles_h * tiles_w, stride = outputs * ldm, span = 2 * tiles_w;
    for (int64_t n = 0; n < images; n++)
        for (int64_t o = 0; o < outputs; o++) {
            const float *in = m + o * ldm + n * per_image;
            float *plane = y + (n * outputs + o) * out_h * out_w;
            for (int64_t th = 0; th < tiles_h; th++) {
                winograd_output_row(in + th * tiles_w, stride, tiles_w, rows, rows + span);
                int64_t oy = 2 * th;
                memcpy(plane + oy * out_w, rows, sizeof(float) * (size_t)out_w);
                if (oy + 1 < out_h) memcpy(plane + (oy + 1) * out_w, rows + span, sizeof(float) * (size_t)out_w);
            }
        }
}
APUS_VARIANTS(apus_winograd_output_f32,
              (const float *m, int64_t images, int64_t outputs, int64_t out_h, int64_t out_w, int64_t tiles_h,
               int64_t tiles_w, int64_t ldm, float *y, float *rows),
              (m, images, outputs, out_h, out_w, tiles_h, tiles_w, ldm, y, rows))

// The weight gradient, as the adjoint of the forward pass: dM = A dY Aᵀ for each 2×2 tile of
// the output gradient, dU[ξ] = Σ_tiles dM[ξ]·V[ξ]ᵀ (GEMMs, by the caller), dW = Gᵀ dU G.

// One tile row: the output gradient's rows top and bottom (2·tiles_w values each, zero past the
// image) → the 16 positions' values of dM, position ξ at o[ξ·stride + tw].
APUS_INLINE void winograd_output_gradient_row(const float *restrict top, const float *restrict bottom, int64_t tiles_w,
                                              float *restrict o, int64_t stride) {
    for (int64_t tw = 0; tw < tiles_w; tw++) {
        float y00 = top[2 * tw], y01 = top[2 * tw + 1], y10 = bottom[2 * tw], y11 = bottom[2 * tw + 1];
        // A dY (4×2), row by row, then each row (a, b) times Aᵀ: (a, a + b, a − b, −b).
        float rows[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
        for (int i = 0; i < 4; i++) {
            float a = rows[i][0], b = rows[i][1];
            o[(4 * i + 0) * stride + tw] = a;
            o[(4 * i + 1) * stride + tw] = a + b;
            o[(4 * i + 2) * stride + tw] = a - b;
            o[(4 * i + 3) * stride + tw] = -b;
        }
    }
}

// dM [16][outputs][ldm] of the output gradient g [images, outputs, out_h, out_w] (the chunk's
// first image first). `rows` is scratch of 2·(2·tiles_w) floats.
APUS_INLINE void apus_winograd_output_gradient_f32_body(const float *g, int64_t images, int64_t outputs, int64_t out_h,
                                                        int64_t out_w, int64_t tiles_h, int64_t tiles_w, float *m,
                                                        int64_t ldm, float *rows) {
    int64_t per_image = tiles_h * tiles_w, stride = outputs * ldm, span = 2 * tiles_w;
    float *top = rows, *bottom = rows + span;
    for (int64_t n = 0; n < images; n++)
        for (int64_t o = 0; o < outputs; o++) {
            const float *plane = g + (n * outputs + o) * out_h * out_w;
            float *out = m + o * ldm + n * per_image;
            for (int64_t th = 0; th < tiles_h; th++) {
                int64_t oy = 2 * th;
                memset(rows, 0, sizeof(float) * (size_t)(2 * span));
                memcpy(top, plane + oy * out_w, sizeof(float) * (size_t)out_w);
                if (oy + 1 < out_h) memcpy(bottom, plane + (oy + 1) * out_w, sizeof(float) * (size_t)out_w);
                winograd_output_gradient_row(top, bottom, tiles_w, out + th * tiles_w, stride);
            }
        }
}
APUS_VARIANTS(apus_winograd_output_gradient_f32,
              (const float *g, int64_t images, int64_t outputs, int64_t out_h, int64_t out_w, int64_t tiles_h,
               int64_t tiles_w, float *m, int64_t ldm, float *rows),
              (g, images, outputs, out_h, out_w, tiles_h, tiles_w, m, ldm, rows))

// dw [outputs, channels, 3, 3] += Gᵀ dU G for every (output, channel) of dU [16][outputs][channels].
void apus_winograd_weight_gradient_f32(const float *du, int64_t outputs, int64_t channels, float *dw) {
    int64_t plane = outputs * channels;
    for (int64_t o = 0; o < outputs; o++)
        for (int64_t c = 0; c < channels; c++) {
            float u[4][4], t[3][4];
            for (int x = 0; x < 16; x++) u[x / 4][x % 4] = du[x * plane + o * channels + c];
            for (int j = 0; j < 4; j++) {   // Gᵀ dU: rows combined
                t[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
                t[1][j] = 0.5f * (u[1][j] - u[2][j]);
                t[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
            }
            float *out = dw + (o * channels + c) * 9;
            for (int i = 0; i < 3; i++) {   // (Gᵀ dU) G: columns combined
                out[3 * i + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                out[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
                out[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
}
