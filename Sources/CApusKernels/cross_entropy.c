// Softmax cross-entropy of rows of logits [rows, classes] against class ids, without writing
// the probabilities: forward, per row, the log-sum-exp and the loss lse − x[label]; backward,
// per row, g·(exp(x − lse) − [j = label]) in one pass.
#include <math.h>
#include "dispatch.h"
#include "fastmath.h"

#define DEFINE_CROSS_ENTROPY(T, SUF, EXP)                                                        \
    APUS_INLINE void apus_cross_entropy_##SUF##_body(int64_t rows, int64_t classes, const T *x,   \
        const int64_t *labels, T *loss, T *lse) {                                                \
        _Pragma("clang fp reassociate(on)")                                                      \
        for (int64_t r = 0; r < rows; r++) {                                                     \
            const T *row = x + r * classes;                                                      \
            T top = row[0];                                                                      \
            for (int64_t j = 1; j < classes; j++) top = row[j] > top ? row[j] : top;             \
            T sum = 0;                                                                           \
            for (int64_t j = 0; j < classes; j++) sum += EXP(row[j] - top);                      \
            T l = top + (T)log((double)sum);                                                     \
            lse[r] = l;                                                                          \
            loss[r] = l - row[labels[r]];                                                        \
        }                                                                                        \
    }                                                                                            \
    APUS_VARIANTS(apus_cross_entropy_##SUF, (int64_t rows, int64_t classes, const T *x,          \
        const int64_t *labels, T *loss, T *lse), (rows, classes, x, labels, loss, lse))          \
    APUS_INLINE void apus_cross_entropy_grad_##SUF##_body(int64_t rows, int64_t classes,         \
        const T *x, const int64_t *labels, const T *lse, const T *g, int64_t g_stride, T *dx) {  \
        for (int64_t r = 0; r < rows; r++) {                                                     \
            const T *row = x + r * classes;                                                      \
            T *out = dx + r * classes;                                                           \
            T l = lse[r], gr = g[r * g_stride];                                                  \
            for (int64_t j = 0; j < classes; j++) out[j] = gr * EXP(row[j] - l);                 \
            out[labels[r]] -= gr;                                                                \
        }                                                                                        \
    }                                                                                            \
    APUS_VARIANTS(apus_cross_entropy_grad_##SUF, (int64_t rows, int64_t classes, const T *x,     \
        const int64_t *labels, const T *lse, const T *g, int64_t g_stride, T *dx),               \
        (rows, classes, x, labels, lse, g, g_stride, dx))

DEFINE_CROSS_ENTROPY(float, f32, apus_expf)
DEFINE_CROSS_ENTROPY(double, f64, exp)
