/* Backend-independent half of every op: argument and shape checks (fatal,
 * naming the tensors), then dispatch to the backend's implementation. */
#include "ops/ops_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <omp.h>

#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

static const char *tname(const Tensor *t) { return t->name ? t->name : "(unnamed)"; }

static void require_rows(const Tensor *t, int64_t cols, const char *op) {
    char s[96];
    CHECK(t->ndim >= 1 && t->shape[t->ndim - 1] == cols, "%s: tensor %s has shape %s, expected last dim %lld", op,
          tname(t), shape_str(t->shape, t->ndim, s, sizeof s), (long long)cols);
}

static int64_t rows_of(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim - 1; i++) n *= t->shape[i];
    return n;
}

static int64_t last_dim(const Tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

static void require_numel(const Tensor *a, const Tensor *b, const char *op) {
    char s1[96], s2[96];
    CHECK(tensor_numel(a) == tensor_numel(b), "%s: %s %s and %s %s differ in size", op, tname(a),
          shape_str(a->shape, a->ndim, s1, sizeof s1), tname(b), shape_str(b->shape, b->ndim, s2, sizeof s2));
}

int ops_create(Backend backend, int threads, Ops **out, Err *err) {
    Ops *ops = xcalloc(1, sizeof *ops);
    ops->backend = backend;
    int rc;
    if (backend == BACKEND_CPU) {
        rc = cpu_ops_init(ops, threads, err);
    } else {
#ifdef DFER_WITH_CUDA
        rc = dfer_cuda_device_count() > 0
                 ? cuda_ops_init(ops, err)
                 : err_set(err, "no usable GPU found (no device, driver or CUDA runtime); use --device cpu");
#else
        rc = err_set(err, "this dfer was built without CUDA; use --device cpu");
#endif
    }
    if (rc != 0) {
        free(ops);
        return -1;
    }
    *out = ops;
    return 0;
}

void ops_destroy(Ops *ops) {
    if (!ops) return;
    ops_profile_stop(ops);
    free(ops->allocs);
    if (ops->counting) {
        free(ops->impl);
        free(ops);
        return;
    }
    if (ops->backend == BACKEND_CPU) cpu_ops_release(ops);
#ifdef DFER_WITH_CUDA
    if (ops->backend == BACKEND_CUDA) cuda_ops_release(ops);
#endif
    free(ops);
}

Backend ops_backend(const Ops *ops) { return ops->backend; }
const char *ops_describe(const Ops *ops) { return ops->desc; }
int ops_threads(const Ops *ops) { return ops->threads; }

static int g_default_set = 0;
static Backend g_default_backend = BACKEND_CPU;

static int g_ranks_per_node = 1;

void ops_set_ranks_per_node(int ranks) { g_ranks_per_node = ranks > 0 ? ranks : 1; }

int ops_default_cpu_threads(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = omp_get_num_procs(); /* the CPUs of this process's affinity mask */
    int share = (int)((online > 0 ? online : mine) / g_ranks_per_node);
    if (share > mine) share = mine;
    return share > 0 ? share : 1;
}

void ops_set_default_backend(Backend backend) {
    g_default_backend = backend;
    g_default_set = 1;
}

Backend ops_default_backend(void) {
    if (g_default_set) return g_default_backend;
#ifdef DFER_WITH_CUDA
    if (dfer_cuda_device_count() > 0) return BACKEND_CUDA;
#endif
    return BACKEND_CPU;
}

void *ops_alloc(Ops *ops, size_t bytes) {
    size_t charged = (bytes + 255) / 256 * 256;
    if (ops->cap && ops->in_use + charged > ops->cap)
        DFER_FATAL("ops_alloc", "device memory cap of %.3f GiB (train.gpu_mem) reached: %.3f GiB in use, %zu more "
                   "bytes asked for; `dfer plan` shows where the memory goes",
                   (double)ops->cap / (1u << 30), (double)ops->in_use / (1u << 30), bytes);
    void *p = ops->vt->alloc(ops, bytes);
    ops->in_use += charged;
    if (ops->in_use > ops->peak) ops->peak = ops->in_use;
    if (p) {
        if (ops->alloc_count == ops->alloc_cap) {
            ops->alloc_cap = ops->alloc_cap ? 2 * ops->alloc_cap : 64;
            ops->allocs = xrealloc(ops->allocs, (size_t)ops->alloc_cap * sizeof *ops->allocs);
        }
        ops->allocs[ops->alloc_count++] = (struct OpsAllocation){p, charged};
    }
    return p;
}

void ops_free(Ops *ops, void *ptr) {
    if (!ptr) return;
    for (int i = ops->alloc_count - 1; i >= 0; i--)
        if (ops->allocs[i].ptr == ptr) {
            ops->in_use -= ops->allocs[i].bytes;
            ops->allocs[i] = ops->allocs[--ops->alloc_count];
            break;
        }
    ops->vt->free(ops, ptr);
}

void ops_set_memory_cap(Ops *ops, size_t bytes) { ops->cap = bytes; }
size_t ops_memory_in_use(const Ops *ops) { return ops->in_use; }
size_t ops_memory_peak(const Ops *ops) { return ops->peak; }
void ops_upload(Ops *ops, void *dst, const void *src, size_t bytes) { ops->vt->upload(ops, dst, src, bytes); }
void ops_download(Ops *ops, void *dst, const void *src, size_t bytes) { ops->vt->download(ops, dst, src, bytes); }
/* Each double is rounded once to the tensor's dtype, to nearest even (convert_dtype); a BF16 value reads back
 * exactly through bf16_to_f32. */
void ops_upload_f64(Ops *ops, Tensor t, const double *src) {
    int64_t n = tensor_numel(&t);
    CHECK(t.dtype == DT_F64 || t.dtype == DT_F32 || t.dtype == DT_BF16,
          "ops_upload_f64: %s is %s, not F32, BF16 or F64", tname(&t), dtype_name(t.dtype));
    if (t.dtype == DT_F64) {
        ops_upload(ops, t.data, src, (size_t)n * sizeof(double));
        return;
    }
    /* each double rounded once: through a plain float, BF16 rounded twice (1 + 2^-8 + 2^-40 became 1) */
    void *narrow = xmalloc((size_t)n * dtype_size(t.dtype) + 1);
    CHECK(convert_dtype(narrow, t.dtype, src, DT_F64, (size_t)n) == 0, "ops_upload_f64: cannot narrow into %s",
          tname(&t));
    ops_upload(ops, t.data, narrow, (size_t)n * dtype_size(t.dtype));
    free(narrow);
}

void ops_download_f64(Ops *ops, double *dst, Tensor t) {
    int64_t n = tensor_numel(&t);
    CHECK(t.dtype == DT_F64 || t.dtype == DT_F32 || t.dtype == DT_BF16,
          "ops_download_f64: %s is %s, not F32, BF16 or F64", tname(&t), dtype_name(t.dtype));
    if (t.dtype == DT_F64) {
        ops_download(ops, dst, t.data, (size_t)n * sizeof(double));
        return;
    }
    void *host = xmalloc((size_t)n * dtype_size(t.dtype));
    ops_download(ops, host, t.data, (size_t)n * dtype_size(t.dtype));
    float *wide = xmalloc((size_t)n * sizeof(float));
    convert_to_f32(wide, host, t.dtype, (size_t)n);
    for (int64_t i = 0; i < n; i++) dst[i] = wide[i];
    free(wide);
    free(host);
}

void ops_zero(Ops *ops, Tensor t) { ops->vt->zero(ops, &t); }
void ops_sync(Ops *ops) { ops->vt->sync(ops); }

void *ops_alloc_host(Ops *ops, size_t bytes) {
    return ops->vt->alloc_host ? ops->vt->alloc_host(ops, bytes) : xmalloc_aligned(bytes);
}

void ops_free_host(Ops *ops, void *ptr) {
    if (!ptr) return;
    if (ops->vt->free_host) ops->vt->free_host(ops, ptr);
    else xfree_aligned(ptr);
}

void ops_prefetch_upload(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (ops->vt->prefetch_upload) ops->vt->prefetch_upload(ops, dst, src, bytes);
    else ops_upload(ops, dst, src, bytes);
}

void ops_prefetch_join(Ops *ops) {
    if (ops->vt->prefetch_join) ops->vt->prefetch_join(ops);
}

void ops_prefetch_wait_host(Ops *ops) {
    if (ops->vt->prefetch_wait_host) ops->vt->prefetch_wait_host(ops);
}

int ops_has_prefetch(const Ops *ops) { return ops->vt->prefetch_upload != NULL; }

int ops_is_device_memory(Ops *ops, const void *p) {
    return p && ops->vt->is_device_memory ? ops->vt->is_device_memory(ops, p) : 0;
}

void ops_copy(Ops *ops, Tensor dst, Tensor src) {
    CHECK(tensor_bytes(&dst) == tensor_bytes(&src), "copy: %s and %s differ in size", tname(&dst), tname(&src));
    ops->vt->copy(ops, dst.data, src.data, tensor_bytes(&src));
}

void ops_copy_convert(Ops *ops, Tensor dst, Tensor src) {
    if (dst.dtype == src.dtype) {
        ops_copy(ops, dst, src);
        return;
    }
    require_numel(&dst, &src, "copy_convert");
    /* 0 + 1 * src: the axpy of every backend reads and writes each operand in its own dtype */
    ops_zero(ops, dst);
    ops->vt->axpy(ops, &dst, 1.0f, &src);
}

void ops_upload_reals(Ops *ops, Tensor dst, const void *src) {
    if (ops->counting) return; /* nothing to narrow into (the source may be a placeholder) */
    size_t n = (size_t)tensor_numel(&dst);
    if (dst.dtype == DT_F64 || dst.dtype == DT_F32) {
        ops_upload(ops, dst.data, src, tensor_bytes(&dst));
        return;
    }
    CHECK(dst.dtype == DT_BF16, "upload: %s has dtype %s; host reals go to F32, BF16 or F64 tensors", tname(&dst),
          dtype_name(dst.dtype));
    uint16_t *narrow = xmalloc(n * sizeof(uint16_t) + 1);
    CHECK(convert_from_f32(narrow, DT_BF16, src, n) == 0, "upload: cannot narrow into %s", tname(&dst));
    ops_upload(ops, dst.data, narrow, n * sizeof(uint16_t));
    free(narrow);
}

void op_linear(Ops *ops, Tensor y, Tensor x, Tensor w, const Tensor *b) {
    char s[96];
    CHECK(w.ndim == 2, "linear: weight %s has shape %s, expected [out, in]", tname(&w),
          shape_str(w.shape, w.ndim, s, sizeof s));
    int64_t out = w.shape[0], in = w.shape[1];
    require_rows(&x, in, "linear");
    require_rows(&y, out, "linear");
    CHECK(rows_of(&x) == rows_of(&y), "linear: %s has %lld rows, %s has %lld", tname(&x), (long long)rows_of(&x),
          tname(&y), (long long)rows_of(&y));
    if (b) CHECK(tensor_numel(b) == out, "linear: bias %s has %lld values, expected %lld", tname(b),
                 (long long)tensor_numel(b), (long long)out);
    (void)in;
    ops->vt->linear(ops, &y, &x, &w, b);
}

void op_matmul(Ops *ops, Tensor c, Tensor a, Tensor b, int trans_a, int trans_b, float alpha, float beta) {
    CHECK(a.ndim == 2 && b.ndim == 2 && c.ndim == 2, "matmul: %s, %s, %s must be 2-d", tname(&a), tname(&b), tname(&c));
    int64_t m = trans_a ? a.shape[1] : a.shape[0], k = trans_a ? a.shape[0] : a.shape[1];
    int64_t n = trans_b ? b.shape[0] : b.shape[1], kb = trans_b ? b.shape[1] : b.shape[0];
    CHECK(kb == k && c.shape[0] == m && c.shape[1] == n, "matmul: shapes of %s, %s, %s disagree", tname(&a), tname(&b),
          tname(&c));
    ops->vt->matmul(ops, &c, &a, &b, trans_a, trans_b, alpha, beta);
}

void op_layernorm(Ops *ops, Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor g, Tensor b, float eps) {
    int64_t d = last_dim(&x), n = rows_of(&x);
    require_numel(&y, &x, "layernorm");
    CHECK(tensor_numel(&g) == d && tensor_numel(&b) == d, "layernorm: %s/%s must have %lld values", tname(&g),
          tname(&b), (long long)d);
    if (mean.data) CHECK(tensor_numel(&mean) == n, "layernorm: %s must have %lld values", tname(&mean), (long long)n);
    if (rstd.data) CHECK(tensor_numel(&rstd) == n, "layernorm: %s must have %lld values", tname(&rstd), (long long)n);
    ops->vt->layernorm(ops, &y, &mean, &rstd, &x, &g, &b, eps);
}

void op_activation(Ops *ops, Activation act, Tensor y, Tensor x) {
    require_numel(&y, &x, "activation");
    ops->vt->activation(ops, act, &y, &x);
}

void op_add(Ops *ops, Tensor y, Tensor a, Tensor b) {
    require_numel(&y, &a, "add");
    require_numel(&a, &b, "add");
    ops->vt->add(ops, &y, &a, &b);
}

void op_axpy(Ops *ops, Tensor y, float alpha, Tensor x) {
    require_numel(&y, &x, "axpy");
    ops->vt->axpy(ops, &y, alpha, &x);
}

void op_axpy_rows(Ops *ops, Tensor y, Tensor w, Tensor x, float beta) {
    require_numel(&y, &x, "axpy_rows");
    int64_t rows = tensor_numel(&w);
    CHECK(y.ndim == 2 && y.shape[0] == rows, "axpy_rows: %s must be [N, D] with N = the %lld weights of %s", tname(&y),
          (long long)rows, tname(&w));
    ops->vt->axpy_rows(ops, &y, &w, &x, beta);
}

void op_add_broadcast(Ops *ops, Tensor y, Tensor p) {
    int64_t rows = tensor_numel(&p);
    CHECK(rows > 0 && tensor_numel(&y) % rows == 0, "add_broadcast: %s is not a whole number of copies of %s",
          tname(&y), tname(&p));
    ops->vt->add_broadcast(ops, &y, &p);
}

void op_attention(Ops *ops, Tensor out, Tensor saved, Tensor qkv, int heads, int causal) {
    char s[96];
    CHECK(qkv.ndim == 3 && out.ndim == 3, "attention: %s and %s must be [B, S, features]", tname(&qkv), tname(&out));
    int64_t batch = qkv.shape[0], seq = qkv.shape[1], width = qkv.shape[2] / 3;
    CHECK(qkv.shape[2] == 3 * width && width % heads == 0,
          "attention: %s has shape %s, not [B, S, 3*heads*Dh] for %d heads", tname(&qkv),
          shape_str(qkv.shape, qkv.ndim, s, sizeof s), heads);
    CHECK(out.shape[0] == batch && out.shape[1] == seq && out.shape[2] == width, "attention: %s has shape %s",
          tname(&out), shape_str(out.shape, out.ndim, s, sizeof s));
    if (saved.data)
        CHECK(tensor_bytes(&saved) >= ops->vt->attention_saved_bytes(batch, seq, heads),
              "attention: saved buffer %s is too small", tname(&saved));
    ops->vt->attention(ops, &out, &saved, &qkv, heads, causal);
}

size_t ops_attention_saved_bytes_for(Backend backend, int64_t batch, int64_t seq, int heads) {
    size_t rows = (size_t)batch * (size_t)heads * (size_t)seq;
    /* CPU: the probabilities [B,H,S,S] in the widest dtype it computes in (F64);
     * CUDA: the row log-sum-exp and backward's Delta, F32 [2,B,H,S] (attention never
     * materialises [S,S] on the GPU) */
    return backend == BACKEND_CPU ? rows * (size_t)seq * sizeof(double) : 2 * rows * sizeof(float);
}

int ops_attention_recomputes_scores(Backend backend) { return backend != BACKEND_CPU; }

size_t op_attention_saved_bytes(const Ops *ops, int64_t batch, int64_t seq, int heads) {
    return ops->vt->attention_saved_bytes(batch, seq, heads);
}

void op_embedding(Ops *ops, Tensor y, Tensor table, Tensor ids) {
    CHECK(ids.dtype == DT_I32 && table.ndim == 2, "embedding: ids %s must be I32 and table %s 2-d", tname(&ids),
          tname(&table));
    int64_t n = tensor_numel(&ids), d = table.shape[1];
    CHECK(tensor_numel(&y) == n * d, "embedding: output %s must hold %lld x %lld", tname(&y), (long long)n,
          (long long)d);
    ops->vt->embedding(ops, &y, &table, &ids);
}

void op_gather_rows(Ops *ops, Tensor y, Tensor x, Tensor idx) {
    CHECK(idx.dtype == DT_I32, "gather_rows: index %s must be I32", tname(&idx));
    int64_t n = tensor_numel(&idx), d = last_dim(&x);
    CHECK(tensor_numel(&y) == n * d, "gather_rows: output %s must hold %lld x %lld", tname(&y), (long long)n,
          (long long)d);
    ops->vt->gather_rows(ops, &y, &x, &idx);
}

void op_scatter_rows(Ops *ops, Tensor y, Tensor x, Tensor idx) {
    CHECK(idx.dtype == DT_I32, "scatter_rows: index %s must be I32", tname(&idx));
    CHECK(tensor_numel(&x) == tensor_numel(&idx) * last_dim(&y) && last_dim(&x) == last_dim(&y),
          "scatter_rows: %s must hold one row of %s per index", tname(&x), tname(&y));
    ops->vt->scatter_rows(ops, &y, &x, &idx);
}

void op_im2col_patches(Ops *ops, Tensor patches, Tensor images, int patch) {
    char s[96];
    CHECK(images.ndim == 4 && images.shape[1] == 3 && images.shape[2] == images.shape[3] &&
              images.shape[2] % patch == 0,
          "im2col: images %s have shape %s, expected [B, 3, R, R] with R a multiple of %d", tname(&images),
          shape_str(images.shape, images.ndim, s, sizeof s), patch);
    int64_t batch = images.shape[0], res = images.shape[2], g = res / patch;
    CHECK(tensor_numel(&patches) == batch * g * g * 3 * patch * patch, "im2col: %s has the wrong size",
          tname(&patches));
    ops->vt->im2col_patches(ops, &patches, &images, patch);
}

void op_normalize_images(Ops *ops, Tensor y, Tensor x, const float mean[3], const float std[3]) {
    char s1[96], s2[96];
    CHECK(x.dtype == DT_U8 && x.ndim >= 2 && x.shape[1] == 3,
          "normalize_images: pixels %s are %s %s, expected U8 [N, 3, ...] (3 channel planes per image)", tname(&x),
          dtype_name(x.dtype), shape_str(x.shape, x.ndim, s1, sizeof s1));
    CHECK(y.dtype == DT_F32 || y.dtype == DT_BF16 || y.dtype == DT_F64,
          "normalize_images: output %s has dtype %s, expected F32, BF16 or F64", tname(&y), dtype_name(y.dtype));
    int same = y.ndim == x.ndim;
    for (int i = 0; same && i < x.ndim; i++) same = y.shape[i] == x.shape[i];
    CHECK(same, "normalize_images: output %s has shape %s, pixels %s %s", tname(&y),
          shape_str(y.shape, y.ndim, s1, sizeof s1), tname(&x), shape_str(x.shape, x.ndim, s2, sizeof s2));
    if (tensor_numel(&x) == 0) return;
    /* The normalised value of every byte per channel, computed once here for every backend with
     * the loader's own expression (image_to_chw_float, data/preprocess.c; face_map_lut_init): in
     * fp32, x/255 first, then - mean, then / std. Each backend only looks values up, so they
     * agree bit for bit with each other and with the loader's F32 frames. */
    float lut[3][256];
    for (int c = 0; c < 3; c++) {
        CHECK(std[c] != 0.0f, "normalize_images: std[%d] of %s is 0", c, tname(&y));
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
    }
    ops->vt->normalize_images(ops, &y, &x, &lut[0][0]);
}

void op_prepend_token(Ops *ops, Tensor y, Tensor x, Tensor tok) {
    CHECK(x.ndim == 3 && y.ndim == 3, "prepend_token: %s and %s must be [B, S, D]", tname(&x), tname(&y));
    int64_t batch = x.shape[0], seq = x.shape[1], d = x.shape[2];
    CHECK(y.shape[0] == batch && y.shape[1] == seq + 1 && y.shape[2] == d && tensor_numel(&tok) == d,
          "prepend_token: shapes of %s, %s, %s disagree", tname(&y), tname(&x), tname(&tok));
    ops->vt->prepend_token(ops, &y, &x, &tok);
}

void op_l2_normalize(Ops *ops, Tensor y, Tensor x, float eps) {
    require_numel(&y, &x, "l2_normalize");
    ops->vt->l2_normalize(ops, &y, &x, eps);
}

void op_permute_0213(Ops *ops, Tensor y, Tensor x) {
    CHECK(x.ndim == 4 && y.ndim == 4 && y.shape[0] == x.shape[0] && y.shape[1] == x.shape[2] &&
              y.shape[2] == x.shape[1] && y.shape[3] == x.shape[3],
          "permute_0213: %s must be %s with axes 1 and 2 swapped", tname(&y), tname(&x));
    ops->vt->permute_0213(ops, &y, &x);
}

void op_mean_dim1(Ops *ops, Tensor y, Tensor x) {
    CHECK(x.ndim == 3 && tensor_numel(&y) == x.shape[0] * x.shape[2], "mean_dim1: %s must be [B, T, D] and %s [B, D]",
          tname(&x), tname(&y));
    ops->vt->mean_dim1(ops, &y, &x);
}

void op_scale(Ops *ops, Tensor y, float alpha) { ops->vt->scale(ops, &y, alpha); }

void op_cross_entropy(Ops *ops, Tensor loss, Tensor dlogits, Tensor logits, Tensor labels, float grad_scale) {
    CHECK(logits.ndim == 2, "cross_entropy: logits %s must be [N, C]", tname(&logits));
    int64_t n = logits.shape[0];
    CHECK(labels.dtype == DT_I32 && tensor_numel(&labels) == n, "cross_entropy: labels %s must be I32 [%lld]",
          tname(&labels), (long long)n);
    CHECK(tensor_numel(&loss) == n, "cross_entropy: loss %s must hold %lld values", tname(&loss), (long long)n);
    if (dlogits.data) require_numel(&dlogits, &logits, "cross_entropy");
    ops->vt->cross_entropy(ops, &loss, &dlogits, &logits, &labels, grad_scale);
}

double op_sum_squares(Ops *ops, Tensor x) { return ops->vt->sum_squares(ops, &x); }

/* ---- backward ---- */

static int has(const Tensor *t) { return t->data != NULL; }

void op_linear_backward(Ops *ops, Tensor dx, Tensor dw, Tensor db, Tensor dy, Tensor x, Tensor w, int accumulate) {
    CHECK(w.ndim == 2, "linear_backward: weight %s must be [out, in]", tname(&w));
    int64_t out = w.shape[0], in = w.shape[1];
    require_rows(&dy, out, "linear_backward");
    require_rows(&x, in, "linear_backward");
    CHECK(rows_of(&x) == rows_of(&dy), "linear_backward: %s and %s differ in rows", tname(&x), tname(&dy));
    if (has(&dx)) require_numel(&dx, &x, "linear_backward");
    if (has(&dw)) require_numel(&dw, &w, "linear_backward");
    if (has(&db)) CHECK(tensor_numel(&db) == out, "linear_backward: bias gradient %s must hold %lld", tname(&db),
                        (long long)out);
    ops->vt->linear_backward(ops, &dx, &dw, &db, &dy, &x, &w, accumulate);
}

void op_layernorm_backward(Ops *ops, Tensor dx, Tensor dg, Tensor db, Tensor dy, Tensor x, Tensor mean, Tensor rstd,
                           Tensor g, int accumulate) {
    int64_t d = last_dim(&x), n = rows_of(&x);
    require_numel(&dy, &x, "layernorm_backward");
    if (has(&dx)) require_numel(&dx, &x, "layernorm_backward");
    CHECK(tensor_numel(&g) == d && (!has(&dg) || tensor_numel(&dg) == d) && (!has(&db) || tensor_numel(&db) == d),
          "layernorm_backward: %s/%s/%s must hold %lld", tname(&g), tname(&dg), tname(&db), (long long)d);
    CHECK(has(&mean) && has(&rstd) && tensor_numel(&mean) == n && tensor_numel(&rstd) == n,
          "layernorm_backward: the forward statistics %s/%s must hold %lld values", tname(&mean), tname(&rstd),
          (long long)n);
    ops->vt->layernorm_backward(ops, &dx, &dg, &db, &dy, &x, &mean, &rstd, &g, accumulate);
}

void op_activation_backward(Ops *ops, Activation act, Tensor dx, Tensor dy, Tensor x) {
    require_numel(&dx, &x, "activation_backward");
    require_numel(&dy, &x, "activation_backward");
    ops->vt->activation_backward(ops, act, &dx, &dy, &x);
}

void op_attention_backward(Ops *ops, Tensor dqkv, Tensor dout, Tensor qkv, Tensor saved, int heads, int causal) {
    CHECK(qkv.ndim == 3 && qkv.shape[2] % (3 * heads) == 0, "attention_backward: %s must be [B, S, 3*heads*Dh]",
          tname(&qkv));
    require_numel(&dqkv, &qkv, "attention_backward");
    CHECK(tensor_numel(&dout) * 3 == tensor_numel(&qkv), "attention_backward: %s must be [B, S, heads*Dh]",
          tname(&dout));
    CHECK(!has(&saved) || tensor_bytes(&saved) >= ops->vt->attention_saved_bytes(qkv.shape[0], qkv.shape[1], heads),
          "attention_backward: saved buffer %s is too small", tname(&saved));
    ops->vt->attention_backward(ops, &dqkv, &dout, &qkv, &saved, heads, causal);
}

void op_embedding_backward(Ops *ops, Tensor dtable, Tensor dy, Tensor ids) {
    CHECK(ids.dtype == DT_I32 && dtable.ndim == 2, "embedding_backward: ids %s must be I32, %s 2-d", tname(&ids),
          tname(&dtable));
    CHECK(tensor_numel(&dy) == tensor_numel(&ids) * dtable.shape[1], "embedding_backward: %s has the wrong size",
          tname(&dy));
    ops->vt->embedding_backward(ops, &dtable, &dy, &ids);
}

void op_gather_rows_backward(Ops *ops, Tensor dx, Tensor dy, Tensor idx) {
    CHECK(idx.dtype == DT_I32, "gather_rows_backward: index %s must be I32", tname(&idx));
    CHECK(tensor_numel(&dy) == tensor_numel(&idx) * last_dim(&dx), "gather_rows_backward: %s has the wrong size",
          tname(&dy));
    ops->vt->gather_rows_backward(ops, &dx, &dy, &idx);
}

void op_prepend_token_backward(Ops *ops, Tensor dx, Tensor dtok, Tensor dy) {
    CHECK(dy.ndim == 3, "prepend_token_backward: %s must be [B, S+1, D]", tname(&dy));
    if (has(&dx)) CHECK(tensor_numel(&dx) == dy.shape[0] * (dy.shape[1] - 1) * dy.shape[2],
                        "prepend_token_backward: %s has the wrong size", tname(&dx));
    if (has(&dtok)) CHECK(tensor_numel(&dtok) == dy.shape[2], "prepend_token_backward: %s must hold %lld",
                          tname(&dtok), (long long)dy.shape[2]);
    ops->vt->prepend_token_backward(ops, &dx, &dtok, &dy);
}

void op_add_broadcast_backward(Ops *ops, Tensor dp, Tensor dy) {
    int64_t rows = tensor_numel(&dp);
    CHECK(rows > 0 && tensor_numel(&dy) % rows == 0, "add_broadcast_backward: %s is not a whole number of copies of %s",
          tname(&dy), tname(&dp));
    ops->vt->add_broadcast_backward(ops, &dp, &dy);
}

void op_l2_normalize_backward(Ops *ops, Tensor dx, Tensor dy, Tensor x, float eps) {
    require_numel(&dx, &x, "l2_normalize_backward");
    require_numel(&dy, &x, "l2_normalize_backward");
    ops->vt->l2_normalize_backward(ops, &dx, &dy, &x, eps);
}

void op_mean_dim1_backward(Ops *ops, Tensor dx, Tensor dy) {
    CHECK(dx.ndim == 3 && tensor_numel(&dy) == dx.shape[0] * dx.shape[2],
          "mean_dim1_backward: %s must be [B, T, D] and %s [B, D]", tname(&dx), tname(&dy));
    ops->vt->mean_dim1_backward(ops, &dx, &dy);
}

/* ---- optimiser updates ---- */

void op_sgd_update(Ops *ops, Tensor w, Tensor g, Tensor buf, float lr, float momentum, float weight_decay,
                   int first_step) {
    require_numel(&w, &g, "sgd_update");
    if (momentum != 0.0f) require_numel(&w, &buf, "sgd_update");
    ops->vt->sgd_update(ops, &w, &g, &buf, lr, momentum, weight_decay, first_step);
}

void op_adamw_update(Ops *ops, Tensor w, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int step) {
    require_numel(&w, &g, "adamw_update");
    require_numel(&w, &m, "adamw_update");
    require_numel(&w, &v, "adamw_update");
    CHECK(step >= 1, "adamw_update: step %d must count from 1", step);
    ops->vt->adamw_update(ops, &w, &g, &m, &v, lr, beta1, beta2, eps, weight_decay, step);
}
