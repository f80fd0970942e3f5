// Hot CPU loops of Apus. Every entry point picks an AVX-512, AVX2+FMA or baseline
// variant at run time (see dispatch.h); all loops are over plain C arrays.
#ifndef APUS_KERNELS_H
#define APUS_KERNELS_H
#include <stdint.h>
#include <stddef.h>

typedef enum {
    APUS_NEG, APUS_EXP, APUS_LOG, APUS_SQRT, APUS_RSQRT, APUS_ABS, APUS_SIN, APUS_COS,
    APUS_TANH, APUS_SIGMOID, APUS_RELU, APUS_LEAKY_RELU, APUS_GELU, APUS_GELU_DERIVATIVE,
    APUS_GELU_TANH, APUS_GELU_TANH_DERIVATIVE,   /* GELU with Φ by tanh (PyTorch's approximate="tanh") */
    APUS_SOFTPLUS, APUS_CLAMP, APUS_SIGN, APUS_STEP, APUS_CLAMP_MASK, APUS_AFFINE, APUS_POW_SCALAR
} apus_unary_op;

typedef enum {
    APUS_ADD, APUS_SUB, APUS_MUL, APUS_DIV, APUS_POW, APUS_MAXIMUM, APUS_MINIMUM,
    APUS_RELU_GRAD   /* a where b > 0, else 0: ReLU's backward with a = cotangent, b = input */
} apus_binary_op;

typedef enum { APUS_EQ, APUS_NE, APUS_LT, APUS_LE, APUS_GT, APUS_GE } apus_compare_op;

typedef enum { APUS_SUM, APUS_MAX, APUS_MIN, APUS_SUM_OF_SQUARES } apus_reduce_op;

#define APUS_MAX_DIMS 8

// ---- elementwise (elementwise.c) ----
/// y[i] = op(x[i]; p0, p1) for i in [0, n). p0/p1: leaky slope, clamp bounds, affine scale/shift, exponent.
void apus_unary_f32(int op, int64_t n, const float *x, float *y, double p0, double p1);
void apus_unary_f64(int op, int64_t n, const double *x, double *y, double p0, double p1);
/// y = a op b over `ndim` dims of `shape`; a/b strides in elements (0 = broadcast); y contiguous.
void apus_binary_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *sa,
                     const float *b, const int64_t *sb, float *y);
void apus_binary_f64(int op, int ndim, const int64_t *shape, const double *a, const int64_t *sa,
                     const double *b, const int64_t *sb, double *y);
/// y (uint8 0/1) = a cmp b, strided like apus_binary_*.
void apus_compare_f32(int op, int ndim, const int64_t *shape, const float *a, const int64_t *sa,
                      const float *b, const int64_t *sb, uint8_t *y);
void apus_compare_f64(int op, int ndim, const int64_t *shape, const double *a, const int64_t *sa,
                      const double *b, const int64_t *sb, uint8_t *y);
/// Strided copy of `elem_size`-byte elements (1, 2, 4 or 8): dst[idx] = src[idx] over `shape`.
void apus_copy_strided(int elem_size, int ndim, const int64_t *shape, const void *src,
                       const int64_t *ss, void *dst, const int64_t *ds);

// ---- reductions (reduce.c) ----
/// x viewed as [outer, r, inner] (contiguous) reduced over r into y [outer, inner].
void apus_reduce_f32(int op, int64_t outer, int64_t r, int64_t inner, const float *x, float *y);
void apus_reduce_f64(int op, int64_t outer, int64_t r, int64_t inner, const double *x, double *y);
/// Index (0..<r) of the max (is_max=1) or min along r; first occurrence wins.
void apus_argreduce_f32(int is_max, int64_t outer, int64_t r, int64_t inner, const float *x, int64_t *y);
void apus_argreduce_f64(int is_max, int64_t outer, int64_t r, int64_t inner, const double *x, int64_t *y);
/// Row-wise softmax (log_space=0) or log-softmax (log_space=1) over contiguous rows of length n.
void apus_softmax_f32(int log_space, int64_t rows, int64_t n, const float *x, float *y);
void apus_softmax_f64(int log_space, int64_t rows, int64_t n, const double *x, double *y);

