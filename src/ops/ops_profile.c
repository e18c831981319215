/* Per-op timing: where a step's time goes, op by op (ops.h: ops_profile_start). The profile wraps the
 * backend's op table with one of the same functions, each of which notes the op and its operands, marks
 * the start, calls the backend and marks the end; the backend is unchanged. Marks are host clock readings
 * where the backend has no mark hooks (the CPU: an op returns done) and events on the stream where it has
 * (CUDA: the host runs ahead of the GPU, so the times are read only in ops_profile_step, after the caller
 * synced). A backend's op that calls another op through ops->vt (the CPU's linear_backward through matmul,
 * say) counts once: only the outermost op of a nest is timed. Transfers (upload, download, zero, copy) are
 * timed as ops; what runs beside the table (NCCL, host work between ops) is in the step's wall time only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/timer.h"
#include "ops/ops_impl.h"

typedef struct OpsProfile OpsProfile;

typedef struct ProfCall {
    int entry;
    void *from, *to; /* backend marks, or NULL */
    double t0, t1;   /* host clock where the backend has no marks */
} ProfCall;

struct OpsProfile {
    const OpsVtable *inner; /* the backend's table, restored by ops_profile_stop */
    OpsVtable wrapped;
    int depth; /* ops in progress: only depth 0 -> 1 is timed */
    OpsProfileEntry *entries;
    uint64_t *hashes;
    int n_entries, cap_entries;
    ProfCall *pending; /* timed since the last ops_profile_step */
    int n_pending, cap_pending;
    int steps;
    double wall_s;
};

static uint64_t hash_text(const char *a, const char *b) {
    return fnv1a_text(fnv1a_text(FNV1A_BASIS, a), b);
}

