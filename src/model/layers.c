#include "model/layers.h"

#include <stdlib.h>
#include <string.h>

static const char *const k_recompute_names[RECOMPUTE_LEVELS] = {"none", "qkv", "qkv-fc1", "blocks"};
static const char *const k_recompute_phrases[RECOMPUTE_LEVELS] = {"no recompute", "qkv recompute",
                                                                  "qkv and fc1 recompute", "block recompute"};

const char *recompute_name(int level) {
    return level >= 0 && level < RECOMPUTE_LEVELS ? k_recompute_names[level] : "?";
}

const char *recompute_phrase(int level) {
    return level >= 0 && level < RECOMPUTE_LEVELS ? k_recompute_phrases[level] : "?";
}

int recompute_parse(const char *name) {
    for (int level = 0; level < RECOMPUTE_LEVELS; level++)
        if (!strcmp(name, k_recompute_names[level])) return level;
    return -1;
}

int recompute_sublayer_flag(int level, int mlp) {
    int wide = mlp ? level == RECOMPUTE_QKV_FC1 : level == RECOMPUTE_QKV || level == RECOMPUTE_QKV_FC1;
    return wide ? SUBLAYER_RECOMPUTE_WIDE : 0;
}

ClipLayer clip_layer_frozen(void) {
    ClipLayer g;
    memset(&g, 0, sizeof g);
    return g;
}

size_t scratch_measure(Ops **ops, Arena *scratch, DType act, void (*run)(void *ctx), void *ctx) {
    Ops *real = *ops, *count = ops_is_counting(real) ? real : ops_create_counting(ops_backend(real));
    *ops = count;
    arena_init_measuring(scratch, count, act);
    run(ctx);
    size_t peak = scratch->peak;
    *ops = real;
    if (count != real) ops_destroy(count);
    return peak + 4096;
}

double tensor_download_sum(Ops *ops, Tensor t) {
    int64_t n = tensor_numel(&t);
    double *host = xmalloc((size_t)n * sizeof(double) + 1), s = 0;
    ops_download_f64(ops, host, t);
    for (int64_t i = 0; i < n; i++) s += host[i];
    free(host);
    return s;
}


/* A bias that may be absent (data NULL). */
static const Tensor *bias(const Tensor *b) { return b->data ? b : NULL; }


/* ---- host images -------------------------------------------------------------- */

void images_upload(Ops *ops, const ImageInput *in, Tensor staging, Tensor images, const void *host) {
    if (!in || !in->uint8) {
        CHECK(!ops_is_device_memory(ops, host),
              "images_upload: %s: device-resident input must be uint8 pixels (data.uint8_frames); "
              "reals come from the host",
              images.name ? images.name : "(unnamed)");
        ops_upload_reals(ops, images, host);
        return;
    }
    CHECK(staging.dtype == DT_U8 && tensor_numel(&staging) == tensor_numel(&images),
          "images_upload: the staging tensor %s of %s is not U8 of its size (allocated without uint8 input?)",
          staging.name ? staging.name : "(unnamed)", images.name ? images.name : "(unnamed)");
    if (ops_is_device_memory(ops, host)) {
        /* already on the device (a prefetched batch, train/input_feed.h): normalised from where it lies */
        Tensor staged = staging;
        staged.data = (void *)host;
        op_normalize_images(ops, images, staged, in->mean, in->std);
        return;
    }
    ops_upload(ops, staging.data, host, tensor_bytes(&staging));
    op_normalize_images(ops, images, staging, in->mean, in->std);
}

/* ---- attention ---------------------------------------------------------------- */

/* The backward's copy of a wide tensor the forward did not keep (SUBLAYER_RECOMPUTE_WIDE): wide =
 * linear(ln(x)) with the forward's weights, into `wide` (the caller's scratch). ln_out is the sublayer's
 * layer-norm output: kept, or (ln_transient) computed again here in scratch (its statistics are kept and not
 * rewritten; the same op on the same input gives bitwise the forward's), for the product only. */
