// Elementwise kernels: unary maps, broadcasting binary maps and comparisons, strided copies.
#include <math.h>
#include <string.h>
#include "dispatch.h"
#include "fastmath.h"

// ---------- unary ----------
#define UNARY_LOOP(EXPR) for (int64_t i = 0; i < n; i++) { T v = x[i]; y[i] = (EXPR); } break;

#define DEFINE_UNARY(T, SUF, EXP, LOG, SQRT, SIN, COS, TANH, ERF, GELU_PRIME, LOG1P, POW, FABS, SIGMOID)      \
    APUS_INLINE void apus_unary_##SUF##_body(int op, int64_t n, const T *x, T *y, double p0, double p1) { \
        const T a = (T)p0, b = (T)p1;                                                             \
        const T inv_sqrt2 = (T)0.70710678118654752440;                                             \
        const T sqrt_2_over_pi = (T)0.79788456080286535588, cubic = (T)0.044715;                 \
        switch (op) {                                                                             \
        case APUS_NEG: UNARY_LOOP(-v)                                                             \
        case APUS_EXP: UNARY_LOOP(EXP(v))                                                         \
        case APUS_LOG: UNARY_LOOP(LOG(v))                                                         \
        case APUS_SQRT: UNARY_LOOP(SQRT(v))                                                       \
        case APUS_RSQRT: UNARY_LOOP((T)1 / SQRT(v))                                               \
        case APUS_ABS: UNARY_LOOP(FABS(v))                                                        \
        case APUS_SIN: UNARY_LOOP(SIN(v))                                                         \
        case APUS_COS: UNARY_LOOP(COS(v))                                                         \
        case APUS_TANH: UNARY_LOOP(TANH(v))                                                       \
        case APUS_SIGMOID: UNARY_LOOP(SIGMOID(v))                                                 \
        case APUS_RELU: UNARY_LOOP(v > 0 ? v : (T)0)                                              \
        case APUS_LEAKY_RELU: UNARY_LOOP(v > 0 ? v : a * v)                                       \
        case APUS_GELU: UNARY_LOOP((T)0.5 * v * ((T)1 + ERF(v * inv_sqrt2)))                      \
        case APUS_GELU_DERIVATIVE:                                                                \
            UNARY_LOOP(GELU_PRIME(v))                                                             \
        case APUS_GELU_TANH:                                                                      \
            UNARY_LOOP((T)0.5 * v * ((T)1 + TANH(sqrt_2_over_pi * (v + cubic * v * v * v))))    \
        case APUS_GELU_TANH_DERIVATIVE: /* ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²) */     \
            UNARY_LOOP(({ T t = TANH(sqrt_2_over_pi * (v + cubic * v * v * v));                  \
                          (T)0.5 * ((T)1 + t) + (T)0.5 * v * ((T)1 - t * t) * sqrt_2_over_pi      \
                              * ((T)1 + (T)3 * cubic * v * v); }))                                \
        case APUS_SOFTPLUS: UNARY_LOOP((v > 0 ? v : (T)0) + LOG1P(EXP(-FABS(v))))                 \
        case APUS_CLAMP: UNARY_LOOP(v < a ? a : (v > b ? b : v))                                  \
        case APUS_SIGN: UNARY_LOOP(v > 0 ? (T)1 : (v < 0 ? (T)-1 : (T)0))                         \
        case APUS_STEP: UNARY_LOOP(v > 0 ? (T)1 : (T)0)                                           \
        case APUS_CLAMP_MASK: UNARY_LOOP((v >= a && v <= b) ? (T)1 : (T)0)                        \
        case APUS_AFFINE: UNARY_LOOP(v * a + b)                                                   \
        case APUS_POW_SCALAR: UNARY_LOOP(POW(v, a))                                               \
        }                                                                                         \
    }                                                                                             \
    APUS_VARIANTS(apus_unary_##SUF, (int op, int64_t n, const T *x, T *y, double p0, double p1),  \
                  (op, n, x, y, p0, p1))

