// Gate math of one LSTM step (PyTorch's gate order: input, forget, cell, output), fused into
// one pass per row for the forward and one for the backward.
#include <math.h>
#include "dispatch.h"
#include "fastmath.h"

// The Float64 kernels call libm's exp and tanh, which the vectorizer cannot widen: their loops
// stay scalar, as intended (the hint below is for the Float32 kernels' own exp and tanh).
#pragma clang diagnostic ignored "-Wpass-failed"

// Every pointer is at unit u0 of batch row 0 and the kernels run units u0..<u0+units of every row
// (rows are 4·hidden wide for gates, hidden for the states), so threads can split the units.
// One LSTM step with an optional per-example mask m (1 = real step, 0 = padding): the state
// moves to the new values only where m = 1, and the step's output is m·h_new. Without a mask
// c_state = c_new and h_state = y = h_new exactly (they may be the same buffers).
#define DEFINE_LSTM_SEQUENCE(T, SUF, EXP, TANH)                                                \
    APUS_INLINE void apus_lstm_step_forward_##SUF##_body(int64_t batch, int64_t hidden, int64_t units, T *gates, \
        const T *c_prev, const T *h_prev, const T *mask, T *c_new, T *c_state, T *h_state, T *y) { \
        for (int64_t b = 0; b < batch; b++) {                                                  \
            T *gi = gates + b * 4 * hidden, *gf = gi + hidden, *gg = gf + hidden, *go = gg + hidden; \
            const T m = mask ? mask[b] : (T)1;                                                 \
            const T *cp = c_prev + b * hidden, *hp = h_prev + b * hidden;                      \
            T *cn = c_new + b * hidden, *cs = c_state + b * hidden, *hs = h_state + b * hidden, *yb = y + b * hidden; \
            _Pragma("clang loop vectorize(assume_safety)")                                     \
            for (int64_t j = 0; j < units; j++) {                                                 \
                T i = (T)1 / ((T)1 + EXP(-gi[j]));                                             \
                T f = (T)1 / ((T)1 + EXP(-gf[j]));                                             \
                T g = TANH(gg[j]);                                                             \
                T o = (T)1 / ((T)1 + EXP(-go[j]));                                             \
                T c = f * cp[j] + i * g;                                                       \
                T h = o * TANH(c);                                                             \
                gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;                                    \
                cn[j] = c;                                                                     \
                cs[j] = mask ? cp[j] + m * (c - cp[j]) : c;                                    \
                hs[j] = mask ? hp[j] + m * (h - hp[j]) : h;                                    \
                yb[j] = m * h;                                                                 \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_lstm_step_forward_##SUF, (int64_t batch, int64_t hidden, int64_t units, T *gates, const T *c_prev, \
                  const T *h_prev, const T *mask, T *c_new, T *c_state, T *h_state, T *y),       \
                  (batch, hidden, units, gates, c_prev, h_prev, mask, c_new, c_state, h_state, y))      \
    APUS_INLINE void apus_lstm_step_backward_##SUF##_body(int64_t batch, int64_t hidden, int64_t units, const T *gates, \
        const T *c_prev, const T *c_new, const T *mask, const T *dy, T *dh, T *dc, T *dgates) { \
        for (int64_t b = 0; b < batch; b++) {                                                  \
            const T *gi = gates + b * 4 * hidden, *gf = gi + hidden, *gg = gf + hidden, *go = gg + hidden; \
            T *di = dgates + b * 4 * hidden, *df = di + hidden, *dg = df + hidden, *dout = dg + hidden; \
            const T m = mask ? mask[b] : (T)1;                                                 \
            const T *cp = c_prev + b * hidden, *cn = c_new + b * hidden, *dyb = dy + b * hidden; \
            T *dhb = dh + b * hidden, *dcb = dc + b * hidden;                                  \
            _Pragma("clang loop vectorize(assume_safety)")                                     \
            for (int64_t j = 0; j < units; j++) {                                                 \
                T i = gi[j], f = gf[j], g = gg[j], o = go[j];                                  \
                T dhn = m * (dhb[j] + dyb[j]), dcn = m * dcb[j];                               \
                T tc = TANH(cn[j]);                                                            \
                T dct = dcn + dhn * o * ((T)1 - tc * tc);                                      \
                di[j] = dct * g * i * ((T)1 - i);                                              \
                df[j] = dct * cp[j] * f * ((T)1 - f);                                          \
                dg[j] = dct * i * ((T)1 - g * g);                                              \
                dout[j] = dhn * tc * o * ((T)1 - o);                                           \
                dhb[j] = ((T)1 - m) * dhb[j];                                                  \
                dcb[j] = ((T)1 - m) * dcb[j] + dct * f;                                        \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_lstm_step_backward_##SUF, (int64_t batch, int64_t hidden, int64_t units, const T *gates, \
                  const T *c_prev, const T *c_new, const T *mask, const T *dy, T *dh, T *dc, T *dgates), \
                  (batch, hidden, units, gates, c_prev, c_new, mask, dy, dh, dc, dgates))

DEFINE_LSTM_SEQUENCE(float, f32, apus_expf, apus_tanhf)
DEFINE_LSTM_SEQUENCE(double, f64, exp, tanh)
