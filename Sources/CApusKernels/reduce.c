// Reductions (sum, max, min, sum of squares) over the middle axis of a contiguous [outer, r, inner] view, arg-reductions and
// row-wise softmax.
#include <math.h>
#include "dispatch.h"
#include "fastmath.h"

#define DEFINE_REDUCE(T, SUF)                                                                   \
    APUS_INLINE void apus_reduce_##SUF##_body(int op, int64_t outer, int64_t r, int64_t inner,  \
                                              const T *x, T *y) {                               \
        _Pragma("clang fp reassociate(on)")                                                     \
        for (int64_t o = 0; o < outer; o++) {                                                   \
            const T *px = x + o * r * inner;                                                    \
            T *py = y + o * inner;                                                              \
            if (inner == 1) {                                                                   \
                T acc = op == APUS_SUM || op == APUS_SUM_OF_SQUARES ? (T)0 : px[0];             \
                if (op == APUS_SUM) for (int64_t k = 0; k < r; k++) acc += px[k];               \
                else if (op == APUS_SUM_OF_SQUARES) for (int64_t k = 0; k < r; k++) acc += px[k] * px[k]; \
                else if (op == APUS_MAX) for (int64_t k = 0; k < r; k++) acc = px[k] > acc ? px[k] : acc; \
                else for (int64_t k = 0; k < r; k++) acc = px[k] < acc ? px[k] : acc;           \
                py[0] = acc;                                                                    \
                continue;                                                                       \
            }                                                                                   \
            for (int64_t i = 0; i < inner; i++) py[i] = op == APUS_SUM || op == APUS_SUM_OF_SQUARES ? (T)0 : px[i]; \
            for (int64_t k = 0; k < r; k++) {                                                   \
                const T *row = px + k * inner;                                                  \
                if (op == APUS_SUM) for (int64_t i = 0; i < inner; i++) py[i] += row[i];        \
                else if (op == APUS_SUM_OF_SQUARES) for (int64_t i = 0; i < inner; i++) py[i] += row[i] * row[i]; \
                else if (op == APUS_MAX) for (int64_t i = 0; i < inner; i++) py[i] = row[i] > py[i] ? row[i] : py[i]; \
                else for (int64_t i = 0; i < inner; i++) py[i] = row[i] < py[i] ? row[i] : py[i]; \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    APUS_VARIANTS(apus_reduce_##SUF, (int op, int64_t outer, int64_t r, int64_t inner, const T *x, T *y), \
                  (op, outer, r, inner, x, y))                                                  \
    void apus_argreduce_##SUF(int is_max, int64_t outer, int64_t r, int64_t inner, const T *x,  \
                              int64_t *y) {                                                     \
        for (int64_t o = 0; o < outer; o++)                                                     \
            for (int64_t i = 0; i < inner; i++) {                                               \
                const T *p = x + o * r * inner + i;                                             \
                int64_t best = 0;                                                               \
                T bv = p[0];                                                                    \
                for (int64_t k = 1; k < r; k++) {                                               \
                    T v = p[k * inner];                                                         \
                    if (is_max ? (v > bv || (v != v && bv == bv)) : (v < bv || (v != v && bv == bv))) { best = k; bv = v; } \
                }                                                                               \
                y[o * inner + i] = best;                                                        \
            }                                                                                   \
    }                                                                                           \
    APUS_INLINE void apus_softmax_##SUF##_body(int log_space, int64_t rows, int64_t n, const T *x, T *y) { \
        for (int64_t r = 0; r < rows; r++) {                                                    \
            const T *px = x + r * n;                                                            \
            T *py = y + r * n;                                                                  \
            T m = px[0];                                                                        \
            for (int64_t i = 1; i < n; i++) m = px[i] > m ? px[i] : m;                          \
            T s = 0;                                                                            \
            if (log_space) {                                                                    \
                for (int64_t i = 0; i < n; i++) s += EXPF(px[i] - m);                           \
                T lse = m + LOGF(s);                                                            \
                for (int64_t i = 0; i < n; i++) py[i] = px[i] - lse;                            \
            } else {                                                                            \
                for (int64_t i = 0; i < n; i++) { py[i] = EXPF(px[i] - m); s += py[i]; }        \
                T inv = (T)1 / s;                                                               \
                for (int64_t i = 0; i < n; i++) py[i] *= inv;                                   \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    APUS_VARIANTS(apus_softmax_##SUF, (int log_space, int64_t rows, int64_t n, const T *x, T *y), \
                  (log_space, rows, n, x, y))

#define EXPF apus_expf
#define LOGF logf
DEFINE_REDUCE(float, f32)
#undef EXPF
#undef LOGF
#define EXPF exp
#define LOGF log
DEFINE_REDUCE(double, f64)
