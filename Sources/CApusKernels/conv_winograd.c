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

// U = G g Gᵀ for every channel of outputs first…first + count − 1 of weights w [outputs, channels, 3, 3],
// eight channels at a time: their 72 weights transposed to [9][8], then one vector lane per channel.
APUS_INLINE void apus_winograd_weights_f32_body(const float *w, int64_t outputs, int64_t channels, int64_t first, int64_t count,
                                                float *u) {
    int64_t plane = outputs * channels;
    for (int64_t o = first; o < first + count; o++)
        for (int64_t c0 = 0; c0 < channels; c0 += 8) {
            int64_t lanes = channels - c0 < 8 ? channels - c0 : 8;
            const float *source = w + (o * channels + c0) * 9;
            float g[9][8] = {{0}}, out[16][8];
            for (int64_t l = 0; l < lanes; l++)
                for (int k = 0; k < 9; k++) g[k][l] = source[l * 9 + k];
            for (int l = 0; l < 8; l++) {
                float a[4][3];
                for (int j = 0; j < 3; j++) {
                    a[0][j] = g[j][l];
                    a[1][j] = 0.5f * (g[j][l] + g[3 + j][l] + g[6 + j][l]);
                    a[2][j] = 0.5f * (g[j][l] - g[3 + j][l] + g[6 + j][l]);
                    a[3][j] = g[6 + j][l];
                }
                for (int i = 0; i < 4; i++) {
                    out[4 * i][l] = a[i][0];
                    out[4 * i + 1][l] = 0.5f * (a[i][0] + a[i][1] + a[i][2]);
                    out[4 * i + 2][l] = 0.5f * (a[i][0] - a[i][1] + a[i][2]);
                    out[4 * i + 3][l] = a[i][2];
                }
            }
            for (int x = 0; x < 16; x++)
                for (int64_t l = 0; l < lanes; l++) u[x * plane + o * channels + c0 + l] = out[x][l];
        }
}
APUS_VARIANTS(apus_winograd_weights_f32,
              (const float *w, int64_t outputs, int64_t channels, int64_t first, int64_t count, float *u),
              (w, outputs, channels, first, count, u))

// The transforms work tile by tile in the order of V's and M's columns (image, tile row, tile
// column), eight tiles at a time on AVX2 (one tile per vector lane, whatever the image size), so
// small images such as 4×4 and 8×8 run as fast per tile as large ones.

// Walks tiles in column order: the current tile (image n, tile row th, tile column tw) starts
// at n·image + 2·th·row + 2·tw of a stack of planes `image` floats apart with rows `row` long.
typedef struct { int64_t tiles_h, tiles_w, row, image, n, th, tw; } tile_cursor;

static inline int64_t cursor_offset(const tile_cursor *k) { return k->n * k->image + 2 * k->th * k->row + 2 * k->tw; }

static inline void cursor_next(tile_cursor *k) {
    if (++k->tw < k->tiles_w) return;
    k->tw = 0;
    if (++k->th < k->tiles_h) return;
    k->th = 0;
    k->n++;
}

// V of one 4×4 tile d (rows `row` floats apart) into column 0 of o (positions `stride` apart).
static inline void input_tile(const float *d, int64_t row, float *o, int64_t stride) {
    const float *r0 = d, *r1 = d + row, *r2 = d + 2 * row, *r3 = d + 3 * row;
    float a[4], b[4], c[4], e[4];
    for (int j = 0; j < 4; j++) {   // Bᵀ d: rows combined, for each of the 4 columns
        a[j] = r0[j] - r2[j]; b[j] = r1[j] + r2[j]; c[j] = r2[j] - r1[j]; e[j] = r1[j] - r3[j];
    }
    const float *rows[4] = {a, b, c, e};
    for (int i = 0; i < 4; i++) {   // (Bᵀ d) B: columns combined, for each row
        const float *t = rows[i];
        o[(4 * i + 0) * stride] = t[0] - t[2]; o[(4 * i + 1) * stride] = t[1] + t[2];
        o[(4 * i + 2) * stride] = t[2] - t[1]; o[(4 * i + 3) * stride] = t[1] - t[3];
    }
}

// The 2×2 output tile of column 0 of m (positions `stride` apart): top row (y[0], y[1]) and
// bottom row (y[2], y[3]).
static inline void output_tile(const float *s, int64_t stride, float y[4]) {
    float p[4], q[4];
    for (int k = 0; k < 4; k++) {   // Aᵀ M: rows combined, for each of the 4 columns
        p[k] = s[k * stride] + s[(4 + k) * stride] + s[(8 + k) * stride];
        q[k] = s[(4 + k) * stride] - s[(8 + k) * stride] - s[(12 + k) * stride];
    }
    y[0] = p[0] + p[1] + p[2]; y[1] = p[1] - p[2] - p[3];   // (Aᵀ M) A: columns combined, for each row
    y[2] = q[0] + q[1] + q[2]; y[3] = q[1] - q[2] - q[3];
}

