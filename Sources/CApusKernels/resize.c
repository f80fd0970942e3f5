// Bilinear resize of [C, H, W] float images (half-pixel centres, as PyTorch's
// interpolate(mode="bilinear", align_corners=False) without antialiasing).
#include "dispatch.h"

void apus_resize_bilinear_f32(int64_t channels, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y) {
    const float sy = (float)h / (float)oh, sx = (float)w / (float)ow;
    for (int64_t oy = 0; oy < oh; oy++) {
        float fy = ((float)oy + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        int64_t y0 = (int64_t)fy;
        if (y0 > h - 1) y0 = h - 1;
        int64_t y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        float wy = fy - (float)y0;
        for (int64_t ox = 0; ox < ow; ox++) {
            float fx = ((float)ox + 0.5f) * sx - 0.5f;
            if (fx < 0) fx = 0;
            int64_t x0 = (int64_t)fx;
            if (x0 > w - 1) x0 = w - 1;
            int64_t x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            float wx = fx - (float)x0;
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