// ---- Winograd F(2×2, 3×3) convolution transforms (conv_winograd.c) ----
/// U [16][outputs][channels] = G g Gᵀ of weights w [outputs, channels, 3, 3], for outputs first…first + count − 1.
void apus_winograd_weights_f32(const float *w, int64_t outputs, int64_t channels, int64_t first, int64_t count, float *u);
/// V [16][channels][ldv] = Bᵀ d B of the 4×4 tiles (origin 2·tile − pad) of x [images, channels, height, width];
/// `padded`: scratch of images·(2·tiles_h + 2)·(2·tiles_w + 2) floats.
void apus_winograd_input_f32(const float *x, int64_t images, int64_t channels, int64_t height, int64_t width, int64_t pad,
                             int64_t tiles_h, int64_t tiles_w, float *v, int64_t ldv, float *padded);
/// y [images, outputs, out_h, out_w] = Aᵀ M A of M [16][outputs][ldm].
void apus_winograd_output_f32(const float *m, int64_t images, int64_t outputs, int64_t out_h, int64_t out_w, int64_t tiles_h,
                              int64_t tiles_w, int64_t ldm, float *y);
/// dM [16][outputs][ldm] = A dY Aᵀ of the 2×2 tiles of the output gradient g [images, outputs, out_h, out_w].
void apus_winograd_output_gradient_f32(const float *g, int64_t images, int64_t outputs, int64_t out_h, int64_t out_w,
                                       int64_t tiles_h, int64_t tiles_w, float *m, int64_t ldm);
/// dw [outputs, channels, 3, 3] += Gᵀ dU G of dU [16][outputs][channels].
void apus_winograd_weight_gradient_f32(const float *du, int64_t outputs, int64_t channels, float *dw);

// ---- convolution helpers (conv.c) ----
/// One image [C, H, W] → columns [C*KH*KW, (oy1−oy0)·OW] for output rows oy0..<oy1, rows `ld` apart.
void apus_im2col_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                     int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, float *col);
void apus_im2col_f64(const double *x, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                     int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, double *col);
/// Columns for output rows oy0..<oy1 (rows `ld` apart) accumulated (+=) into an image [C, H, W].
void apus_col2im_f32(const float *col, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                     int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, float *x);
void apus_col2im_f64(const double *col, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                     int64_t oy0, int64_t oy1, int64_t ow, int64_t ld, double *x);

/// Softmax cross-entropy over rows of [rows, classes] (labels checked by the caller): loss and
/// log-sum-exp per row; its gradient g[r·g_stride]·(softmax − one-hot) per row.
void apus_cross_entropy_f32(int64_t rows, int64_t classes, const float *x, const int64_t *labels, float *loss, float *lse);
void apus_cross_entropy_f64(int64_t rows, int64_t classes, const double *x, const int64_t *labels, double *loss, double *lse);
void apus_cross_entropy_grad_f32(int64_t rows, int64_t classes, const float *x, const int64_t *labels, const float *lse,
                                 const float *g, int64_t g_stride, float *dx);
void apus_cross_entropy_grad_f64(int64_t rows, int64_t classes, const double *x, const int64_t *labels, const double *lse,
                                 const double *g, int64_t g_stride, double *dx);

/// Layer normalisation over rows of n elements, rows r0..<r1 (see layernorm.c); w, b, gmean,
/// ginvstd, dw and db may be NULL; dw and db are accumulated into.
void apus_layernorm_forward_f32(int64_t n, int64_t r0, int64_t r1, const float *x, const float *w, const float *b, double eps,
                                float *y, float *mean, float *invstd);