// dM of one 2×2 output-gradient tile (y00, y01 / y10, y11) into column 0 of o.
static inline void output_gradient_tile(float y00, float y01, float y10, float y11, float *o, int64_t stride) {
    // A dY (4×2), row by row, then each row (a, b) times Aᵀ: (a, a + b, a − b, −b).
    float rows[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
    for (int i = 0; i < 4; i++) {
        float a = rows[i][0], b = rows[i][1];
        o[(4 * i + 0) * stride] = a; o[(4 * i + 1) * stride] = a + b;
        o[(4 * i + 2) * stride] = a - b; o[(4 * i + 3) * stride] = -b;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

// Rows i of eight 4-float tile rows p[0…7] → their four columns, lane j = tile j.
static inline AVX2 void transpose_rows(const float *const p[8], __m256 col[4]) {
    __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[0])), _mm_loadu_ps(p[4]), 1);
    __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[1])), _mm_loadu_ps(p[5]), 1);
    __m256 c = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[2])), _mm_loadu_ps(p[6]), 1);
    __m256 d = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[3])), _mm_loadu_ps(p[7]), 1);
    __m256 ab0 = _mm256_unpacklo_ps(a, b), ab1 = _mm256_unpackhi_ps(a, b);
    __m256 cd0 = _mm256_unpacklo_ps(c, d), cd1 = _mm256_unpackhi_ps(c, d);
    col[0] = _mm256_shuffle_ps(ab0, cd0, 0x44); col[1] = _mm256_shuffle_ps(ab0, cd0, 0xEE);
    col[2] = _mm256_shuffle_ps(ab1, cd1, 0x44); col[3] = _mm256_shuffle_ps(ab1, cd1, 0xEE);
}

// Two floats of each of eight tiles (p[j], p[j] + 1) → lane j of first and second.
static inline AVX2 void gather_pairs(const float *const p[8], __m256 *first, __m256 *second) {
    __m128 t01 = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd((const double *)p[0])), (const __m64 *)p[1]);
    __m128 t23 = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd((const double *)p[2])), (const __m64 *)p[3]);
    __m128 t45 = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd((const double *)p[4])), (const __m64 *)p[5]);
    __m128 t67 = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd((const double *)p[6])), (const __m64 *)p[7]);
    __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(t01), t45, 1);
    __m256 b = _mm256_insertf128_ps(_mm256_castps128_ps256(t23), t67, 1);
    *first = _mm256_shuffle_ps(a, b, 0x88);
    *second = _mm256_shuffle_ps(a, b, 0xDD);
}

// Lane j of first and second → (p[j], p[j] + 1) for eight tiles.
static inline AVX2 void scatter_pairs(__m256 first, __m256 second, float *const p[8]) {
    __m256 lo = _mm256_unpacklo_ps(first, second), hi = _mm256_unpackhi_ps(first, second);
    __m128 l0 = _mm256_castps256_ps128(lo), l1 = _mm256_extractf128_ps(lo, 1);
    __m128 h0 = _mm256_castps256_ps128(hi), h1 = _mm256_extractf128_ps(hi, 1);
    _mm_storel_pi((__m64 *)p[0], l0); _mm_storeh_pi((__m64 *)p[1], l0);
    _mm_storel_pi((__m64 *)p[2], h0); _mm_storeh_pi((__m64 *)p[3], h0);
    _mm_storel_pi((__m64 *)p[4], l1); _mm_storeh_pi((__m64 *)p[5], l1);
    _mm_storel_pi((__m64 *)p[6], h1); _mm_storeh_pi((__m64 *)p[7], h1);
}

