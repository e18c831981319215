/* op_adapter and its backward (ops.h): the argument checks every backend shares, and the adapter as a
 * sequence of the other ops, which the CPU backend runs as its implementation and the CUDA backend where
 * its fused kernels do not serve (kernels/adapter.cu). */
#include <stdint.h>

#include "ops/ops_impl.h"

static const char *tname(const Tensor *t) { return t->name ? t->name : "(unnamed)"; }

/* The adapter's sizes: rows N, width X, bottleneck R, and (swapped) whether out's rows are reordered. */
typedef struct AdapterDims {
    int64_t rows, width, bottleneck;
    int swapped;
} AdapterDims;

static AdapterDims adapter_dims(const char *op, const Tensor *x, const AdapterWeights *w, AdapterForm form) {
    char s[96];
    AdapterDims d;
    CHECK(w->fc1_w.ndim == 2 && w->fc2_w.ndim == 2, "%s: weights %s and %s must be 2-d", op, tname(&w->fc1_w),
          tname(&w->fc2_w));
    d.bottleneck = w->fc1_w.shape[0];
    d.width = w->fc1_w.shape[1];
    CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == d.width, "%s: input %s has shape %s, expected last dim %lld (%s)",
          op, tname(x), shape_str(x->shape, x->ndim, s, sizeof s), (long long)d.width, tname(&w->fc1_w));
    CHECK(w->fc2_w.shape[0] == d.width && w->fc2_w.shape[1] == d.bottleneck,
          "%s: %s has shape %s, expected [%lld, %lld] (the transpose of %s's)", op, tname(&w->fc2_w),
          shape_str(w->fc2_w.shape, 2, s, sizeof s), (long long)d.width, (long long)d.bottleneck, tname(&w->fc1_w));
    CHECK(tensor_numel(&w->fc1_b) == d.bottleneck && tensor_numel(&w->fc2_b) == d.width,
          "%s: biases %s (%lld values) and %s (%lld) must have %lld and %lld", op, tname(&w->fc1_b),
          (long long)tensor_numel(&w->fc1_b), tname(&w->fc2_b), (long long)tensor_numel(&w->fc2_b),
          (long long)d.bottleneck, (long long)d.width);
    d.rows = tensor_numel(x) / d.width;
    CHECK((form.swap_p > 0) == (form.swap_q > 0) && form.swap_p >= 0 && form.swap_q >= 0,
          "%s: row swap %lld x %lld: both or neither must be positive", op, (long long)form.swap_p,
          (long long)form.swap_q);
    d.swapped = form.swap_p > 0;
    if (d.swapped)
        CHECK(d.rows % (form.swap_p * form.swap_q) == 0, "%s: %s's %lld rows are not groups of %lld x %lld to swap", op,
              tname(x), (long long)d.rows, (long long)form.swap_p, (long long)form.swap_q);
    return d;
}

static void require_like(const char *op, const Tensor *t, const Tensor *x) {
    char s1[96], s2[96];
    CHECK(tensor_numel(t) == tensor_numel(x) && t->shape[t->ndim - 1] == x->shape[x->ndim - 1],
          "%s: %s %s must have %s's rows %s", op, tname(t), shape_str(t->shape, t->ndim, s1, sizeof s1), tname(x),
          shape_str(x->shape, x->ndim, s2, sizeof s2));
}

/* scratch holds at least what the call needs (data NULL: a measuring arena's, nothing to check) */
static void require_scratch(const char *op, const Tensor *scratch, const Tensor *x, AdapterDims d, AdapterForm form,
                            int backward) {
    size_t need = op_adapter_scratch_bytes(d.rows, d.width, d.bottleneck, x->dtype, form, backward);
    CHECK(!scratch->data || tensor_bytes(scratch) >= need, "%s: scratch %s has %zu bytes, %zu needed", op,
          tname(scratch), tensor_bytes(scratch), need);
}

void op_adapter(Ops *ops, Tensor out, Tensor x, const AdapterWeights *w, Tensor res, AdapterForm form,
                Tensor scratch) {
    AdapterDims d = adapter_dims("adapter", &x, w, form);
    require_scratch("adapter", &scratch, &x, d, form, 0);
    require_like("adapter", &out, &x);
    if (res.data) require_like("adapter", &res, &x);
    /* (data NULL: a measuring arena's tensors, on the counting context) */
    CHECK(!out.data || out.data != x.data, "adapter: output %s may not alias the input %s", tname(&out), tname(&x));
    ops->vt->adapter(ops, &out, &x, w, &res, form, &scratch);
}