void apus_layernorm_forward_f64(int64_t n, int64_t r0, int64_t r1, const double *x, const double *w, const double *b, double eps,
                                double *y, double *mean, double *invstd);
void apus_layernorm_backward_f32(int64_t n, int64_t r0, int64_t r1, const float *g, const float *x, const float *w, const float *mean,
                                 const float *invstd, const float *gmean, const float *ginvstd, float *dx, float *dw, float *db);
void apus_layernorm_backward_f64(int64_t n, int64_t r0, int64_t r1, const double *g, const double *x, const double *w, const double *mean,
                                 const double *invstd, const double *gmean, const double *ginvstd, double *dx, double *dw, double *db);

/// Batch normalisation with batch statistics over [N, C, P], channels c0..<c1 (see batchnorm.c).
void apus_batchnorm_forward_f32(int64_t n, int64_t c, int64_t p, int64_t c0, int64_t c1, const float *x, const float *w,
                                const float *b, double eps, int relu, float *y, float *mean, float *invstd);
void apus_batchnorm_forward_f64(int64_t n, int64_t c, int64_t p, int64_t c0, int64_t c1, const double *x, const double *w,
                                const double *b, double eps, int relu, double *y, double *mean, double *invstd);
/// y (NULL without fused ReLU), gmean/ginvstd (NULL: zero) and dx/dw/db (NULL: not wanted) are optional.
void apus_batchnorm_backward_f32(int64_t n, int64_t c, int64_t p, int64_t c0, int64_t c1, const float *g, const float *x,
                                 const float *y, const float *w, const float *mean, const float *invstd, const float *gmean,
                                 const float *ginvstd, float *dx, float *dw, float *db);
void apus_batchnorm_backward_f64(int64_t n, int64_t c, int64_t p, int64_t c0, int64_t c1, const double *g, const double *x,
                                 const double *y, const double *w, const double *mean, const double *invstd, const double *gmean,
                                 const double *ginvstd, double *dx, double *dw, double *db);

/// Small images side by side for one wide GEMM: row r of image j ([rows, row_bytes], images
/// `stride` bytes apart) ↔ bytes (r·images + j)·row_bytes of a [rows, images·row] matrix.
void apus_gather_images(const void *src, int64_t images, int64_t stride, int64_t rows, int64_t row_bytes, void *dst);
void apus_scatter_images(const void *src, int64_t images, int64_t stride, int64_t rows, int64_t row_bytes, void *dst);

/// In place over [channels, pixels]: y += bias[c] (bias may be NULL), then max(y, 0) when relu.
void apus_bias_relu_f32(int64_t channels, int64_t pixels, float *y, const float *bias, int relu);
void apus_bias_relu_f64(int64_t channels, int64_t pixels, double *y, const double *bias, int relu);

// ---- pooling (pool.c): planes = N*C images of [H, W] → [OH, OW] ----
// Windows are clipped to the input, so a last window running past it (ceil mode) pools what it covers.
void apus_maxpool_f32(const float *x, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                      int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, float *y);
void apus_maxpool_f64(const double *x, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                      int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, double *y);
/// dx = g routed to the first maximum of each window (dx is fully written; no need to zero it).
void apus_maxpool_backward_f32(const float *x, const float *g, int64_t planes, int64_t h, int64_t w,
                               int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                               int64_t oh, int64_t ow, float *dx);
void apus_maxpool_backward_f64(const double *x, const double *g, int64_t planes, int64_t h, int64_t w,
                               int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                               int64_t oh, int64_t ow, double *dx);
/// Average pooling. Each window's sum is divided by its size clipped to the padded input when
/// count_include_pad (PyTorch's default), else by the number of input elements it covers.
void apus_avgpool_f32(const float *x, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                      int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, int count_include_pad, float *y);
void apus_avgpool_f64(const double *x, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                      int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, int count_include_pad, double *y);
/// dx (zeroed by caller) += g / divisor (as apus_avgpool_f32 counts it) spread over each window.
void apus_avgpool_backward_f32(const float *g, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, int count_include_pad,
                               float *dx);
