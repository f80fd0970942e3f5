// Bilinear resize of [C, H, W] float images (half-pixel centres, as PyTorch's
// interpolate(mode="bilinear", align_corners=False) without antialiasing).
#include "dispatch.h"

/// The two source indices an output index `o` reads along an axis of length `n` (scale = n / out),
/// and the weight of the second one.
static inline float source_taps(int64_t o, float scale, int64_t n, int64_t *i0, int64_t *i1) {
    float f = ((float)o + 0.5f) * scale - 0.5f;
    if (f < 0) f = 0;
    *i0 = (int64_t)f;
    if (*i0 > n - 1) *i0 = n - 1;
    *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
    return f - (float)*i0;
}

void apus_resize_bilinear_f32(int64_t channels, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y) {
    const float sy = (float)h / (float)oh, sx = (float)w / (float)ow;
    for (int64_t oy = 0; oy < oh; oy++) {
        int64_t y0, y1;
        float wy = source_taps(oy, sy, h, &y0, &y1);
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t x0, x1;
            float wx = source_taps(ox, sx, w, &x0, &x1);
            for (int64_t c = 0; c < channels; c++) {
                const float *plane = x + c * h * w;
                float top = plane[y0 * w + x0] * (1 - wx) + plane[y0 * w + x1] * wx;
                float bottom = plane[y1 * w + x0] * (1 - wx) + plane[y1 * w + x1] * wx;
                y[(c * oh + oy) * ow + ox] = top * (1 - wy) + bottom * wy;
            }
        }
    }
}

void apus_u8_hwc_to_f32_chw(int64_t h, int64_t w, int64_t c, const uint8_t *pixels, float *out) {
    const float scale = 1.0f / 255.0f;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < h * w; i++) out[ch * h * w + i] = (float)pixels[i * c + ch] * scale;
}
