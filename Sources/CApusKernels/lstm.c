// Gate math of one LSTM step (PyTorch's gate order: input, forget, cell, output), fused into
// one pass per row for the forward and one for the backward.
#include <math.h>
#include "dispatch.h"

#define DEFINE_LSTM(T, SUF, EXP, TANH)                                                         \
    APUS_INLINE void apus_lstm_cell_forward_##SUF##_body(int64_t batch, int64_t hidden, T *gates, \
                                                         const T *c_prev, T *c_next, T *h_next) { \
        for (int64_t b = 0; b < batch; b++) {                                                  \
            T *gi = gates + b * 4 * hidden, *gf = gi + hidden, *gg = gf + hidden, *go = gg + hidden; \
            const T *cp = c_prev + b * hidden;                                                 \
            T *cn = c_next + b * hidden, *hn = h_next + b * hidden;                            \
            for (int64_t j = 0; j < hidden; j++) {                                             \
                T i = (T)1 / ((T)1 + EXP(-gi[j]));                                             \
                T f = (T)1 / ((T)1 + EXP(-gf[j]));                                             \
                T g = TANH(gg[j]);                                                             \
                T o = (T)1 / ((T)1 + EXP(-go[j]));                                             \
                T c = f * cp[j] + i * g;                                                       \
                gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;                                    \
                cn[j] = c;                                                                     \
                hn[j] = o * TANH(c);                                                           \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_lstm_cell_forward_##SUF, (int64_t batch, int64_t hidden, T *gates,      \
                  const T *c_prev, T *c_next, T *h_next), (batch, hidden, gates, c_prev, c_next, h_next)) \
    APUS_INLINE void apus_lstm_cell_backward_##SUF##_body(int64_t batch, int64_t hidden,       \
        const T *gates, const T *c_prev, const T *c_next, const T *dh, const T *dc, T *dgates, T *dc_prev) { \
        for (int64_t b = 0; b < batch; b++) {                                                  \
            const T *gi = gates + b * 4 * hidden, *gf = gi + hidden, *gg = gf + hidden, *go = gg + hidden; \
            T *di = dgates + b * 4 * hidden, *df = di + hidden, *dg = df + hidden, *dout = dg + hidden; \
            const T *cp = c_prev + b * hidden, *cn = c_next + b * hidden;                      \
            const T *dhb = dh + b * hidden, *dcb = dc + b * hidden;                            \
            T *dcp = dc_prev + b * hidden;                                                     \
            for (int64_t j = 0; j < hidden; j++) {                                             \
                T i = gi[j], f = gf[j], g = gg[j], o = go[j];                                  \
                T tc = TANH(cn[j]);                                                            \
                T dct = dcb[j] + dhb[j] * o * ((T)1 - tc * tc);                                \
                di[j] = dct * g * i * ((T)1 - i);                                              \
                df[j] = dct * cp[j] * f * ((T)1 - f);                                          \
                dg[j] = dct * i * ((T)1 - g * g);                                              \
                dout[j] = dhb[j] * tc * o * ((T)1 - o);                                        \
                dcp[j] = dct * f;                                                              \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    APUS_VARIANTS(apus_lstm_cell_backward_##SUF, (int64_t batch, int64_t hidden, const T *gates, \
                  const T *c_prev, const T *c_next, const T *dh, const T *dc, T *dgates, T *dc_prev), \
                  (batch, hidden, gates, c_prev, c_next, dh, dc, dgates, dc_prev))

DEFINE_LSTM(float, f32, expf, tanhf)
DEFINE_LSTM(double, f64, exp, tanh)
