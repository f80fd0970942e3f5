// Indexing kernels over [outer, n, inner] blocks: index-select / index-add (whole slices) and
// gather / scatter-add (element-wise indices, PyTorch's torch.gather semantics).
#include <string.h>
#include "apus_kernels.h"

void apus_index_select(int elem_size, int64_t outer, int64_t n, int64_t inner, const void *x,
                       const int64_t *idx, int64_t m, void *y) {
    const size_t block = (size_t)inner * (size_t)elem_size;
    const char *src = (const char *)x;
    char *dst = (char *)y;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++)
            memcpy(dst + (size_t)(o * m + j) * block, src + (size_t)(o * n + idx[j]) * block, block);
}

void apus_gather(int elem_size, int64_t outer, int64_t n, int64_t inner, const void *x,
                 const int64_t *idx, int64_t m, void *y) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t k = (o * m + j) * inner + i;
                int64_t s = (o * n + idx[k]) * inner + i;
                memcpy((char *)y + k * elem_size, (const char *)x + s * elem_size, (size_t)elem_size);
            }
}

#define DEFINE_ADDS(T, SUF)                                                                    \
    void apus_index_add_##SUF(int64_t outer, int64_t n, int64_t inner, const T *g,             \
                              const int64_t *idx, int64_t m, T *y) {                           \
        for (int64_t o = 0; o < outer; o++)                                                    \
            for (int64_t j = 0; j < m; j++) {                                                  \
                const T *src = g + (o * m + j) * inner;                                        \
                T *dst = y + (o * n + idx[j]) * inner;                                         \
                for (int64_t i = 0; i < inner; i++) dst[i] += src[i];                          \
            }                                                                                  \
    }                                                                                          \
    void apus_scatter_add_##SUF(int64_t outer, int64_t n, int64_t inner, const T *src,         \
                                const int64_t *idx, int64_t m, T *y) {                         \
        for (int64_t o = 0; o < outer; o++)                                                    \
            for (int64_t j = 0; j < m; j++)                                                    \
                for (int64_t i = 0; i < inner; i++) {                                          \
                    int64_t k = (o * m + j) * inner + i;                                       \
                    y[(o * n + idx[k]) * inner + i] += src[k];                                 \
                }                                                                              \
    }

DEFINE_ADDS(float, f32)
DEFINE_ADDS(double, f64)
