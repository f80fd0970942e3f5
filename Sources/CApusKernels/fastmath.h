// Vectorisable single-precision exp and tanh (pure arithmetic, no libm calls), so loops over
// them compile to AVX2/AVX-512 code. exp: range reduction by ln 2 and a degree-6 polynomial
// (≈ 2 ulp); tanh: an odd Taylor polynomial below 0.55, else (1 − e^{−2|x|}) / (1 + e^{−2|x|}).
#ifndef APUS_FASTMATH_H
#define APUS_FASTMATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) float apus_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = __builtin_roundf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f;          // ln 2 split in two parts for accuracy
    r = r - n * 1.428606765330187045e-6f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// Square roots that set no errno (sqrtf may, under clang's default -fmath-errno, which keeps
// loops calling it scalar); correctly rounded as sqrtf, NaN below zero.
static inline __attribute__((always_inline)) float apus_sqrtf(float x) { return __builtin_elementwise_sqrt(x); }
static inline __attribute__((always_inline)) double apus_sqrt(double x) { return __builtin_elementwise_sqrt(x); }

static inline __attribute__((always_inline)) float apus_sigmoidf(float x) { return 1.0f / (1.0f + apus_expf(-x)); }

static inline __attribute__((always_inline)) float apus_tanhf(float x) {
    float a = fabsf(x);
    float x2 = x * x;
    float small = x * (1.0f + x2 * (-3.333333333e-1f + x2 * (1.333333333e-1f + x2 * (-5.396825397e-2f +
                  x2 * (2.186948854e-2f + x2 * (-8.863235530e-3f + x2 * 3.592128037e-3f))))));
    float e = apus_expf(-2.0f * a);
    float large = (1.0f - e) / (1.0f + e);
    large = x < 0 ? -large : large;
    return a < 0.55f ? small : large;
}
// erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7): erf(|x|) = 1 − p(|x|)·exp(−x²).
// A division and apus_expf, so loops over it (exact GELU and its derivative) vectorise, where
// libm's erff kept them scalar. apus_erf_polyf(a) is p(a) for a = |x|.
static inline __attribute__((always_inline)) float apus_erf_polyf(float a) {
    float t = 1.0f / (1.0f + 0.3275911f * a);
    return ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
}
static inline __attribute__((always_inline)) float apus_erff(float x) {
    float a = fabsf(x);
    float y = 1.0f - apus_erf_polyf(a) * apus_expf(-a * a);
    return x < 0 ? -y : y;
}
// GELU's derivative Φ(x) + x·φ(x), with erf as in apus_erff: both terms share one exp, as
// exp(−z²) with z = x/√2 is exp(−x²/2) = √(2π)·φ(x).
static inline __attribute__((always_inline)) float apus_gelu_derivativef(float x) {
    float z = x * 0.70710678118654752440f, a = fabsf(z);
    float e = apus_expf(-a * a), erf = 1.0f - apus_erf_polyf(a) * e;
    return 0.5f * (1.0f + (z < 0 ? -erf : erf)) + x * 0.39894228040143267794f * e;
}
#endif