static void recompute_wide(Ops *ops, Tensor wide, Tensor ln_out, int ln_transient, Tensor x, Tensor ln_g,
                           Tensor ln_b, Tensor w, Tensor b, Arena *scratch) {
    size_t mark = scratch->used;
    Tensor none = tensor_none();
    if (ln_transient) {
        ln_out = arena_tensor_like(scratch, ln_out.name, ln_out);
        op_layernorm(ops, ln_out, none, none, x, ln_g, ln_b, 1e-5f);
    }
    op_linear(ops, wide, ln_out, w, bias(&b));
    scratch->used = mark;
}

/* A tensor of the arena's dtype with its shape and no data: a transient activation's
 * description (its data is taken from scratch while the forward needs it). */
static Tensor shape_only(const Arena *a, const char *name, int64_t d0, int64_t d1, int64_t d2) {
    return arena_shape_only(name, a->dtype, 3, d0, d1, d2, 0);
}

/* An activation the forward writes: kept (the arena's), or transient (scratch, until mark). */
static Tensor forward_buffer(Tensor kept, int transient, Arena *scratch) {
    return transient ? arena_tensor_like(scratch, kept.name, kept) : kept;
}

void attn_acts_alloc(Arena *a, AttnActs *acts, int64_t batch, int64_t seq, int64_t width, int heads, int keep) {
    int keep_weight_inputs = keep & SUBLAYER_KEEP_WEIGHT_INPUTS;
    acts->transient = !keep_weight_inputs;
    acts->transient_qkv = (keep & SUBLAYER_RECOMPUTE_WIDE) != 0;
    acts->ln_mean = arena_stats(a, "attn.ln_mean", batch * seq);
    acts->ln_rstd = arena_stats(a, "attn.ln_rstd", batch * seq);
    acts->ln_out = keep_weight_inputs ? arena_tensor(a, "attn.ln_out", 3, batch, seq, width, 0)
                                      : shape_only(a, "attn.ln_out", batch, seq, width);
    acts->qkv = acts->transient_qkv ? shape_only(a, "attn.qkv", batch, seq, 3 * width)
                                    : arena_tensor(a, "attn.qkv", 3, batch, seq, 3 * width, 0);
    size_t saved = op_attention_saved_bytes(a->ops, batch, seq, heads);
    acts->probs = arena_tensor_typed(a, "attn.saved", DT_U8, 1, (int64_t)saved, 0, 0, 0);
    acts->att = keep_weight_inputs ? arena_tensor(a, "attn.heads_out", 3, batch, seq, width, 0)
                                   : shape_only(a, "attn.heads_out", batch, seq, width);
}

void attn_forward(Ops *ops, const ClipLayer *p, AttnActs *acts, Tensor x, Tensor y, int heads, int causal,
                  Arena *scratch) {
    size_t mark = scratch->used;
    Tensor ln_out = forward_buffer(acts->ln_out, acts->transient, scratch);
    Tensor att = forward_buffer(acts->att, acts->transient, scratch);
    Tensor qkv = forward_buffer(acts->qkv, acts->transient_qkv, scratch);
    op_layernorm(ops, ln_out, acts->ln_mean, acts->ln_rstd, x, p->ln1_g, p->ln1_b, 1e-5f);
    op_linear(ops, qkv, ln_out, p->qkv_w, bias(&p->qkv_b));
    op_attention(ops, att, acts->probs, qkv, heads, causal);
    op_linear(ops, y, att, p->out_w, bias(&p->out_b));
    scratch->used = mark;
}