#define T float
static inline double apus_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline double apus_gelu_derivative(double x) {   // Φ(x) + x·φ(x)
    return 0.5 * (1.0 + erf(x * 0.70710678118654752440)) + x * 0.39894228040143267794 * exp(-0.5 * x * x);
}
DEFINE_UNARY(float, f32, apus_expf, logf, apus_sqrtf, sinf, cosf, apus_tanhf, apus_erff, apus_gelu_derivativef, log1pf, powf, fabsf, apus_sigmoidf)
#undef T
#define T double
DEFINE_UNARY(double, f64, exp, log, apus_sqrt, sin, cos, tanh, erf, apus_gelu_derivative, log1p, pow, fabs, apus_sigmoid)
#undef T

// ---------- strided outer iteration shared by binary, compare and copy ----------
// Walks every index of shape[0..<ndim-1] (row-major) keeping element offsets of up to three
// operands; the innermost dimension is handled by the caller's row loop.
#define FOR_EACH_ROW(ndim, shape, NOPS, strides, offs, BODY)                                   \
    do {                                                                                       \
        int64_t idx_[APUS_MAX_DIMS] = {0};                                                     \
        int64_t rows_ = 1;                                                                     \
        for (int d_ = 0; d_ < (ndim) - 1; d_++) rows_ *= (shape)[d_];                          \
        for (int64_t r_ = 0; r_ < rows_; r_++) {                                               \
            for (int k_ = 0; k_ < NOPS; k_++) {                                                \
                int64_t o_ = 0;                                                                \
                for (int d_ = 0; d_ < (ndim) - 1; d_++) o_ += idx_[d_] * (strides)[k_][d_];    \
                (offs)[k_] = o_;                                                               \
            }                                                                                  \
            BODY;                                                                              \
            for (int d_ = (ndim) - 2; d_ >= 0; d_--) {                                         \
                if (++idx_[d_] < (shape)[d_]) break;                                           \
                idx_[d_] = 0;                                                                  \
            }                                                                                  \
        }                                                                                      \
    } while (0)

// One output row of `n` elements: the four stride patterns get their own loops so the common
// ones (contiguous, scalar broadcast) vectorise.
#define ROW_LOOPS(EXPR)                                                                        \
    if (ia == 1 && ib == 1) { for (int64_t i = 0; i < n; i++) { T u = pa[i], v = pb[i]; py[i] = (EXPR); } } \
    else if (ia == 1 && ib == 0) { T v = pb[0]; for (int64_t i = 0; i < n; i++) { T u = pa[i]; py[i] = (EXPR); } } \
    else if (ia == 0 && ib == 1) { T u = pa[0]; for (int64_t i = 0; i < n; i++) { T v = pb[i]; py[i] = (EXPR); } } \
    else { for (int64_t i = 0; i < n; i++) { T u = pa[i * ia], v = pb[i * ib]; py[i] = (EXPR); } } \
    break;

#define DEFINE_BINARY(T, SUF, POW)                                                               \
    APUS_INLINE void binary_row_##SUF(int op, int64_t n, const T *pa, int64_t ia, const T *pb,   \
                                      int64_t ib, T *py) {                                       \
        switch (op) {                                                                            \
        case APUS_ADD: ROW_LOOPS(u + v)                                                          \
        case APUS_SUB: ROW_LOOPS(u - v)                                                          \
        case APUS_MUL: ROW_LOOPS(u * v)                                                          \
        case APUS_DIV: ROW_LOOPS(u / v)                                                          \
        case APUS_POW: ROW_LOOPS(POW(u, v))                                                      \
        case APUS_MAXIMUM: ROW_LOOPS(u >= v ? u : v)                                             \
        case APUS_MINIMUM: ROW_LOOPS(u <= v ? u : v)                                             \
        case APUS_RELU_GRAD: ROW_LOOPS(v > 0 ? u : (T)0)                                         \
        }                                                                                        \
    }                                                                                            \
    APUS_INLINE void apus_binary_##SUF##_body(int op, int ndim, const int64_t *shape, const T *a, \
                                              const int64_t *sa, const T *b, const int64_t *sb, T *y) { \
        const int64_t *strides[2] = {sa, sb};                                                    \
        int64_t offs[2];                                                                         \
        int64_t n = shape[ndim - 1];                                                             \
        int64_t row = 0;                                                                         \
        FOR_EACH_ROW(ndim, shape, 2, strides, offs, {                                            \
            binary_row_##SUF(op, n, a + offs[0], sa[ndim - 1], b + offs[1], sb[ndim - 1], y + row * n); \
            row++;                                                                               \
        });                                                                                      \
    }                                                                                            \
    APUS_VARIANTS(apus_binary_##SUF, (int op, int ndim, const int64_t *shape, const T *a,        \
                                      const int64_t *sa, const T *b, const int64_t *sb, T *y),   \
                  (op, ndim, shape, a, sa, b, sb, y))