void apus_avgpool_backward_f64(const double *g, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, int count_include_pad,
                               double *dx);

// ---- indexing (index.c): x as [outer, n, inner] blocks ----
/// y[o, j, :] = x[o, idx[j], :] for j < m; bytes per element `elem_size`.
void apus_index_select(int elem_size, int64_t outer, int64_t n, int64_t inner, const void *x,
                       const int64_t *idx, int64_t m, void *y);
/// y[o, idx[j], :] += g[o, j, :] (y pre-filled).
void apus_index_add_f32(int64_t outer, int64_t n, int64_t inner, const float *g, const int64_t *idx, int64_t m, float *y);
void apus_index_add_f64(int64_t outer, int64_t n, int64_t inner, const double *g, const int64_t *idx, int64_t m, double *y);
/// Gather along the middle axis: y[o, j, i] = x[o, idx[o, j, i], i]; x is [outer, n, inner], idx/y [outer, m, inner].
void apus_gather(int elem_size, int64_t outer, int64_t n, int64_t inner, const void *x,
                 const int64_t *idx, int64_t m, void *y);
/// Scatter-add: y[o, idx[o, j, i], i] += src[o, j, i] (y pre-filled).
void apus_scatter_add_f32(int64_t outer, int64_t n, int64_t inner, const float *src, const int64_t *idx, int64_t m, float *y);
void apus_scatter_add_f64(int64_t outer, int64_t n, int64_t inner, const double *src, const int64_t *idx, int64_t m, double *y);

// ---- LSTM (lstm.c); rows of gates are [i | f | g | o], each `hidden` wide ----
/// One LSTM step, optionally masked (mask: [batch] or NULL): gates pre-activations in,
/// activations out; writes c_new = f·c_prev + i·g (unmasked), the masked states c_state and
/// h_state, and y = m·h_new with h_new = o·tanh(c_new). Without a mask the outputs may alias.
/// Runs units u0..<u0+units of every row, with every pointer at unit u0 of row 0 (a thread's
/// share of the hidden units); rows are 4·hidden wide for gates and hidden for the rest.
void apus_lstm_step_forward_f32(int64_t batch, int64_t hidden, int64_t units, float *gates, const float *c_prev, const float *h_prev,
                                const float *mask, float *c_new, float *c_state, float *h_state, float *y);
void apus_lstm_step_forward_f64(int64_t batch, int64_t hidden, int64_t units, double *gates, const double *c_prev, const double *h_prev,
                                const double *mask, double *c_new, double *c_state, double *h_state, double *y);
/// Backward of that step: dh, dc (the state cotangents) in, and out as the parts carried past
/// the cell ((1−m)·dh; (1−m)·dc + the cell's dc_prev); dgates = cotangent of the pre-activations.
/// The caller adds dgates·W_hh to dh.
void apus_lstm_step_backward_f32(int64_t batch, int64_t hidden, int64_t units, const float *gates, const float *c_prev, const float *c_new,
                                 const float *mask, const float *dy, float *dh, float *dc, float *dgates);
void apus_lstm_step_backward_f64(int64_t batch, int64_t hidden, int64_t units, const double *gates, const double *c_prev, const double *c_new,
                                 const double *mask, const double *dy, double *dh, double *dc, double *dgates);

// ---- short GEMM against packed panels (panel_gemm.c) ----
/// Packs B [k, n] (row-major with leading dimension ldb; `transposed`: B is stored as [n, k])
/// into ceil(n / 16) panels of [k][16] floats, zero-padded: `packed` holds ceil(n / 16)·16·k
/// floats and should be 32-byte aligned. Columns j0..<j0+16 (j0 a multiple of 16) start at packed + j0·k.
void apus_sgemm_pack_panels(int64_t k, int64_t n, const float *b, int64_t ldb, int transposed, float *packed);
/// C[m, n] = C_in[m, n] + A[m, k]·B[k, n] (C_in may be C) with B packed by apus_sgemm_pack_panels,
/// all row-major float32. Returns 0 without doing anything when the CPU lacks AVX2 and FMA.
int apus_sgemm_panels(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                      const float *c_in, int64_t ldc_in, float *c, int64_t ldc);