void attn_backward(Ops *ops, const ClipLayer *p, const ClipLayer *g, const AttnActs *acts, Tensor x, Tensor dy,
                   Tensor dx, int accumulate, int heads, int causal, Arena *scratch) {
    CHECK(!acts->transient || (!g->qkv_w.data && !g->out_w.data),
          "attention backward: weight gradients asked of a sublayer that did not keep their inputs (%s)",
          acts->att.name);
    size_t mark = scratch->used;
    Tensor qkv = acts->qkv;
    if (acts->transient_qkv) {
        qkv = arena_tensor_like(scratch, acts->qkv.name, acts->qkv);
        recompute_wide(ops, qkv, acts->ln_out, acts->transient, x, p->ln1_g, p->ln1_b, p->qkv_w, p->qkv_b, scratch);
    }
    Tensor datt = arena_tensor_like(scratch, "attn.d_heads_out", acts->att);
    Tensor dqkv = arena_tensor_like(scratch, "attn.d_qkv", acts->qkv);
    Tensor dln = arena_tensor_like(scratch, "attn.d_ln_out", acts->ln_out);
    op_linear_backward(ops, datt, g->out_w, g->out_b, dy, acts->att, p->out_w, 0);
    op_attention_backward(ops, dqkv, datt, qkv, acts->probs, heads, causal);
    op_linear_backward(ops, dln, g->qkv_w, g->qkv_b, dqkv, acts->ln_out, p->qkv_w, 0);
    op_layernorm_backward(ops, dx, g->ln1_g, g->ln1_b, dln, x, acts->ln_mean, acts->ln_rstd, p->ln1_g, accumulate);
    scratch->used = mark;
}

/* ---- MLP ------------------------------------------------------------------------ */

void mlp_acts_alloc(Arena *a, MlpActs *acts, int64_t batch, int64_t seq, int64_t width, int64_t hidden, int keep) {
    int keep_weight_inputs = keep & SUBLAYER_KEEP_WEIGHT_INPUTS;
    acts->transient_ln_out = !keep_weight_inputs;
    acts->transient_act = !keep_weight_inputs;
    acts->transient_pre = (keep & SUBLAYER_RECOMPUTE_WIDE) != 0;
    acts->ln_mean = arena_stats(a, "mlp.ln_mean", batch * seq);
    acts->ln_rstd = arena_stats(a, "mlp.ln_rstd", batch * seq);
    acts->ln_out = acts->transient_ln_out ? shape_only(a, "mlp.ln_out", batch, seq, width)
                                          : arena_tensor(a, "mlp.ln_out", 3, batch, seq, width, 0);
    acts->pre = acts->transient_pre ? shape_only(a, "mlp.fc1_out", batch, seq, hidden)
                                    : arena_tensor(a, "mlp.fc1_out", 3, batch, seq, hidden, 0);
    acts->act = acts->transient_act ? shape_only(a, "mlp.act_out", batch, seq, hidden)
                                    : arena_tensor(a, "mlp.act_out", 3, batch, seq, hidden, 0);
}

void mlp_forward(Ops *ops, const ClipLayer *p, MlpActs *acts, Tensor x, Tensor y, Activation act, Arena *scratch) {
    size_t mark = scratch->used;
    Tensor ln_out = forward_buffer(acts->ln_out, acts->transient_ln_out, scratch);
    Tensor hidden = forward_buffer(acts->act, acts->transient_act, scratch);
    Tensor pre = forward_buffer(acts->pre, acts->transient_pre, scratch);
    op_layernorm(ops, ln_out, acts->ln_mean, acts->ln_rstd, x, p->ln2_g, p->ln2_b, 1e-5f);
    op_linear(ops, pre, ln_out, p->fc1_w, bias(&p->fc1_b));
    op_activation(ops, act, hidden, pre);
    op_linear(ops, y, hidden, p->fc2_w, bias(&p->fc2_b));
    scratch->used = mark;
}

void mlp_backward(Ops *ops, const ClipLayer *p, const ClipLayer *g, const MlpActs *acts, Tensor x, Tensor dy,
                  Tensor dx, int accumulate, Activation act, Tensor extra_dln, Arena *scratch) {
    CHECK((!acts->transient_act || !g->fc2_w.data) && (!acts->transient_ln_out || !g->fc1_w.data),
          "MLP backward: weight gradients asked of a sublayer that did not keep their inputs (%s)", acts->act.name);
    size_t mark = scratch->used;
    Tensor pre = acts->pre;
    if (acts->transient_pre) {
        pre = arena_tensor_like(scratch, acts->pre.name, acts->pre);
        recompute_wide(ops, pre, acts->ln_out, acts->transient_ln_out, x, p->ln2_g, p->ln2_b, p->fc1_w, p->fc1_b,
                       scratch);
    }
    Tensor dh = arena_tensor_like(scratch, "mlp.d_hidden", acts->act);
    Tensor dln = arena_tensor_like(scratch, "mlp.d_ln_out", acts->ln_out);
    op_linear_backward(ops, dh, g->fc2_w, g->fc2_b, dy, acts->act, p->fc2_w, 0);
    op_activation_backward(ops, act, dh, dh, pre);
    op_linear_backward(ops, dln, g->fc1_w, g->fc1_b, dh, acts->ln_out, p->fc1_w, 0);
    if (extra_dln.data) op_add(ops, dln, dln, extra_dln);
    op_layernorm_backward(ops, dx, g->ln2_g, g->ln2_b, dln, x, acts->ln_mean, acts->ln_rstd, p->ln2_g, accumulate);
    scratch->used = mark;
}

