/* The counting backend: an ops context that computes nothing and allocates
 * nothing, but adds up every device allocation the model code asks for and
 * answers backend questions (the attention's saved bytes) as the backend it
 * stands in for. The memory planner (src/train/plan.c) builds the real model
 * on it, so the plan counts exactly what the model would allocate on a GPU,
 * on a machine without one, in milliseconds, for any backbone. Allocations
 * return addresses that are never backed (ops_alloc charges them to the
 * context's account, ops_free credits them): nothing dereferences them,
 * because every op and transfer here is a no-op. The models also run one
 * training step on such a context to measure their backward scratch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops_impl.h"

typedef struct CountState {
    uint64_t allocations; /* so far: each gets its own fake address (ops->backend says whose sizes) */
} CountState;

/* ops_alloc charges the account (ops.c); nothing is allocated. Each allocation gets its own
 * address in the non-canonical hole of x86-64 (and far above any arm64 user address): tensors
 * look allocated to every check that asks for data, ops_free finds them by address, and any
 * dereference faults at once. */
static void *count_alloc(Ops *ops, size_t bytes) {
    (void)bytes;
    CountState *st = ops->impl;
    return (void *)(uintptr_t)(0x800000000000ull + (uint64_t)(st->allocations++) * 4096u);
}
static void count_free(Ops *ops, void *p) { (void)ops, (void)p; }
static void count_transfer(Ops *ops, void *dst, const void *src, size_t bytes) {
    (void)ops, (void)dst, (void)src, (void)bytes;
}
static void count_zero(Ops *ops, T t) { (void)ops, (void)t; }
static void count_sync(Ops *ops) { (void)ops; }

/* Every op: nothing to compute. */
static void nop_linear(Ops *o, T y, T x, T w, T b) { (void)o, (void)y, (void)x, (void)w, (void)b; }
static void nop_matmul(Ops *o, T c, T a, T b, int ta, int tb, float al, float be) {
    (void)o, (void)c, (void)a, (void)b, (void)ta, (void)tb, (void)al, (void)be;
}
static void nop_layernorm(Ops *o, T y, T m, T r, T x, T g, T b, float e) {
    (void)o, (void)y, (void)m, (void)r, (void)x, (void)g, (void)b, (void)e;
}
static void nop_activation(Ops *o, Activation a, T y, T x) { (void)o, (void)a, (void)y, (void)x; }
static void nop_tt(Ops *o, T a, T b) { (void)o, (void)a, (void)b; }
static void nop_ttt(Ops *o, T a, T b, T c) { (void)o, (void)a, (void)b, (void)c; }
static void nop_axpy(Ops *o, T y, float a, T x) { (void)o, (void)y, (void)a, (void)x; }
static void nop_axpy_rows(Ops *o, T y, T w, T x, float b) { (void)o, (void)y, (void)w, (void)x, (void)b; }
static void nop_attention(Ops *o, T out, T saved, T qkv, int h, int c) {
    (void)o, (void)out, (void)saved, (void)qkv, (void)h, (void)c;
}
static void nop_im2col(Ops *o, T p, T i, int patch) { (void)o, (void)p, (void)i, (void)patch; }
static void nop_normalize(Ops *o, T y, T x, const float *lut) { (void)o, (void)y, (void)x, (void)lut; }
static void nop_eps(Ops *o, T y, T x, float e) { (void)o, (void)y, (void)x, (void)e; }
static void nop_scale(Ops *o, T y, float a) { (void)o, (void)y, (void)a; }
static void nop_ce(Ops *o, T l, T d, T g, T lab, float s) { (void)o, (void)l, (void)d, (void)g, (void)lab, (void)s; }
static double nop_sum_squares(Ops *o, T x) { return (void)o, (void)x, 0.0; }
static void nop_sgd(Ops *o, T w, T g, T b, float lr, float m, float wd, int f) {
    (void)o, (void)w, (void)g, (void)b, (void)lr, (void)m, (void)wd, (void)f;
}
static void nop_adamw(Ops *o, T w, T g, T m, T v, float lr, float b1, float b2, float e, float wd, int s) {
    (void)o, (void)w, (void)g, (void)m, (void)v, (void)lr, (void)b1, (void)b2, (void)e, (void)wd, (void)s;
}
static void nop_linear_bwd(Ops *o, T dx, T dw, T db, T dy, T x, T w, int a) {
    (void)o, (void)dx, (void)dw, (void)db, (void)dy, (void)x, (void)w, (void)a;
}
static void nop_layernorm_bwd(Ops *o, T dx, T dg, T db, T dy, T x, T m, T r, T g, int a) {
    (void)o, (void)dx, (void)dg, (void)db, (void)dy, (void)x, (void)m, (void)r, (void)g, (void)a;
}
static void nop_activation_bwd(Ops *o, Activation a, T dx, T dy, T x) { (void)o, (void)a, (void)dx, (void)dy, (void)x; }
static void nop_attention_bwd(Ops *o, T dqkv, T dout, T qkv, T saved, int h, int c) {
    (void)o, (void)dqkv, (void)dout, (void)qkv, (void)saved, (void)h, (void)c;
}
static void nop_l2_bwd(Ops *o, T dx, T dy, T x, float e) { (void)o, (void)dx, (void)dy, (void)x, (void)e; }

