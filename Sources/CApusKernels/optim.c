// Fused in-place optimizer updates (PyTorch's formulas), one pass over each parameter.
#include <math.h>
#include "dispatch.h"
#include "fastmath.h"

#define DEFINE_OPTIM(T, SUF, SQRT)                                                             \
    APUS_INLINE void apus_sgd_##SUF##_body(int64_t n, T *p, const T *g, T *buf, double lr,     \
        double momentum, double dampening, double wd, int nesterov, int first) {               \
        const T step = (T)lr, decay = (T)wd, mu = (T)momentum, keep = (T)(1 - dampening);       \
        /* One loop per case: a branch on `buf` inside the loop left it on a slow path (50×). */ \
        if (!buf) {                                                                            \
            for (int64_t i = 0; i < n; i++) p[i] -= step * (g[i] + decay * p[i]);              \
        } else if (first) {                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T d = g[i] + decay * p[i];                                                     \
                buf[i] = d;                                                                    \
                p[i] -= step * (nesterov ? d + mu * d : d);                                    \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T d = g[i] + decay * p[i];                                                     \
                T b = mu * buf[i] + keep * d;                                                  \
                buf[i] = b;                                                                    \
                p[i] -= step * (nesterov ? d + mu * b : b);                                    \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_sgd_##SUF, (int64_t n, T *p, const T *g, T *buf, double lr, double momentum, \
                  double dampening, double wd, int nesterov, int first),                       \
                  (n, p, g, buf, lr, momentum, dampening, wd, nesterov, first))                \
    APUS_INLINE void apus_adam_##SUF##_body(int64_t n, T *p, const T *g, T *m, T *v, double lr, \
        double beta1, double beta2, double eps, double wd, int decoupled, double bc1, double bc2) { \
        const T step = (T)(lr / bc1), inv_sqrt_bc2 = (T)(1 / sqrt(bc2));                       \
        const T b1 = (T)beta1, b2 = (T)beta2, e = (T)eps, shrink = (T)(1 - lr * wd);          \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T d = g[i];                                                                        \
            if (decoupled) p[i] *= shrink; else d += (T)wd * p[i];                             \
            T mi = b1 * m[i] + ((T)1 - b1) * d;                                                \
            T vi = b2 * v[i] + ((T)1 - b2) * d * d;                                            \
            m[i] = mi; v[i] = vi;                                                              \
            p[i] -= step * mi / (SQRT(vi) * inv_sqrt_bc2 + e);                                 \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_adam_##SUF, (int64_t n, T *p, const T *g, T *m, T *v, double lr, double beta1, \
                  double beta2, double eps, double wd, int decoupled, double bc1, double bc2),  \
                  (n, p, g, m, v, lr, beta1, beta2, eps, wd, decoupled, bc1, bc2))             \
    APUS_INLINE void apus_rmsprop_##SUF##_body(int64_t n, T *p, const T *g, T *sq, T *avg, T *buf, \
        double lr, double alpha, double eps, double wd, double momentum) {                     \
        const T a = (T)alpha;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T d = g[i] + (T)wd * p[i];                                                         \
            T s = a * sq[i] + ((T)1 - a) * d * d;                                              \
            sq[i] = s;                                                                         \
            T denom;                                                                           \
            if (avg) { T ga = a * avg[i] + ((T)1 - a) * d; avg[i] = ga; denom = SQRT(s - ga * ga) + (T)eps; } \
            else denom = SQRT(s) + (T)eps;                                                     \
            if (buf) { T b = (T)momentum * buf[i] + d / denom; buf[i] = b; p[i] -= (T)lr * b; } \
            else p[i] -= (T)lr * d / denom;                                                    \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_rmsprop_##SUF, (int64_t n, T *p, const T *g, T *sq, T *avg, T *buf, double lr, \
                  double alpha, double eps, double wd, double momentum),                       \
                  (n, p, g, sq, avg, buf, lr, alpha, eps, wd, momentum))                       \
    APUS_INLINE void apus_adagrad_##SUF##_body(int64_t n, T *p, const T *g, T *sum, double clr, \
        double eps, double wd) {                                                               \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T d = g[i] + (T)wd * p[i];                                                         \
            T s = sum[i] + d * d;                                                              \
            sum[i] = s;                                                                        \
            p[i] -= (T)clr * d / (SQRT(s) + (T)eps);                                           \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_adagrad_##SUF, (int64_t n, T *p, const T *g, T *sum, double clr, double eps, double wd), \
                  (n, p, g, sum, clr, eps, wd))

DEFINE_OPTIM(float, f32, apus_sqrtf)
DEFINE_OPTIM(double, f64, apus_sqrt)
