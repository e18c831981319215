#include "model/text_tower.h"

#include <stdlib.h>
#include <string.h>

int text_tower_length(const int32_t *ids, int n, int context) {
    int len = 1;
    for (int i = 0; i < n; i++) {
        int e = clip_eot_position(ids + (size_t)i * context, context);
        if (e + 1 > len) len = e + 1;
    }
    return len;
}

void text_tower_acts_alloc(Arena *a, TextTowerActs *acts, const ClipModel *clip, int64_t n, int64_t len,
                           int64_t adapter_bottleneck, int forward_only) {
    const ClipConfig *c = &clip->cfg;
    int64_t T = c->text_width, layers = c->text_layers;
    memset(acts, 0, sizeof *acts);
    acts->n = n;
    acts->len = len;
    acts->ids = arena_tensor_typed(a, "text.ids", DT_I32, 1, n * len, 0, 0, 0);
    acts->eot_rows = arena_tensor_typed(a, "text.eot_rows", DT_I32, 1, n, 0, 0, 0);
    acts->x = arena_tensor(a, "text.x", 3, n, len, T, 0);
    acts->forward_only = forward_only;
    acts->blocks = xcalloc((size_t)layers, sizeof(BlockActs));
    /* the CLIP text weights are frozen (adapters, where there are any, sit after the blocks); forward only, the
     * first layer's set and adapter input serve every layer */
    for (int64_t l = 0; l < layers; l++) {
        if (forward_only && l > 0) acts->blocks[l] = acts->blocks[0];
        else block_acts_alloc(a, &acts->blocks[l], n, len, T, 4 * T, c->text_heads, 0, RECOMPUTE_NONE);
    }
    if (adapter_bottleneck > 0) {
        acts->block_out = xcalloc((size_t)layers, sizeof(Tensor));
        for (int64_t l = 0; l < layers; l++)
            acts->block_out[l] = forward_only && l > 0 ? acts->block_out[0]
                                                       : arena_tensor(a, "text.block_out", 3, n, len, T, 0);
    }
    acts->pooled = arena_tensor(a, "text.pooled", 2, n, T, 0, 0);
    acts->ln_mean = arena_stats(a, "text.ln_final_mean", n);
    acts->ln_rstd = arena_stats(a, "text.ln_final_rstd", n);
    acts->ln_out = arena_tensor(a, "text.ln_final_out", 2, n, T, 0, 0);
    acts->feat = arena_tensor(a, "text.features", 2, n, c->embed_dim, 0, 0);
}

void text_tower_acts_free(TextTowerActs *acts) {
    free(acts->blocks);
    free(acts->block_out);
    memset(acts, 0, sizeof *acts);
}

void text_tower_embed(Ops *ops, const ClipModel *clip, TextTowerActs *acts, const int32_t *ids_host, int context,
                      Tensor ctx, Tensor ctx_rows) {
    int64_t n = acts->n, len = acts->len;
    int32_t *cut = xmalloc((size_t)(n * len) * sizeof(int32_t)), *eot = xmalloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        memcpy(cut + i * len, ids_host + i * context, (size_t)len * sizeof(int32_t));
        int e = clip_eot_position(ids_host + i * context, context);
        CHECK(e < len, "prompt %lld ends at %d, beyond the %lld tokens allocated", (long long)i, e, (long long)len);
        eot[i] = (int32_t)(i * len + e);
    }
    ops_upload(ops, acts->ids.data, cut, (size_t)(n * len) * sizeof(int32_t));
    ops_upload(ops, acts->eot_rows.data, eot, (size_t)n * sizeof(int32_t));
    free(cut);
    free(eot);
    op_embedding(ops, acts->x, clip->tok_emb, acts->ids);
    if (ctx.data) op_scatter_rows(ops, tensor_reshape(acts->x, 2, n * len, clip->cfg.text_width, 0, 0), ctx, ctx_rows);
    Tensor pos = clip->txt_pos;
    pos.shape[0] = len;
    op_add_broadcast(ops, acts->x, pos);
}

/* x_out = a + adapter(a): a skip, no scale, no residual beyond it */
static const AdapterForm k_text_adapter_form = {1, 1.0f, 0, 0};

void text_tower_forward(Ops *ops, const ClipModel *clip, const AdapterParams *adapters, TextTowerActs *acts,
                        Arena *scratch) {
    const ClipConfig *c = &clip->cfg;
    Activation act = c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU;
    for (int l = 0; l < c->text_layers; l++) {
        block_forward(ops, &clip->txt_layers[l], &acts->blocks[l], acts->x, c->text_heads, 1, act, scratch);
        if (adapters) {
            ops_copy(ops, acts->block_out[l], acts->x);
            adapter_forward(ops, &adapters[l], acts->block_out[l], acts->x, tensor_none(), k_text_adapter_form,
                            scratch);
        }
    }
    op_gather_rows(ops, acts->pooled, acts->x, acts->eot_rows);
    op_layernorm(ops, acts->ln_out, acts->ln_mean, acts->ln_rstd, acts->pooled, clip->ln_final_g, clip->ln_final_b,
                 1e-5f);
    op_linear(ops, acts->feat, acts->ln_out, clip->txt_proj, NULL);
}

void text_tower_backward(Ops *ops, const ClipModel *clip, const AdapterParams *adapters,
                         const AdapterParams *adapter_grads, const TextTowerActs *acts, Tensor dfeat, Tensor dx0,
                         Arena *scratch) {
    const ClipConfig *c = &clip->cfg;
    Activation act = c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU;
    CHECK(!acts->forward_only, "text tower backward: the activations were allocated for the forward only");
    size_t mark = scratch->used;
    Tensor dln = arena_tensor(scratch, "text.d_ln_final_out", 2, acts->n, c->text_width, 0, 0);
    Tensor dpool = arena_tensor(scratch, "text.d_pooled", 2, acts->n, c->text_width, 0, 0);
    Tensor dx = arena_tensor(scratch, "text.d_x", 3, acts->n, acts->len, c->text_width, 0);
    Tensor none = tensor_none();
    op_linear_backward(ops, dln, none, none, dfeat, acts->ln_out, clip->txt_proj, 0);
    op_layernorm_backward(ops, dpool, none, none, dln, acts->pooled, acts->ln_mean, acts->ln_rstd, clip->ln_final_g,
                          0);
    ops_zero(ops, dx);
    op_gather_rows_backward(ops, dx, dpool, acts->eot_rows);
    ClipLayer frozen = clip_layer_frozen();
    Tensor dtmp = adapters ? arena_tensor(scratch, "text.d_adapter_in", 3, acts->n, acts->len, c->text_width, 0) : none;
    for (int l = c->text_layers - 1; l >= 0; l--) {
        /* Below the first adapter nothing is trainable: unless the caller wants the input's gradient (dx0),
         * block 0 gets no backward and that adapter no input gradient (as train/bench_flops.c counts) */
        int below = l > 0 || dx0.data;
        if (adapters) { /* x_out = a + adapter(a), a = block output */
            adapter_backward(ops, &adapters[l], &adapter_grads[l], acts->block_out[l], dx, below ? dtmp : none,
                             k_text_adapter_form, 0, scratch);
            if (below) ops_copy(ops, dx, dtmp);
        }
        if (!below) break;
        block_backward(ops, &clip->txt_layers[l], &frozen, &acts->blocks[l], dx, c->text_heads, 1, act, scratch);
    }
    if (dx0.data) ops_copy(ops, dx0, dx);
    scratch->used = mark;
}