static void nop_adapter(Ops *o, T out, T x, const AdapterWeights *w, T res, AdapterForm f, T s) {
    (void)o, (void)out, (void)x, (void)w, (void)res, (void)f, (void)s;
}
static void nop_adapter_bwd(Ops *o, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w, AdapterForm f,
                            int a, T s) {
    (void)o, (void)dx, (void)g, (void)dout, (void)x, (void)w, (void)f, (void)a, (void)s;
}

static size_t count_saved_cpu(int64_t b, int64_t s, int h) {
    return ops_attention_saved_bytes_for(BACKEND_CPU, b, s, h);
}
static size_t count_saved_cuda(int64_t b, int64_t s, int h) {
    return ops_attention_saved_bytes_for(BACKEND_CUDA, b, s, h);
}

/* adapter: nothing to compute; its scratch is the caller's (counted where the model takes it) */
#define COUNT_VTABLE(saved)                                                                                            \
    {.alloc = count_alloc, .free = count_free, .upload = count_transfer, .download = count_transfer,                   \
     .zero = count_zero, .copy = count_transfer, .sync = count_sync, .linear = nop_linear, .matmul = nop_matmul,       \
     .layernorm = nop_layernorm, .activation = nop_activation, .add = nop_ttt, .axpy = nop_axpy,                       \
     .axpy_rows = nop_axpy_rows, .add_broadcast = nop_tt, .attention = nop_attention, .attention_saved_bytes = saved, \
     .embedding = nop_ttt, .gather_rows = nop_ttt, .scatter_rows = nop_ttt, .im2col_patches = nop_im2col,              \
     .normalize_images = nop_normalize,                                                                                \
     .prepend_token = nop_ttt, .l2_normalize = nop_eps, .permute_0213 = nop_tt, .mean_dim1 = nop_tt,                   \
     .scale = nop_scale, .cross_entropy = nop_ce, .sum_squares = nop_sum_squares, .sgd_update = nop_sgd,               \
     .adamw_update = nop_adamw, .linear_backward = nop_linear_bwd, .layernorm_backward = nop_layernorm_bwd,            \
     .activation_backward = nop_activation_bwd, .attention_backward = nop_attention_bwd,                               \
     .embedding_backward = nop_ttt, .gather_rows_backward = nop_ttt, .prepend_token_backward = nop_ttt,                \
     .add_broadcast_backward = nop_tt, .l2_normalize_backward = nop_l2_bwd, .mean_dim1_backward = nop_tt,              \
     .adapter = nop_adapter, .adapter_backward = nop_adapter_bwd}

static const OpsVtable count_as_cpu = COUNT_VTABLE(count_saved_cpu);
static const OpsVtable count_as_cuda = COUNT_VTABLE(count_saved_cuda);

Ops *ops_create_counting(Backend as) {
    Ops *ops = xcalloc(1, sizeof *ops);
    CountState *st = xcalloc(1, sizeof *st);
    ops->backend = as;
    ops->vt = as == BACKEND_CUDA ? &count_as_cuda : &count_as_cpu;
    ops->impl = st;
    ops->threads = 1;
    ops->counting = 1;
    snprintf(ops->desc, sizeof ops->desc, "counting (sizes of the %s backend)", as == BACKEND_CUDA ? "CUDA" : "CPU");
    return ops;
}


int ops_is_counting(const Ops *ops) { return ops->counting; }