// ---- optimizers (optim.c): in-place updates of n parameters p from gradients g ----
/// SGD with weight decay, momentum (buf may be NULL), dampening and Nesterov; `first`: buf starts as the gradient.
void apus_sgd_f32(int64_t n, float *p, const float *g, float *buf, double lr, double momentum, double dampening, double wd, int nesterov, int first);
void apus_sgd_f64(int64_t n, double *p, const double *g, double *buf, double lr, double momentum, double dampening, double wd, int nesterov, int first);
/// Adam (decoupled = 0, L2 weight decay) or AdamW (decoupled = 1); bc1/bc2 = 1 − βᵗ.
void apus_adam_f32(int64_t n, float *p, const float *g, float *m, float *v, double lr, double beta1, double beta2, double eps, double wd, int decoupled, double bc1, double bc2);
void apus_adam_f64(int64_t n, double *p, const double *g, double *m, double *v, double lr, double beta1, double beta2, double eps, double wd, int decoupled, double bc1, double bc2);
/// RMSprop; avg (centered) and buf (momentum) may be NULL.
void apus_rmsprop_f32(int64_t n, float *p, const float *g, float *sq, float *avg, float *buf, double lr, double alpha, double eps, double wd, double momentum);
void apus_rmsprop_f64(int64_t n, double *p, const double *g, double *sq, double *avg, double *buf, double lr, double alpha, double eps, double wd, double momentum);
/// Adagrad with the decayed learning rate clr.
void apus_adagrad_f32(int64_t n, float *p, const float *g, float *sum, double clr, double eps, double wd);
void apus_adagrad_f64(int64_t n, double *p, const double *g, double *sum, double clr, double eps, double wd);

// ---- images (resize.c) ----
/// Bilinear resize of a [channels, h, w] image to [channels, oh, ow] (half-pixel centres).
void apus_resize_bilinear_f32(int64_t channels, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y);
/// 8-bit HWC pixels → float CHW in [0, 1].
void apus_u8_hwc_to_f32_chw(int64_t h, int64_t w, int64_t c, const uint8_t *pixels, float *out);

// ---- CPU features (dispatch.c) ----
/// 2 = AVX-512F, 1 = AVX2+FMA, 0 = baseline: the variant the kernels run.
int apus_cpu_level(void);
/// The best OpenBLAS kernel family this CPU runs: 3 Cooperlake, 2 SkylakeX, 1 Haswell, 0 none.
int apus_cpu_blas_kernel_hint(void);
/// Makes this thread treat denormal floats as zero (FTZ + DAZ), once per thread. Denormal
/// operands slow FMA-heavy loops and sgemm by 10–100× on x86; TensorFlow and JAX flush them too.
void apus_flush_denormals(void);
/// A spin-wait hint (x86 `pause`).
void apus_cpu_relax(void);

/// Graph arena placement (see placement.c): the planned addresses of the next node's outputs.
int apus_placement_set(int count, void *const *pointers, const int64_t *sizes);
/// The planned address for an allocation of exactly `size` bytes on this thread, or NULL.
void *apus_placement_take(int64_t size);
void apus_placement_clear(void);
/// While held (nested calls count), allocations never take a planned place: for tensors that
/// outlive the node being run (an optimizer's state made on its first step).
void apus_placement_hold(int hold);
/// A process-wide increasing number (creation order of storages).
int64_t apus_next_serial(void);

