// The CPU reference kernels (src/ops/cpu_kernels.inc) with non-static wrappers for the emulator tests.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>
#include "ops/ops_impl.h"
#define REAL float
#define K(name) name##_f32
#define GEMM cblas_sgemm
#include "ops/cpu_kernels.inc"
#undef REAL
#undef K
#undef GEMM
#define REAL double
#define K(name) name##_f64
#define GEMM cblas_dgemm
#include "ops/cpu_kernels.inc"

void ref_attention_fwd(double *out, double *probs, const double *qkv, int64_t b, int64_t s, int h, int64_t hd, int causal) { attention_fwd_f64(out, probs, qkv, b, s, h, hd, causal); }
void ref_attention_bwd(double *dqkv, const double *dout, const double *qkv, const double *probs, int64_t b, int64_t s, int h, int64_t hd, int causal) { attention_bwd_f64(dqkv, dout, qkv, probs, b, s, h, hd, causal); }
void ref_layernorm_fwd(double *y, double *mean, double *rstd, const double *x, const double *g, const double *b, int64_t n, int64_t d, double eps) { layernorm_fwd_f64(y, mean, rstd, x, g, b, n, d, eps); }
void ref_layernorm_bwd(double *dx, double *dg, double *db, const double *dy, const double *x, const double *mean, const double *rstd, const double *g, int64_t n, int64_t d, int acc) { layernorm_bwd_f64(dx, dg, db, dy, x, mean, rstd, g, n, d, acc); }
void ref_activation_fwd(int act, double *y, const double *x, int64_t n) { activation_fwd_f64((Activation)act, y, x, n); }
void ref_activation_bwd(int act, double *dx, const double *dy, const double *x, int64_t n) { activation_bwd_f64((Activation)act, dx, dy, x, n); }
void ref_l2norm_fwd(double *y, const double *x, int64_t n, int64_t d, double eps) { l2norm_fwd_f64(y, x, n, d, eps); }
void ref_l2norm_bwd(double *dx, const double *dy, const double *x, int64_t n, int64_t d, double eps) { l2norm_bwd_f64(dx, dy, x, n, d, eps); }
void ref_cross_entropy(double *loss, double *dl, const double *z, const int32_t *lab, int64_t n, int64_t c, double gs) { cross_entropy_f64(loss, dl, z, lab, n, c, gs); }
void ref_scatter_add(double *dx, const double *dy, const int32_t *idx, int64_t n, int64_t d) { rows_scatter_add_f64(dx, dy, idx, n, d); }
void ref_scatter_set(double *y, const double *x, const int32_t *idx, int64_t n, int64_t d) { rows_scatter_set_f64(y, x, idx, n, d); }
void ref_gather(double *y, const double *x, const int32_t *idx, int64_t n, int64_t d) { rows_gather_f64(y, x, idx, n, d); }
void ref_im2col(double *p, const double *im, int64_t b, int64_t r, int64_t pt) { im2col_f64(p, im, b, r, pt); }
void ref_permute(double *y, const double *x, int64_t A, int64_t B, int64_t C, int64_t D) { permute_0213_f64(y, x, A, B, C, D); }
void ref_mean_fwd(double *y, const double *x, int64_t B, int64_t T, int64_t D) { mean_dim1_fwd_f64(y, x, B, T, D); }
void ref_mean_bwd(double *dx, const double *dy, int64_t B, int64_t T, int64_t D) { mean_dim1_bwd_f64(dx, dy, B, T, D); }
void ref_prepend_fwd(double *y, const double *x, const double *tok, int64_t b, int64_t s, int64_t d) { prepend_fwd_f64(y, x, tok, b, s, d); }
void ref_prepend_bwd(double *dx, double *dtok, const double *dy, int64_t b, int64_t s, int64_t d) { prepend_bwd_f64(dx, dtok, dy, b, s, d); }
void ref_add_broadcast_bwd(double *dp, const double *dy, int64_t copies, int64_t rows) { add_broadcast_bwd_f64(dp, dy, copies, rows); }
void ref_add_broadcast_fwd(double *y, const double *p, int64_t copies, int64_t rows) { add_broadcast_fwd_f64(y, p, copies, rows); }
void ref_axpy_rows(double *y, const double *w, const double *x, double beta, int64_t rows, int64_t d) { axpy_rows_f64(y, w, x, beta, rows, d); }
void ref_sgd_f32(float *w, const float *g, float *buf, int64_t n, float lr, float mom, float wd, int first) { sgd_update_f32(w, g, buf, n, lr, mom, wd, first); }
void ref_adamw_f32(float *w, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps, float wd, int step) { adamw_update_f32(w, g, m, v, n, lr, b1, b2, eps, wd, step); }