/* "bf16[256,197,768] f32[2304,768]": each operand that holds data (an absent optional one is skipped). */
static void describe_operands(char *buf, size_t n, const Tensor *const *ts, int count, double *bytes) {
    size_t used = 0;
    buf[0] = 0;
    *bytes = 0;
    for (int i = 0; i < count; i++) {
        const Tensor *t = ts[i];
        if (!t || !t->data) continue;
        *bytes += (double)tensor_bytes(t);
        char dt[16];
        snprintf(dt, sizeof dt, "%s", dtype_name(t->dtype));
        for (char *c = dt; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        int w = snprintf(buf + used, n - used, "%s%s[", used ? " " : "", dt);
        for (int d = 0; d < t->ndim && w > 0 && used + (size_t)w < n; d++)
            w += snprintf(buf + used + w, n - used - w, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        if (w > 0 && used + (size_t)w < n) w += snprintf(buf + used + w, n - used - w, "]");
        if (w < 0 || used + (size_t)w >= n) break; /* truncated: the key stays what fits */
        used += (size_t)w;
    }
}

static int find_entry(OpsProfile *p, const char *op, const char *operands) {
    uint64_t h = hash_text(op, operands);
    for (int i = 0; i < p->n_entries; i++)
        if (p->hashes[i] == h && p->entries[i].op == op && !strcmp(p->entries[i].operands, operands)) return i;
    if (p->n_entries == p->cap_entries) {
        p->cap_entries = p->cap_entries ? 2 * p->cap_entries : 64;
        p->entries = xrealloc(p->entries, (size_t)p->cap_entries * sizeof *p->entries);
        p->hashes = xrealloc(p->hashes, (size_t)p->cap_entries * sizeof *p->hashes);
    }
    OpsProfileEntry *e = &p->entries[p->n_entries];
    memset(e, 0, sizeof *e);
    e->op = op;
    snprintf(e->operands, sizeof e->operands, "%s", operands);
    p->hashes[p->n_entries] = h;
    return p->n_entries++;
}

/* Starts timing an op; returns whether it is the outermost (timed) one. */
static int prof_begin(Ops *o, const char *op, double flops, const Tensor *const *ts, int count, ProfCall *c) {
    OpsProfile *p = o->profile;
    if (p->depth++ > 0) return 0;
    char operands[sizeof ((OpsProfileEntry *)0)->operands];
    double bytes;
    describe_operands(operands, sizeof operands, ts, count, &bytes);
    c->entry = find_entry(p, op, operands);
    OpsProfileEntry *e = &p->entries[c->entry];
    e->calls++, e->flops += flops, e->bytes += bytes;
    c->from = c->to = NULL;
    c->t0 = c->t1 = 0;
    if (p->inner->mark) c->from = p->inner->mark(o);
    else c->t0 = time_now();
    return 1;
}

static void prof_end(Ops *o, int outer, ProfCall *c) {
    OpsProfile *p = o->profile;
    p->depth--;
    if (!outer) return;
    if (p->inner->mark) c->to = p->inner->mark(o);
    else c->t1 = time_now();
    if (p->n_pending == p->cap_pending) {
        p->cap_pending = p->cap_pending ? 2 * p->cap_pending : 1024;
        p->pending = xrealloc(p->pending, (size_t)p->cap_pending * sizeof *p->pending);
    }
    p->pending[p->n_pending++] = *c;
}

/* The operands of a call, as the array prof_begin takes. */
#define OPERANDS(...) \
    ((const Tensor *const[]){__VA_ARGS__}), (int)(sizeof((const Tensor *const[]){__VA_ARGS__}) / sizeof(const Tensor *))
/* One timed call of the backend's function `fn` (its arguments after ops: `args`). */
#define TIMED(name, flops, fn, args, ...)                                                                     \
    do {                                                                                                       \
        ProfCall c_;                                                                                           \
        int outer_ = prof_begin(o, name, flops, OPERANDS(__VA_ARGS__), &c_);                                   \
        o->profile->inner->fn args;                                                                            \
        prof_end(o, outer_, &c_);                                                                              \
    } while (0)

/* ---- matrix FLOPs, 2 per multiply-add (train/bench.h counts the same products from the architecture) ---- */

static double rows(T t) { return (double)ops_rows(t); }
static double cols(T t) { return (double)ops_cols(t); }
static int present(T t) { return t && t->data; }
/* y[n,out] = x[n,in] w[out,in]^T */
static double linear_flops(T x, T w) { return 2.0 * rows(x) * cols(x) * (double)w->shape[0]; }
/* qkv[B,S,3W]: q k^T and p v, 2 S^2 W each per sequence */
static double attention_flops(T qkv) {
    double seqs = qkv->ndim == 3 ? (double)qkv->shape[0] : 1, len = (double)qkv->shape[qkv->ndim - 2];
    return 2.0 * 2.0 * seqs * len * len * (cols(qkv) / 3.0);
}

/* ---- the wrapped table ------------------------------------------------------------------------------- */

static void p_upload(Ops *o, void *dst, const void *src, size_t bytes) {
    Tensor t = tensor_make(dst, DT_U8, 1, (int64_t)bytes);
    TIMED("upload", 0, upload, (o, dst, src, bytes), &t);
}
static void p_download(Ops *o, void *dst, const void *src, size_t bytes) {
    Tensor t = tensor_make((void *)src, DT_U8, 1, (int64_t)bytes);
    TIMED("download", 0, download, (o, dst, src, bytes), &t);
}
static void p_copy(Ops *o, void *dst, const void *src, size_t bytes) {
    Tensor a = tensor_make(dst, DT_U8, 1, (int64_t)bytes), b = tensor_make((void *)src, DT_U8, 1, (int64_t)bytes);
    TIMED("copy", 0, copy, (o, dst, src, bytes), &a, &b);
}
static void p_zero(Ops *o, T t) { TIMED("zero", 0, zero, (o, t), t); }
static void p_linear(Ops *o, T y, T x, T w, T b) {
    TIMED("linear", linear_flops(x, w), linear, (o, y, x, w, b), y, x, w, b);
}
static void p_matmul(Ops *o, T c, T a, T b, int ta, int tb, float al, float be) {
    double k = (double)(ta ? a->shape[0] : a->shape[1]);
    TIMED("matmul", 2.0 * rows(c) * cols(c) * k, matmul, (o, c, a, b, ta, tb, al, be), c, a, b);
}
static void p_layernorm(Ops *o, T y, T m, T r, T x, T g, T b, float e) {
    TIMED("layernorm", 0, layernorm, (o, y, m, r, x, g, b, e), y, m, r, x, g, b);
}
static void p_activation(Ops *o, Activation a, T y, T x) { TIMED("activation", 0, activation, (o, a, y, x), y, x); }
static void p_add(Ops *o, T y, T a, T b) { TIMED("add", 0, add, (o, y, a, b), y, a, b); }
static void p_axpy(Ops *o, T y, float al, T x) { TIMED("axpy", 0, axpy, (o, y, al, x), y, x); }
static void p_axpy_rows(Ops *o, T y, T w, T x, float be) {
    TIMED("axpy_rows", 0, axpy_rows, (o, y, w, x, be), y, w, x);
}
static void p_add_broadcast(Ops *o, T y, T q) { TIMED("add_broadcast", 0, add_broadcast, (o, y, q), y, q); }
static void p_attention(Ops *o, T out, T saved, T qkv, int h, int causal) {
    TIMED(causal ? "attention (causal)" : "attention", attention_flops(qkv), attention, (o, out, saved, qkv, h, causal),
          out, saved, qkv);
}
static void p_embedding(Ops *o, T y, T table, T ids) {
    TIMED("embedding", 0, embedding, (o, y, table, ids), y, table, ids);
}
static void p_gather_rows(Ops *o, T y, T x, T idx) { TIMED("gather_rows", 0, gather_rows, (o, y, x, idx), y, x, idx); }
static void p_scatter_rows(Ops *o, T y, T x, T idx) {
    TIMED("scatter_rows", 0, scatter_rows, (o, y, x, idx), y, x, idx);
}
static void p_im2col(Ops *o, T patches, T images, int patch) {
    TIMED("im2col_patches", 0, im2col_patches, (o, patches, images, patch), patches, images);
}
static void p_normalize_images(Ops *o, T y, T x, const float *lut) {
    TIMED("normalize_images", 0, normalize_images, (o, y, x, lut), y, x);
}
static void p_prepend_token(Ops *o, T y, T x, T tok) {
    TIMED("prepend_token", 0, prepend_token, (o, y, x, tok), y, x, tok);
}
static void p_l2_normalize(Ops *o, T y, T x, float e) { TIMED("l2_normalize", 0, l2_normalize, (o, y, x, e), y, x); }
static void p_permute_0213(Ops *o, T y, T x) { TIMED("permute_0213", 0, permute_0213, (o, y, x), y, x); }
static void p_mean_dim1(Ops *o, T y, T x) { TIMED("mean_dim1", 0, mean_dim1, (o, y, x), y, x); }
static void p_scale(Ops *o, T y, float al) { TIMED("scale", 0, scale, (o, y, al), y); }
static void p_cross_entropy(Ops *o, T loss, T dl, T logits, T labels, float s) {
    TIMED("cross_entropy", 0, cross_entropy, (o, loss, dl, logits, labels, s), loss, dl, logits, labels);
}
static double p_sum_squares(Ops *o, T x) { /* TIMED discards what the op returns */
    ProfCall c;
    int outer = prof_begin(o, "sum_squares", 0, OPERANDS(x), &c);
    double r = o->profile->inner->sum_squares(o, x);
    prof_end(o, outer, &c);
    return r;
}
static void p_sgd(Ops *o, T w, T g, T buf, float lr, float m, float wd, int first) {
    TIMED("sgd_update", 0, sgd_update, (o, w, g, buf, lr, m, wd, first), w, g, buf);
}
static void p_adamw(Ops *o, T w, T g, T m, T v, float lr, float b1, float b2, float e, float wd, int step) {
    TIMED("adamw_update", 0, adamw_update, (o, w, g, m, v, lr, b1, b2, e, wd, step), w, g, m, v);
}
static void p_linear_bwd(Ops *o, T dx, T dw, T db, T dy, T x, T w, int acc) {
    double f = (present(dx) + present(dw)) * linear_flops(x, w);
    TIMED("linear_backward", f, linear_backward, (o, dx, dw, db, dy, x, w, acc), dx, dw, db, dy, x, w);
}
static void p_layernorm_bwd(Ops *o, T dx, T dg, T db, T dy, T x, T m, T r, T g, int acc) {
    TIMED("layernorm_backward", 0, layernorm_backward, (o, dx, dg, db, dy, x, m, r, g, acc), dx, dg, db, dy, x, m, r,
          g);
}
static void p_activation_bwd(Ops *o, Activation a, T dx, T dy, T x) {
    TIMED("activation_backward", 0, activation_backward, (o, a, dx, dy, x), dx, dy, x);
}
static void p_attention_bwd(Ops *o, T dqkv, T dout, T qkv, T saved, int h, int causal) {
    /* dq, dk, dv and dp: twice the forward's products; and q k^T again where the backend keeps no probabilities
     * (CUDA: half the forward's products; bench counts it as recompute) */
    double again = ops_attention_recomputes_scores(ops_backend(o)) ? 0.5 * attention_flops(qkv) : 0;
    TIMED(causal ? "attention_backward (causal)" : "attention_backward", 2.0 * attention_flops(qkv) + again,
          attention_backward, (o, dqkv, dout, qkv, saved, h, causal), dqkv, dout, qkv, saved);
}
static void p_embedding_bwd(Ops *o, T dt, T dy, T ids) {
    TIMED("embedding_backward", 0, embedding_backward, (o, dt, dy, ids), dt, dy, ids);
}
static void p_gather_rows_bwd(Ops *o, T dx, T dy, T idx) {
    TIMED("gather_rows_backward", 0, gather_rows_backward, (o, dx, dy, idx), dx, dy, idx);
}
static void p_prepend_token_bwd(Ops *o, T dx, T dtok, T dy) {
    TIMED("prepend_token_backward", 0, prepend_token_backward, (o, dx, dtok, dy), dx, dtok, dy);
}
static void p_add_broadcast_bwd(Ops *o, T dq, T dy) {
    TIMED("add_broadcast_backward", 0, add_broadcast_backward, (o, dq, dy), dq, dy);
}
static void p_l2_normalize_bwd(Ops *o, T dx, T dy, T x, float e) {
    TIMED("l2_normalize_backward", 0, l2_normalize_backward, (o, dx, dy, x, e), dx, dy, x);
}
static void p_mean_dim1_bwd(Ops *o, T dx, T dy) {
    TIMED("mean_dim1_backward", 0, mean_dim1_backward, (o, dx, dy), dx, dy);
}

/* The adapter's two products (fc1, fc2), 2 N X R each; backward: fc1 again (nothing kept), the hidden's gradient,
 * and the input's and the two weights' gradients where asked. */
static double adapter_product_flops(T x, const AdapterWeights *w) { return linear_flops(x, &w->fc1_w); }
static void p_adapter(Ops *o, T out, T x, const AdapterWeights *w, T res, AdapterForm f, T scr) {
    TIMED("adapter", 2.0 * adapter_product_flops(x, w), adapter, (o, out, x, w, res, f, scr), out, x, &w->fc1_w,
          &w->fc1_b, &w->fc2_w, &w->fc2_b, res);
}
static void p_adapter_bwd(Ops *o, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w, AdapterForm f,
                          int acc, T scr) {
    double f_ = (2.0 + present(dx) + present(&g->fc1_w) + present(&g->fc2_w)) * adapter_product_flops(x, w);
    TIMED("adapter_backward", f_, adapter_backward, (o, dx, g, dout, x, w, f, acc, scr), dx, &g->fc1_w, &g->fc2_w,
          dout, x, &w->fc1_w, &w->fc2_w);
}

void ops_profile_start(Ops *ops) {
    if (ops->profile) return;
    OpsProfile *p = xcalloc(1, sizeof *p);
    p->inner = ops->vt;
    p->wrapped = *ops->vt; /* memory, sync, host memory and backend questions pass straight through */
    OpsVtable *w = &p->wrapped;
    w->upload = p_upload, w->download = p_download, w->copy = p_copy, w->zero = p_zero;
    w->linear = p_linear, w->matmul = p_matmul, w->layernorm = p_layernorm, w->activation = p_activation;
    w->add = p_add, w->axpy = p_axpy, w->axpy_rows = p_axpy_rows, w->add_broadcast = p_add_broadcast;
    w->attention = p_attention, w->embedding = p_embedding, w->gather_rows = p_gather_rows;
    w->scatter_rows = p_scatter_rows, w->im2col_patches = p_im2col, w->normalize_images = p_normalize_images;
    w->prepend_token = p_prepend_token, w->l2_normalize = p_l2_normalize, w->permute_0213 = p_permute_0213;
    w->mean_dim1 = p_mean_dim1, w->scale = p_scale, w->cross_entropy = p_cross_entropy;
    w->sum_squares = p_sum_squares, w->sgd_update = p_sgd, w->adamw_update = p_adamw;
    w->linear_backward = p_linear_bwd, w->layernorm_backward = p_layernorm_bwd;
    w->activation_backward = p_activation_bwd, w->attention_backward = p_attention_bwd;
    w->embedding_backward = p_embedding_bwd, w->gather_rows_backward = p_gather_rows_bwd;
    w->prepend_token_backward = p_prepend_token_bwd, w->add_broadcast_backward = p_add_broadcast_bwd;
    w->l2_normalize_backward = p_l2_normalize_bwd, w->mean_dim1_backward = p_mean_dim1_bwd;
    w->adapter = p_adapter, w->adapter_backward = p_adapter_bwd;
    ops->profile = p;
    ops->vt = &p->wrapped;
}

/* Adds the pending calls' times to their entries and gives their marks back. */
static void settle(Ops *ops) {
    OpsProfile *p = ops->profile;
    for (int i = 0; i < p->n_pending; i++) {
        ProfCall *c = &p->pending[i];
        double ms = p->inner->mark ? p->inner->mark_elapsed_ms(ops, c->from, c->to) : (c->t1 - c->t0) * 1e3;
        p->entries[c->entry].ms += ms;
        if (p->inner->mark) p->inner->mark_free(ops, c->from), p->inner->mark_free(ops, c->to);
    }
    p->n_pending = 0;
}

void ops_profile_step(Ops *ops, double wall_seconds) {
    if (!ops->profile) return;
    settle(ops);
    ops->profile->steps++;
    ops->profile->wall_s += wall_seconds;
}

static int by_time_desc(const void *a, const void *b) {
    double x = ((const OpsProfileEntry *)a)->ms, y = ((const OpsProfileEntry *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

int ops_profile_entries(Ops *ops, const OpsProfileEntry **entries, int *steps, double *wall_seconds) {
    OpsProfile *p = ops->profile;
    if (!p) {
        *entries = NULL, *steps = 0, *wall_seconds = 0;
        return 0;
    }
    settle(ops);
    /* sorted in place: the hashes are only a lookup aid, rebuilt to stay beside their entries */
    qsort(p->entries, (size_t)p->n_entries, sizeof *p->entries, by_time_desc);
    for (int i = 0; i < p->n_entries; i++) p->hashes[i] = hash_text(p->entries[i].op, p->entries[i].operands);
    *entries = p->entries, *steps = p->steps, *wall_seconds = p->wall_s;
    return p->n_entries;
}

int ops_profile_by_op(Ops *ops, OpsProfileEntry **sums) {
    const OpsProfileEntry *e;
    int steps;
    double wall;
    int n = ops_profile_entries(ops, &e, &steps, &wall), n_ops = 0;
    OpsProfileEntry *s = xcalloc((size_t)n + 1, sizeof *s);
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < n_ops && strcmp(s[k].op, e[i].op)) k++;
        if (k == n_ops) s[n_ops++].op = e[i].op;
        s[k].calls += e[i].calls, s[k].ms += e[i].ms, s[k].flops += e[i].flops, s[k].bytes += e[i].bytes;
    }
    qsort(s, (size_t)n_ops, sizeof *s, by_time_desc);
    *sums = s;
    return n_ops;
}

void ops_profile_stop(Ops *ops) {
    OpsProfile *p = ops->profile;
    if (!p) return;
    if (p->inner->mark) /* marks of calls never settled (no ops_profile_step after them) */
        for (int i = 0; i < p->n_pending; i++)
            p->inner->mark_free(ops, p->pending[i].from), p->inner->mark_free(ops, p->pending[i].to);
    ops->vt = p->inner;
    ops->profile = NULL;
    free(p->entries), free(p->hashes), free(p->pending), free(p);
}