// V of eight tiles at d[j] (rows `row` apart) into columns 0…7 of o.
static AVX2 void input_tiles8(const float *const d[8], int64_t row, float *o, int64_t stride) {
    __m256 r[4][4];
    for (int i = 0; i < 4; i++) {
        const float *p[8];
        for (int j = 0; j < 8; j++) p[j] = d[j] + i * row;
        transpose_rows(p, r[i]);
    }
    for (int k = 0; k < 4; k++) {   // Bᵀ d: rows combined; then (Bᵀ d) B, each row
        __m256 t[4];
        for (int j = 0; j < 4; j++) {
            t[j] = k == 0 ? _mm256_sub_ps(r[0][j], r[2][j]) : k == 1 ? _mm256_add_ps(r[1][j], r[2][j])
                 : k == 2 ? _mm256_sub_ps(r[2][j], r[1][j]) : _mm256_sub_ps(r[1][j], r[3][j]);
        }
        _mm256_storeu_ps(o + (4 * k + 0) * stride, _mm256_sub_ps(t[0], t[2]));
        _mm256_storeu_ps(o + (4 * k + 1) * stride, _mm256_add_ps(t[1], t[2]));
        _mm256_storeu_ps(o + (4 * k + 2) * stride, _mm256_sub_ps(t[2], t[1]));
        _mm256_storeu_ps(o + (4 * k + 3) * stride, _mm256_sub_ps(t[1], t[3]));
    }
}

// Columns 0…7 of m → the 2×2 output tiles at y[j] (rows `row` apart).
static AVX2 void output_tiles8(const float *s, int64_t stride, float *const y[8], int64_t row) {
    __m256 p[4], q[4];
    for (int k = 0; k < 4; k++) {
        __m256 s0 = _mm256_loadu_ps(s + k * stride), s1 = _mm256_loadu_ps(s + (4 + k) * stride);
        __m256 s2 = _mm256_loadu_ps(s + (8 + k) * stride), s3 = _mm256_loadu_ps(s + (12 + k) * stride);
        p[k] = _mm256_add_ps(_mm256_add_ps(s0, s1), s2);
        q[k] = _mm256_sub_ps(_mm256_sub_ps(s1, s2), s3);
    }
    __m256 top0 = _mm256_add_ps(_mm256_add_ps(p[0], p[1]), p[2]), top1 = _mm256_sub_ps(_mm256_sub_ps(p[1], p[2]), p[3]);
    __m256 bottom0 = _mm256_add_ps(_mm256_add_ps(q[0], q[1]), q[2]), bottom1 = _mm256_sub_ps(_mm256_sub_ps(q[1], q[2]), q[3]);
    float *below[8];
    for (int j = 0; j < 8; j++) below[j] = y[j] + row;
    scatter_pairs(top0, top1, y);
    scatter_pairs(bottom0, bottom1, below);
}

// dM of the eight 2×2 output-gradient tiles at g[j] (rows `row` apart) into columns 0…7 of o.
static AVX2 void output_gradient_tiles8(const float *const g[8], int64_t row, float *o, int64_t stride) {
    __m256 y00, y01, y10, y11;
    const float *below[8];
    for (int j = 0; j < 8; j++) below[j] = g[j] + row;
    gather_pairs(g, &y00, &y01);
    gather_pairs(below, &y10, &y11);
    __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 rows[4][2] = {{y00, y01}, {_mm256_add_ps(y00, y10), _mm256_add_ps(y01, y11)},
                         {_mm256_sub_ps(y00, y10), _mm256_sub_ps(y01, y11)}, {_mm256_xor_ps(y10, sign), _mm256_xor_ps(y11, sign)}};
    for (int i = 0; i < 4; i++) {
        __m256 a = rows[i][0], b = rows[i][1];
        _mm256_storeu_ps(o + (4 * i + 0) * stride, a);
        _mm256_storeu_ps(o + (4 * i + 1) * stride, _mm256_add_ps(a, b));
        _mm256_storeu_ps(o + (4 * i + 2) * stride, _mm256_sub_ps(a, b));
        _mm256_storeu_ps(o + (4 * i + 3) * stride, _mm256_xor_ps(b, sign));
    }
}
#endif

// Whether the eight-tile AVX2 kernels run on this CPU.
static inline int eight_wide(void) {
#if defined(__x86_64__)
    return apus_cpu_level() >= 1;
#else
    return 0;
#endif
}

// V = Bᵀ d B for every 4×4 tile (origin (2·th − pad, 2·tw − pad), zero outside the image) of
// every channel of `images` images x [images, channels, height, width]. `padded` is scratch of
// images·(2·tiles_h + 2)·(2·tiles_w + 2) floats: one channel of every image, in zero borders
// (the tile grid's, which may reach past the image's padding), so only its interior is copied
// per channel.
void apus_winograd_input_f32(const float *x, int64_t images, int64_t channels, int64_t height, int64_t width, int64_t pad,
                             int64_t tiles_h, int64_t tiles_w, float *v, int64_t ldv, float *padded) {
    int64_t rows = 2 * tiles_h + 2, row = 2 * tiles_w + 2, plane = rows * row;
    int64_t tiles = images * tiles_h * tiles_w, stride = channels * ldv, wide = eight_wide();
    int64_t copied_rows = height < rows - pad ? height : rows - pad, copied = width < row - pad ? width : row - pad;
    memset(padded, 0, sizeof(float) * (size_t)(images * plane));
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t n = 0; n < images; n++) {
            const float *in = x + (n * channels + c) * height * width;
            float *out = padded + n * plane + pad * row + pad;
            for (int64_t y = 0; y < copied_rows; y++)
                for (int64_t i = 0; i < copied; i++) out[y * row + i] = in[y * width + i];
        }
        float *out = v + c * ldv;
        tile_cursor k = {tiles_h, tiles_w, row, plane, 0, 0, 0};
        int64_t t = 0;
