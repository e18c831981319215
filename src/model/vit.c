#include "model/vit.h"

#include <stdlib.h>
#include <string.h>

void vit_params_from_clip(const ClipModel *clip, VitParams *p) {
    p->patch_w = clip->patch_w;
    p->class_emb = clip->class_emb;
    p->pos = clip->vis_pos;
    p->ln_pre_g = clip->ln_pre_g, p->ln_pre_b = clip->ln_pre_b;
    p->ln_post_g = clip->ln_post_g, p->ln_post_b = clip->ln_post_b;
    p->proj = clip->vis_proj;
    p->layers = clip->vis_layers;
}

void vit_acts_alloc(Arena *a, VitActs *acts, const ClipConfig *c, int64_t n, const ImageInput *input, int trainable,
                    int recompute) {
    int64_t R = c->image_size, P = c->patch_size, g = clip_grid(c), S = g * g + 1, W = c->vision_width;
    memset(acts, 0, sizeof *acts);
    acts->n = n;
    if (input) acts->input = *input;
    if (acts->input.uint8) acts->images_u8 = arena_tensor_typed(a, "vit.images_u8", DT_U8, 4, n, 3, R, R);
    acts->images = arena_tensor(a, "vit.images", 4, n, 3, R, R);
    acts->patches = arena_tensor(a, "vit.patches", 2, n * g * g, 3 * P * P, 0, 0);
    acts->emb = arena_tensor(a, "vit.patch_embeddings", 3, n, g * g, W, 0);
    acts->x_tok = arena_tensor(a, "vit.tokens", 3, n, S, W, 0);
    acts->pre_mean = arena_stats(a, "vit.ln_pre_mean", n * S);
    acts->pre_rstd = arena_stats(a, "vit.ln_pre_rstd", n * S);
    acts->x = arena_tensor(a, "vit.x", 3, n, S, W, 0);
    acts->blocks = xcalloc((size_t)c->vision_layers, sizeof(BlockActs));
    CHECK(recompute >= 0 && recompute < RECOMPUTE_LEVELS, "vit_acts_alloc: recompute level %d", recompute);
    acts->recompute = trainable ? recompute : RECOMPUTE_NONE; /* a frozen tower has nothing to recompute */
    acts->trainable = trainable;
    int keep = trainable ? SUBLAYER_KEEP_WEIGHT_INPUTS : 0;
    if (!trainable) {
        /* no backward crosses a frozen tower (nothing below it trains): one set serves every block in turn, as
         * the forward leaves it (DFER-CLIP with a frozen encoder, L/14 at 16 frames: 0.154 GiB of activations a
         * clip in all, where 24 kept sets made it 1.793) */
        block_acts_alloc(a, &acts->blocks[0], n, S, W, 4 * W, c->vision_heads, 0, RECOMPUTE_NONE);
        for (int l = 1; l < c->vision_layers; l++) acts->blocks[l] = acts->blocks[0];
    } else if (recompute == RECOMPUTE_BLOCKS) {
        /* the shared set is whole (it lives one block long); block_forward copies each block's input into its own
         * x_in, the one tensor a block keeps */
        block_acts_alloc(a, &acts->blocks[0], n, S, W, 4 * W, c->vision_heads, keep, RECOMPUTE_NONE);
        for (int l = 1; l < c->vision_layers; l++) {
            acts->blocks[l] = acts->blocks[0];
            acts->blocks[l].x_in = arena_tensor(a, "block.x_in", 3, n, S, W, 0);
        }
    } else {
        for (int l = 0; l < c->vision_layers; l++)
            block_acts_alloc(a, &acts->blocks[l], n, S, W, 4 * W, c->vision_heads, keep, recompute);
    }
    /* the class token's row of each image, i * S: fixed by the shapes, so uploaded once here rather than in every
     * forward (an upload from pageable memory waits for the device's stream to drain) */
    acts->cls_rows = arena_tensor_typed(a, "vit.cls_rows", DT_I32, 1, n, 0, 0, 0);
    if (acts->cls_rows.data) {
        int32_t *rows = xmalloc((size_t)n * sizeof(int32_t));
        for (int64_t i = 0; i < n; i++) rows[i] = (int32_t)(i * S);
        ops_upload(a->ops, acts->cls_rows.data, rows, (size_t)n * sizeof(int32_t));
        free(rows);
    }
    acts->cls = arena_tensor(a, "vit.cls", 2, n, W, 0, 0);
    acts->post_mean = arena_stats(a, "vit.ln_post_mean", n);
    acts->post_rstd = arena_stats(a, "vit.ln_post_rstd", n);
    acts->post_out = arena_tensor(a, "vit.ln_post_out", 2, n, W, 0, 0);
    acts->feat = arena_tensor(a, "vit.features", 2, n, c->embed_dim, 0, 0);
}

