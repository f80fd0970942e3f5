// 16-float vectors for the kernels that keep tiles in AVX-512 registers (conv_direct.c,
// conv_pooled_backward.c). The helpers are inlined into each variant (AVX-512, AVX2, baseline)
// and never cross a call boundary, so the ABI change clang warns about for the non-AVX-512
// builds does not apply.
#ifndef APUS_VECTOR16_H
#define APUS_VECTOR16_H
#include <string.h>
#include "dispatch.h"

#pragma clang diagnostic ignored "-Wpsabi"

typedef float apus_v16 __attribute__((ext_vector_type(16)));
#define ARGS(...) __VA_ARGS__

APUS_INLINE apus_v16 load16(const float *p) { apus_v16 v; memcpy(&v, p, sizeof v); return v; }
APUS_INLINE void store16(float *p, apus_v16 v) { memcpy(p, &v, sizeof v); }

// The first n (≤ 16) floats at p, the other lanes zero.
APUS_INLINE apus_v16 load_first(const float *p, int64_t n) {
    if (n >= 16) return load16(p);
    apus_v16 v = 0;
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

// Transposes the 16 × 16 block whose rows are r[0..15], in place: four rounds, each swapping
// the off-diagonal d × d blocks (d = 8, 4, 2, 1) of every 2d × 2d block.
#define SWAP_BLOCKS(d, top, bottom)                                                            \
    for (int i = 0; i < 16; i++)                                                               \
        if ((i / d) % 2 == 0) {                                                                \
            apus_v16 a = r[i], b = r[i + d];                                                   \
            r[i] = __builtin_shufflevector(a, b, top);                                         \
            r[i + d] = __builtin_shufflevector(a, b, bottom);                                  \
        }
APUS_INLINE void transpose16(apus_v16 r[16]) {
#pragma unroll
    SWAP_BLOCKS(8, ARGS(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                   ARGS(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
#pragma unroll
    SWAP_BLOCKS(4, ARGS(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                   ARGS(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
#pragma unroll
    SWAP_BLOCKS(2, ARGS(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                   ARGS(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
#pragma unroll
    SWAP_BLOCKS(1, ARGS(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                   ARGS(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
}
#endif