/* ---- adapter ---------------------------------------------------------------------- */

static Tensor adapter_scratch(Arena *scratch, Tensor x, const AdapterParams *p, AdapterForm form, int backward) {
    int64_t width = x.shape[x.ndim - 1], rows = tensor_numel(&x) / width;
    size_t bytes = op_adapter_scratch_bytes(rows, width, p->fc1_w.shape[0], x.dtype, form, backward);
    return arena_tensor_typed(scratch, "adapter.scratch", DT_U8, 1, (int64_t)bytes, 0, 0, 0);
}

void adapter_forward(Ops *ops, const AdapterParams *p, Tensor x, Tensor out, Tensor res, AdapterForm form,
                     Arena *scratch) {
    size_t mark = scratch->used;
    op_adapter(ops, out, x, p, res, form, adapter_scratch(scratch, x, p, form, 0));
    scratch->used = mark;
}

void adapter_backward(Ops *ops, const AdapterParams *p, const AdapterParams *g, Tensor x, Tensor dout, Tensor dx,
                      AdapterForm form, int accumulate, Arena *scratch) {
    size_t mark = scratch->used;
    op_adapter_backward(ops, dx, g, dout, x, p, form, accumulate, adapter_scratch(scratch, x, p, form, 1));
    scratch->used = mark;
}

/* ---- block ------------------------------------------------------------------------ */

void block_acts_alloc(Arena *a, BlockActs *acts, int64_t batch, int64_t seq, int64_t width, int64_t hidden, int heads,
                      int keep, int recompute) {
    acts->x_in = arena_tensor(a, "block.x_in", 3, batch, seq, width, 0);
    acts->x_mid = arena_tensor(a, "block.x_mid", 3, batch, seq, width, 0);
    attn_acts_alloc(a, &acts->attn, batch, seq, width, heads, keep | recompute_sublayer_flag(recompute, 0));
    mlp_acts_alloc(a, &acts->mlp, batch, seq, width, hidden, keep | recompute_sublayer_flag(recompute, 1));
}

void block_forward(Ops *ops, const ClipLayer *p, BlockActs *acts, Tensor x, int heads, int causal, Activation act,
                   Arena *scratch) {
    size_t mark = scratch->used;
    Tensor y = arena_tensor_like(scratch, "block.sublayer_out", x);
    ops_copy(ops, acts->x_in, x);
    attn_forward(ops, p, &acts->attn, acts->x_in, y, heads, causal, scratch);
    op_add(ops, acts->x_mid, acts->x_in, y);
    mlp_forward(ops, p, &acts->mlp, acts->x_mid, y, act, scratch);
    op_add(ops, x, acts->x_mid, y);
    scratch->used = mark;
}

void block_backward(Ops *ops, const ClipLayer *p, const ClipLayer *g, const BlockActs *acts, Tensor dx, int heads,
                    int causal, Activation act, Arena *scratch) {
    /* out = x_mid + mlp(x_mid): d x_mid = dout + mlp'(dout); x_mid = x + attn(x): dx = dmid + attn'(dmid). */
    size_t mark = scratch->used;
    Tensor dmid = arena_tensor_like(scratch, "block.d_mid", dx);
    ops_copy(ops, dmid, dx);
    mlp_backward(ops, p, g, &acts->mlp, acts->x_mid, dx, dmid, 1, act, tensor_none(), scratch);
    ops_copy(ops, dx, dmid);
    attn_backward(ops, p, g, &acts->attn, acts->x_in, dmid, dx, 1, heads, causal, scratch);
    scratch->used = mark;
}