void op_adapter_backward(Ops *ops, Tensor dx, const AdapterWeights *g, Tensor dout, Tensor x, const AdapterWeights *w,
                         AdapterForm form, int accumulate, Tensor scratch) {
    AdapterDims d = adapter_dims("adapter_backward", &x, w, form);
    require_scratch("adapter_backward", &scratch, &x, d, form, 1);
    require_like("adapter_backward", &dout, &x);
    CHECK(dout.dtype == x.dtype,
          "adapter_backward: %s is %s and %s %s: an adapter's gradient has its activations' dtype", tname(&dout),
          dtype_name(dout.dtype), tname(&x), dtype_name(x.dtype));
    if (dx.data) {
        require_like("adapter_backward", &dx, &x);
        CHECK(dx.data != dout.data && dx.data != x.data, "adapter_backward: %s may not alias %s or %s", tname(&dx),
              tname(&dout), tname(&x));
    }
    const Tensor *gw[4] = {&g->fc1_w, &g->fc1_b, &g->fc2_w, &g->fc2_b}, *pw[4] = {&w->fc1_w, &w->fc1_b, &w->fc2_w,
                                                                                   &w->fc2_b};
    for (int i = 0; i < 4; i++)
        if (gw[i]->data)
            CHECK(tensor_numel(gw[i]) == tensor_numel(pw[i]), "adapter_backward: gradient %s has %lld values, %s %lld",
                  tname(gw[i]), (long long)tensor_numel(gw[i]), tname(pw[i]), (long long)tensor_numel(pw[i]));
    ops->vt->adapter_backward(ops, &dx, g, &dout, &x, w, form, accumulate, &scratch);
}

/* ---- the composed implementation ----------------------------------------------------------------
 * Each step is an op whose result is rounded to the activations' dtype (x's; dout's for its scaled copy),
 * as a model written with the separate ops would round: the mixed-precision reference the fused CUDA
 * kernels are measured against (they keep fc1's output, the hidden's gradient and the sums in fp32). */


/* Every piece of an adapter's scratch starts on a 256-byte boundary: sizes round up to that. */
static size_t scratch_round(size_t bytes) { return (bytes + 255) / 256 * 256; }
static size_t temp_bytes(DType dtype, int64_t rows, int64_t cols) {
    return scratch_round((size_t)(rows * cols) * dtype_size(dtype));
}

/* The next piece of scratch: *offset advances by the rounded size (as op_adapter_scratch_bytes counts); NULL
 * where scratch has no data (a measuring arena's). */
static void *scratch_take(T scratch, size_t *offset, size_t bytes) {
    void *p = scratch->data ? (char *)scratch->data + *offset : NULL;
    *offset += scratch_round(bytes);
    return p;
}

AdapterFusedLayout ops_adapter_fused_layout(int64_t rows, int64_t width, int64_t bottleneck, int backward) {
    const size_t mat = temp_bytes(DT_BF16, width, bottleneck), hidden = temp_bytes(DT_BF16, rows, bottleneck);
    AdapterFusedLayout l = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 0};
    l.w1 = l.total, l.total += mat;
    if (backward) {
        l.w2t = l.total, l.total += mat;
        l.w1t = l.total, l.total += mat;
    } else {
        l.w2 = l.total, l.total += mat;
    }
    l.bias = l.total, l.total += temp_bytes(DT_F32, 1, width + bottleneck);
    if (backward) {
        l.hidden = l.total, l.total += hidden;
        l.hidden_grad = l.total, l.total += hidden;
    }
    return l;
}

/* The composed form's temporaries, [rows, cols] of dtype, in the order taken: forward fc1's output, the GELU's,
 * the sum, the swapped sum (swapped forms); backward the swapped dout (swapped forms), the scaled one (scale
 * != 1), fc1's output, the GELU's, the hidden's gradient. */
typedef struct Temps {
    T scratch;
    size_t offset;
} Temps;
static Tensor temp(Temps *tp, const char *name, DType dtype, int64_t rows, int64_t cols) {
    Tensor t = tensor_make(NULL, dtype, 2, rows, cols);
    t.name = name;
    t.data = scratch_take(tp->scratch, &tp->offset, tensor_bytes(&t));
    return t;
}

size_t op_adapter_scratch_bytes(int64_t rows, int64_t width, int64_t bottleneck, DType act, AdapterForm form,
                                int backward) {
    size_t hidden = temp_bytes(act, rows, bottleneck), full = temp_bytes(act, rows, width);
    size_t composed = backward ? 3 * hidden + (form.swap_p > 0) * full + (form.scale != 1.0f) * full
                               : 2 * hidden + full + (form.swap_p > 0) * full;
    size_t fused = ops_adapter_fused_layout(rows, width, bottleneck, backward).total;
    return composed > fused ? composed : fused;
}