/// Max pooling that also records, per output, the index of its window's first maximum within
/// the input plane (int32).
void apus_maxpool_indices_f32(const float *x, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, float *y, int32_t *idx);
void apus_maxpool_indices_f64(const double *x, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow, double *y, int32_t *idx);
/// Pooled rows py0 ..< py1 of each plane of 2×2, stride-2 max pooling with indices, from the strip
/// x [planes, 2·(py1 − py0), w] of input rows 2·py0 ..< 2·py1, into y [planes, oh, ow] and either
/// idx [planes, oh, ow] (indices within the whole input plane) or, when codes is not null, window
/// codes [planes, oh, ow]: one byte per window, its maximum's position (bit 1: lower row, bit 0:
/// right column), or 255 where the maximum is not positive (its gradient is zero after a ReLU).
void apus_maxpool_rows_f32(const float *x, int64_t planes, int64_t w, int64_t oh, int64_t ow,
                           int64_t py0, int64_t py1, float *y, int32_t *idx, uint8_t *codes);
/// dx [planes, h, w] = g [planes, oh, ow] scattered to the recorded indices, zeros elsewhere;
/// with a mask (the pooled output), only where mask > 0 (ReLU's gradient folded in). `tiled`:
/// the windows are 2×2, stride 2, and tile the plane (each element is then written once).
void apus_maxpool_scatter_f32(const float *g, const int32_t *idx, const float *mask, int64_t planes, int64_t h, int64_t w,
                              int64_t oh, int64_t ow, int tiled, float *dx);
void apus_maxpool_scatter_f64(const double *g, const int32_t *idx, const double *mask, int64_t planes, int64_t h, int64_t w,
                              int64_t oh, int64_t ow, int tiled, double *dx);
/// Rows 2·py0 ..< 2·py1 of each plane of the tiled scatter, into dx: row r of plane p at
/// dx + p·plane + r·ld (ld ≥ w; dense [planes, 2·(py1 − py0), w] with ld = w, plane = 2·(py1 − py0)·w).
/// The maxima's positions come from idx or, when codes is not null, from the window codes of
/// apus_maxpool_rows_f32 (255: the window gets zeros).
void apus_maxpool_scatter_rows_f32(const float *g, const int32_t *idx, const uint8_t *codes, const float *mask, int64_t planes,
                                   int64_t w, int64_t oh, int64_t ow, int64_t py0, int64_t py1, int64_t ld, int64_t plane, float *dx);

/// Direct 3×3 convolution (stride 1, no dilation, one group; conv_direct.c). Images are first
/// copied into a zero-padded buffer xp [C, HP, WP] with WP ≥ OW + 18 (vector loads may run
/// past a row's end).
void apus_pad_image_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                        int64_t hp, int64_t wp, float *xp);
/// Rows r0 ..< r0 + rows of that padded image (zero rows above and below x), into xp [C, rows, WP]:
/// the input of a strip of output rows.
void apus_pad_rows_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                       int64_t r0, int64_t rows, int64_t wp, float *xp);
/// Weights [O, C, 3, 3] (or, with flip, [C, O, 3, 3] rotated by 180°: the input gradient) packed
/// for the forward kernel: [ceil(O/8), C, 9, 8], zero-filled past O.
void apus_pack_conv3x3_weights_f32(const float *w, int64_t o, int64_t c, int flip, float *packed);
/// y [O, OH, OW] = conv(xp, packed weights) + bias (may be NULL), then ReLU when relu ≠ 0; channel o
/// of y starts at y + o·y_plane (y_plane = OH·OW, or more when y is a strip of rows of a taller image).
void apus_conv3x3_direct_f32(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *packed,
                             int64_t o, const float *bias, int relu, int64_t oh, int64_t ow, int64_t y_plane, float *y);