#define T float
DEFINE_BINARY(float, f32, powf)
#undef T
#define T double
DEFINE_BINARY(double, f64, pow)
#undef T

// ---------- comparisons → uint8 ----------
#define CMP_LOOPS(EXPR)                                                                        \
    for (int64_t i = 0; i < n; i++) { T u = pa[i * ia], v = pb[i * ib]; py[i] = (uint8_t)(EXPR); } \
    break;

#define DEFINE_COMPARE(T, SUF)                                                                   \
    APUS_INLINE void apus_compare_##SUF##_body(int op, int ndim, const int64_t *shape, const T *a, \
                                               const int64_t *sa, const T *b, const int64_t *sb,   \
                                               uint8_t *y) {                                       \
        const int64_t *strides[2] = {sa, sb};                                                    \
        int64_t offs[2];                                                                         \
        int64_t n = shape[ndim - 1], ia = sa[ndim - 1], ib = sb[ndim - 1];                       \
        int64_t row = 0;                                                                         \
        FOR_EACH_ROW(ndim, shape, 2, strides, offs, {                                            \
            const T *pa = a + offs[0]; const T *pb = b + offs[1]; uint8_t *py = y + row * n;     \
            switch (op) {                                                                        \
            case APUS_EQ: CMP_LOOPS(u == v)                                                      \
            case APUS_NE: CMP_LOOPS(u != v)                                                      \
            case APUS_LT: CMP_LOOPS(u < v)                                                       \
            case APUS_LE: CMP_LOOPS(u <= v)                                                      \
            case APUS_GT: CMP_LOOPS(u > v)                                                       \
            case APUS_GE: CMP_LOOPS(u >= v)                                                      \
            }                                                                                    \
            row++;                                                                               \
        });                                                                                      \
    }                                                                                            \
    APUS_VARIANTS(apus_compare_##SUF, (int op, int ndim, const int64_t *shape, const T *a,       \
                                       const int64_t *sa, const T *b, const int64_t *sb, uint8_t *y), \
                  (op, ndim, shape, a, sa, b, sb, y))

#define T float
DEFINE_COMPARE(float, f32)
#undef T
#define T double
DEFINE_COMPARE(double, f64)
#undef T

// ---------- strided copy ----------
#define COPY_ROWS(T)                                                                           \
    {                                                                                          \
        const T *s = (const T *)src; T *d = (T *)dst;                                          \
        FOR_EACH_ROW(ndim, shape, 2, strides, offs, {                                          \
            const T *ps = s + offs[0]; T *pd = d + offs[1];                                    \
            if (is == 1 && ids == 1) memcpy(pd, ps, (size_t)n * sizeof(T));                    \
            else for (int64_t i = 0; i < n; i++) pd[i * ids] = ps[i * is];                     \
        });                                                                                    \
    }                                                                                          \
    break;

APUS_INLINE void apus_copy_strided_body(int elem_size, int ndim, const int64_t *shape, const void *src,
                                        const int64_t *ss, void *dst, const int64_t *ds) {
    const int64_t *strides[2] = {ss, ds};
    int64_t offs[2];
    int64_t n = shape[ndim - 1], is = ss[ndim - 1], ids = ds[ndim - 1];
    switch (elem_size) {
    case 1: COPY_ROWS(uint8_t)
    case 2: COPY_ROWS(uint16_t)
    case 4: COPY_ROWS(uint32_t)
    case 8: COPY_ROWS(uint64_t)
    }
}
APUS_VARIANTS(apus_copy_strided, (int elem_size, int ndim, const int64_t *shape, const void *src,
                                  const int64_t *ss, void *dst, const int64_t *ds),
              (elem_size, ndim, shape, src, ss, dst, ds))