static Tensor rows2(Tensor t, int64_t rows, int64_t cols) { return tensor_reshape(t, 2, rows, cols, 0, 0); }
/* A copy of src [N, X] (in x's dtype) whose rows, taken as [N / (p q), p, q], are reordered to [N / (p q), q, p]. */
static Tensor swapped_copy(Ops *ops, Temps *tp, const char *name, Tensor src, int64_t p, int64_t q) {
    int64_t rows = src.shape[0], width = src.shape[1], groups = rows / (p * q);
    Tensor dst = temp(tp, name, src.dtype, rows, width);
    op_permute_0213(ops, tensor_reshape(dst, 4, groups, q, p, width), tensor_reshape(src, 4, groups, p, q, width));
    return dst;
}

/* pre [N, R] = fc1(x); act [N, R] = gelu(pre); both in x's dtype (each op's result rounded, as separate ops) */
static void adapter_hidden(Ops *ops, const AdapterWeights *w, Tensor x2, AdapterDims d, Temps *tp, Tensor *pre,
                           Tensor *act) {
    *pre = temp(tp, "adapter.fc1_out", x2.dtype, d.rows, d.bottleneck);
    *act = temp(tp, "adapter.gelu_out", x2.dtype, d.rows, d.bottleneck);
    op_linear(ops, *pre, x2, w->fc1_w, &w->fc1_b);
    op_activation(ops, ACT_GELU_ERF, *act, *pre);
}

void ops_adapter_composed(Ops *ops, Tensor out, Tensor x, const AdapterWeights *w, Tensor res, AdapterForm form,
                          Tensor scratch) {
    AdapterDims d = adapter_dims("adapter", &x, w, form);
    Tensor x2 = rows2(x, d.rows, d.width), out2 = rows2(out, d.rows, d.width);
    Temps tp = {&scratch, 0};
    Tensor pre, act;
    adapter_hidden(ops, w, x2, d, &tp, &pre, &act);
    Tensor z = temp(&tp, "adapter.sum", x.dtype, d.rows, d.width); /* z [N, X] in x's rows */
    op_linear(ops, z, act, w->fc2_w, &w->fc2_b);
    if (form.scale != 1.0f) op_scale(ops, z, form.scale);
    if (form.skip) op_add(ops, z, z, x2);
    Tensor zo = d.swapped ? swapped_copy(ops, &tp, "adapter.sum_swapped", z, form.swap_p, form.swap_q) : z;
    if (res.data) op_add(ops, out2, rows2(res, d.rows, d.width), zo);
    else ops_copy_convert(ops, out2, zo);
}

void ops_adapter_backward_composed(Ops *ops, Tensor dx, const AdapterWeights *g, Tensor dout, Tensor x,
                                   const AdapterWeights *w, AdapterForm form, int accumulate, Tensor scratch) {
    AdapterDims d = adapter_dims("adapter_backward", &x, w, form);
    Tensor x2 = rows2(x, d.rows, d.width), dout2 = rows2(dout, d.rows, d.width);
    Tensor dx2 = dx.data ? rows2(dx, d.rows, d.width) : tensor_none();
    Temps tp = {&scratch, 0};
    /* dout in x's rows */
    Tensor dz = d.swapped ? swapped_copy(ops, &tp, "adapter.d_out_swapped", dout2, form.swap_q, form.swap_p) : dout2;
    Tensor dys = dz; /* the gradient of fc2's output: scale * dz */
    if (form.scale != 1.0f) {
        Tensor scaled = temp(&tp, "adapter.d_scaled", x.dtype, d.rows, d.width);
        ops_copy(ops, scaled, dz);
        op_scale(ops, scaled, form.scale);
        dys = scaled;
    }
    Tensor pre, act;
    adapter_hidden(ops, w, x2, d, &tp, &pre, &act); /* a quarter-width GEMM and a pass: not kept by the forward */
    Tensor dh = temp(&tp, "adapter.d_hidden", x.dtype, d.rows, d.bottleneck);
    op_linear_backward(ops, dh, g->fc2_w, g->fc2_b, dys, act, w->fc2_w, 0);
    op_activation_backward(ops, ACT_GELU_ERF, dh, dh, pre);
    op_linear_backward(ops, dx2, g->fc1_w, g->fc1_b, dh, x2, w->fc1_w, accumulate);
    if (form.skip && dx2.data) op_axpy(ops, dx2, 1.0f, dz);
}

/* The composed adapter as a backend table's entries (the CPU's; the counting context as the CPU). */
void ops_vt_adapter_composed(Ops *ops, T out, T x, const AdapterWeights *w, T res, AdapterForm form, T scratch) {
    ops_adapter_composed(ops, *out, *x, w, *res, form, *scratch);
}
void ops_vt_adapter_backward_composed(Ops *ops, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w,
                                      AdapterForm form, int accumulate, T scratch) {
    ops_adapter_backward_composed(ops, *dx, g, *dout, *x, w, form, accumulate, *scratch);
}