/// acc [C, 9, O32] += the weight gradient of one image (g [O, OH, OW], row y of channel o at
/// g + o·g_plane + y·g_row: dense with g_row = OW, g_plane = OH·OW; O32 = O rounded up to 32),
/// using gt (at least max(65536, OW·O32) floats) as scratch; bias_acc [O, 16] (may be NULL) += g
/// summed over the image's pixels, as 16 lane-wise partial sums per channel.
void apus_conv3x3_direct_wgrad_f32(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g, int64_t g_row,
                                   int64_t g_plane, int64_t o, int64_t oh, int64_t ow, float *gt, float *acc, float *bias_acc);
/// The rows of g that kernel transposes at a time (its bias lanes restart at each such strip).
int64_t apus_conv3x3_wgrad_strip_rows(int64_t o, int64_t ow);
/// The same accumulation for images of few channels (C ≤ 4), with vectors along the pixels and no
/// scratch: acc [C, 9, O32] += the weight gradient of one image, bias_acc [O, 16] (may be NULL)
/// += g's lane-wise pixel sums.
void apus_conv3x3_wgrad_lanes_f32(const float *xp, int64_t c, int64_t hp, int64_t wp, const float *g, int64_t g_row,
                                  int64_t g_plane, int64_t o, int64_t oh, int64_t ow, float *acc, float *bias_acc);
/// dw [O, C, 3, 3] += acc [C, 9, O32] transposed.
void apus_conv3x3_wgrad_finish_f32(const float *acc, int64_t o, int64_t c, float *dw);

/// The backward pass of a 3×3 convolution (stride 1, padding 1) whose ReLU output is max-pooled by
/// 2×2 windows, from the window codes of apus_maxpool_rows_f32 (conv_pooled_backward.c). The
/// input and its gradient are channel-last and padded by one pixel: [H + 2][W + 2][C16], C16 = C
/// rounded up to 16. Rows r0 ..< r1 of that copy of x [C, H, W]:
void apus_nchw_to_padded_nhwc_rows_f32(const float *x, int64_t c, int64_t h, int64_t w, int64_t c16,
                                       int64_t r0, int64_t r1, float *xt);
/// Image rows y0 ..< y1 of dx [C, H, W] from such a buffer's interior.
void apus_padded_nhwc_to_nchw_rows_f32(const float *dxt, int64_t c, int64_t h, int64_t w, int64_t c16,
                                       int64_t y0, int64_t y1, float *dx);
/// For window rows py0 ..< py1 of one image (pooled cotangent gp [O, PH, PW], codes [O, PH, PW]):
/// dwt [O][9][C16] += the weight gradient; lanes [O, 16] (may be NULL) += the bias gradient in
/// the lanes of apus_conv3x3_direct_wgrad_f32 run in strips of lane_rows rows; when dxt is not
/// NULL, image rows 2·py0 ..< 2·py1 of dxt += the input gradient for weights wt [O][9][C16]. xt
/// must hold padded rows 2·py0 ..< 2·py1 + 2. For finite inputs the sums are bit for bit those of
/// the dense kernels (the bias's those of apus_conv3x3_direct_wgrad_f32 on a dense cotangent).
/// scratch: at least O·(2·(py1 − py0) + 2)·(2·PW + 1) int32s.
void apus_conv3x3_pooled_backward_f32(const float *xt, const float *wt, const float *gp, const uint8_t *codes, int64_t o,
                                      int64_t c16, int64_t ph, int64_t pw, int64_t py0, int64_t py1, int64_t lane_rows,
                                      float *dwt, float *lanes, float *dxt, int32_t *scratch);
/// wt [O][9][C16] from weights [O, C, 3, 3], zero past C.
void apus_pack_conv3x3_nhwc_weights_f32(const float *w, int64_t o, int64_t c, int64_t c16, float *wt);
/// dw [O, C, 3, 3] += dwt [O][9][C16].
void apus_conv3x3_nhwc_wgrad_finish_f32(const float *dwt, int64_t o, int64_t c, int64_t c16, float *dw);

#endif