void vit_acts_free(VitActs *acts) {
    free(acts->blocks);
    acts->blocks = NULL;
}

void vit_forward(Ops *ops, const ClipConfig *c, const VitParams *p, VitActs *acts, const void *images_host,
                 Arena *scratch) {
    int64_t n = acts->n, g = clip_grid(c), W = c->vision_width;
    Activation act = c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU;
    images_upload(ops, &acts->input, acts->images_u8, acts->images, images_host);
    op_im2col_patches(ops, acts->patches, acts->images, c->patch_size);
    op_linear(ops, tensor_reshape(acts->emb, 2, n * g * g, W, 0, 0), acts->patches, p->patch_w, NULL);
    op_prepend_token(ops, acts->x_tok, acts->emb, p->class_emb);
    op_add_broadcast(ops, acts->x_tok, p->pos);
    op_layernorm(ops, acts->x, acts->pre_mean, acts->pre_rstd, acts->x_tok, p->ln_pre_g, p->ln_pre_b, 1e-5f);
    for (int l = 0; l < c->vision_layers; l++)
        block_forward(ops, &p->layers[l], &acts->blocks[l], acts->x, c->vision_heads, 0, act, scratch);
    op_gather_rows(ops, acts->cls, acts->x, acts->cls_rows);
    op_layernorm(ops, acts->post_out, acts->post_mean, acts->post_rstd, acts->cls, p->ln_post_g, p->ln_post_b, 1e-5f);
    op_linear(ops, acts->feat, acts->post_out, p->proj, NULL);
}

void vit_backward(Ops *ops, const ClipConfig *c, const VitParams *p, const VitParams *g, const VitActs *acts,
                  Tensor dfeat, Arena *scratch) {
    int64_t n = acts->n, grid = clip_grid(c), S = grid * grid + 1, W = c->vision_width;
    Activation act = c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU;
    CHECK(acts->trainable, "vit_backward: the activations were allocated for a frozen tower, which keeps none of its "
                           "blocks' (vit_acts_alloc's trainable)");
    size_t mark = scratch->used;
    Tensor dpost = arena_tensor(scratch, "vit.d_ln_post_out", 2, n, W, 0, 0);
    Tensor dcls = arena_tensor(scratch, "vit.d_cls", 2, n, W, 0, 0);
    Tensor dx = arena_tensor(scratch, "vit.d_x", 3, n, S, W, 0);
    op_linear_backward(ops, dpost, g->proj, tensor_none(), dfeat, acts->post_out, p->proj, 0);
    op_layernorm_backward(ops, dcls, g->ln_post_g, g->ln_post_b, dpost, acts->cls, acts->post_mean, acts->post_rstd,
                          p->ln_post_g, 0);
    ops_zero(ops, dx);
    op_gather_rows_backward(ops, dx, dcls, acts->cls_rows);
    int blocks_again = acts->recompute == RECOMPUTE_BLOCKS;
    Tensor x_again = blocks_again ? arena_tensor(scratch, "vit.recomputed_block_out", 3, n, S, W, 0) : tensor_none();
    for (int l = c->vision_layers - 1; l >= 0; l--) {
        BlockActs *b = (BlockActs *)&acts->blocks[l];
        if (blocks_again && l < c->vision_layers - 1) {
            /* the shared set holds the last block's activations (the forward ended there): refill it with block
             * l's by running the block again from its kept input; its output is not needed */
            ops_copy(ops, x_again, b->x_in);
            block_forward(ops, &p->layers[l], b, x_again, c->vision_heads, 0, act, scratch);
        }
        block_backward(ops, &p->layers[l], &g->layers[l], b, dx, c->vision_heads, 0, act, scratch);
    }
    int trains_input = g->ln_pre_g.data || g->ln_pre_b.data || g->pos.data || g->class_emb.data || g->patch_w.data;
    if (trains_input) {
        Tensor dtok = arena_tensor(scratch, "vit.d_tokens", 3, n, S, W, 0);
        op_layernorm_backward(ops, dtok, g->ln_pre_g, g->ln_pre_b, dx, acts->x_tok, acts->pre_mean, acts->pre_rstd,
                              p->ln_pre_g, 0);
        if (g->pos.data) op_add_broadcast_backward(ops, g->pos, dtok);
        Tensor demb = arena_tensor(scratch, "vit.d_patch_embeddings", 3, n, grid * grid, W, 0);
        op_prepend_token_backward(ops, demb, g->class_emb, dtok);
        if (g->patch_w.data)
            op_linear_backward(ops, tensor_none(), g->patch_w, tensor_none(),
                               tensor_reshape(demb, 2, n * grid * grid, W, 0, 0), acts->patches, p->patch_w, 0);
    }
    scratch->used = mark;
}