#if defined(__x86_64__)
        for (; wide && t + 8 <= tiles; t += 8) {
            const float *d[8];
            for (int j = 0; j < 8; j++) { d[j] = padded + cursor_offset(&k); cursor_next(&k); }
            input_tiles8(d, row, out + t, stride);
        }
#endif
        for (; t < tiles; t++, cursor_next(&k)) input_tile(padded + cursor_offset(&k), row, out + t, stride);
    }
}

// Y = Aᵀ M A for every tile, written to y [images, outputs, out_h, out_w] (the chunk's first
// image first); a tile's row or column past an odd-sized output is dropped.
void apus_winograd_output_f32(const float *m, int64_t images, int64_t outputs, int64_t out_h, int64_t out_w,
                              int64_t tiles_h, int64_t tiles_w, int64_t ldm, float *y) {
    int64_t tiles = images * tiles_h * tiles_w, stride = outputs * ldm;
    int64_t whole = out_h % 2 == 0 && out_w % 2 == 0, wide = eight_wide() && whole;
    for (int64_t o = 0; o < outputs; o++) {
        const float *in = m + o * ldm;
        float *plane = y + o * out_h * out_w;
        tile_cursor k = {tiles_h, tiles_w, out_w, outputs * out_h * out_w, 0, 0, 0};
        int64_t t = 0;
#if defined(__x86_64__)
        for (; wide && t + 8 <= tiles; t += 8) {
            float *d[8];
            for (int j = 0; j < 8; j++) { d[j] = plane + cursor_offset(&k); cursor_next(&k); }
            output_tiles8(in + t, stride, d, out_w);
        }
#endif
        for (; t < tiles; t++, cursor_next(&k)) {
            float r[4], *d = plane + cursor_offset(&k);
            output_tile(in + t, stride, r);
            int right = 2 * k.tw + 1 < out_w, below = 2 * k.th + 1 < out_h;
            d[0] = r[0];
            if (right) d[1] = r[1];
            if (below) { d[out_w] = r[2]; if (right) d[out_w + 1] = r[3]; }
        }
    }
}

// The weight gradient, as the adjoint of the forward pass: dM = A dY Aᵀ for each 2×2 tile of
// the output gradient, dU[ξ] = Σ_tiles dM[ξ]·V[ξ]ᵀ (GEMMs, by the caller), dW = Gᵀ dU G.

// dM [16][outputs][ldm] of the output gradient g [images, outputs, out_h, out_w] (the chunk's
// first image first); past an odd-sized output the gradient counts as zero.
void apus_winograd_output_gradient_f32(const float *g, int64_t images, int64_t outputs, int64_t out_h, int64_t out_w,
                                       int64_t tiles_h, int64_t tiles_w, float *m, int64_t ldm) {
    int64_t tiles = images * tiles_h * tiles_w, stride = outputs * ldm;
    int64_t whole = out_h % 2 == 0 && out_w % 2 == 0, wide = eight_wide() && whole;
    for (int64_t o = 0; o < outputs; o++) {
        const float *plane = g + o * out_h * out_w;
        float *out = m + o * ldm;
        tile_cursor k = {tiles_h, tiles_w, out_w, outputs * out_h * out_w, 0, 0, 0};
        int64_t t = 0;
#if defined(__x86_64__)
        for (; wide && t + 8 <= tiles; t += 8) {
            const float *d[8];
            for (int j = 0; j < 8; j++) { d[j] = plane + cursor_offset(&k); cursor_next(&k); }
            output_gradient_tiles8(d, out_w, out + t, stride);
        }
#endif
        for (; t < tiles; t++, cursor_next(&k)) {
            const float *d = plane + cursor_offset(&k);
            int right = 2 * k.tw + 1 < out_w, below = 2 * k.th + 1 < out_h;
            output_gradient_tile(d[0], right ? d[1] : 0.0f, below ? d[out_w] : 0.0f, right && below ? d[out_w + 1] : 0.0f,
                                 out + t, stride);
        }
    }
}

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
