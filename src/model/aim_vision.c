#include "model/aim_vision.h"

#include <stdlib.h>
#include <string.h>

/* [B*T,S,W] <-> [B,T,S,W] <-> [B,S,T,W] views and permutes. */
static Tensor as4(Tensor t, int64_t a, int64_t b, int64_t c, int64_t d) { return tensor_reshape(t, 4, a, b, c, d); }

/* What a block keeps for its backward: the CLIP weights are frozen, so only what the input
 * gradient and the adapters' weight gradients need (layers.h); the block input only when the
 * backward recomputes the block from it. Without adapters, what the plain CLIP block keeps (frozen_block):
 * its input (x_a; with block recompute the kept x_in itself), x_b and the two sublayers' activations. */
static void block_acts_alloc_aim(Arena *a, AimBlockActs *b, const ClipConfig *c, int64_t batch, int64_t frames,
                                 int keep_input, int adapters, int recompute) {
    int64_t BT = batch * frames, S = clip_vision_tokens(c), W = c->vision_width;
    /* the frozen sublayers keep no weight inputs; the wide tensors as the level says */
    int attn_keep = recompute_sublayer_flag(recompute, 0), mlp_keep = recompute_sublayer_flag(recompute, 1);
    memset(b, 0, sizeof *b);
    if (keep_input) b->x_in = arena_tensor(a, "aim.block_in", 3, BT, S, W, 0);
    if (adapters) {
        b->xt = arena_tensor(a, "aim.temporal_in", 3, batch * S, frames, W, 0);
        attn_acts_alloc(a, &b->attn_t, batch * S, frames, W, c->vision_heads, attn_keep);
        b->at_out = arena_tensor(a, "aim.temporal_attn_out", 3, batch * S, frames, W, 0);
        b->x_a = arena_tensor(a, "aim.after_temporal", 3, BT, S, W, 0);
    } else {
        b->x_a = keep_input ? b->x_in : arena_tensor(a, "aim.block_in", 3, BT, S, W, 0);
    }
    attn_acts_alloc(a, &b->attn_s, BT, S, W, c->vision_heads, attn_keep);
    if (adapters) b->as_out = arena_tensor(a, "aim.spatial_attn_out", 3, BT, S, W, 0);
    b->x_b = arena_tensor(a, "aim.after_spatial", 3, BT, S, W, 0);
    /* ln_out (the MLP adapter's input too) is not kept: the backward recomputes it from x_b and the
     * layer norm's weights, one elementwise pass, bitwise the forward's */
    mlp_acts_alloc(a, &b->mlp, BT, S, W, 4 * W, mlp_keep);
}

void aim_acts_alloc(Arena *a, AimActs *acts, const ClipModel *clip, int64_t batch, int64_t frames, int recompute,
                    int adapters, const ImageInput *input, int forward_only) {
    const ClipConfig *c = &clip->cfg;
    int64_t BT = batch * frames, R = c->image_size, P = c->patch_size, g = clip_grid(c), S = g * g + 1;
    int64_t W = c->vision_width, E = c->embed_dim;
    memset(acts, 0, sizeof *acts);
    acts->batch = batch;
    acts->frames = frames;
    if (input) acts->input = *input;
    /* The stem up to ln_pre's input: frozen (patch embedding, class token, positions) or copies, so nothing
     * of it is needed after the forward; it lives in scratch while the forward builds x_pre (shape only here). */
    if (acts->input.uint8) acts->images_u8 = arena_shape_only("aim.images_u8", DT_U8, 4, BT, 3, R, R);
    acts->images = arena_shape_only("aim.images", a->dtype, 4, BT, 3, R, R);
    acts->patches = arena_shape_only("aim.patches", a->dtype, 2, BT * g * g, 3 * P * P, 0, 0);
    acts->emb = arena_shape_only("aim.patch_embeddings", a->dtype, 3, BT, g * g, W, 0);
    acts->x_tok = arena_shape_only("aim.tokens", a->dtype, 3, BT, S, W, 0);
    acts->x_perm = arena_shape_only("aim.tokens_temporal_layout", a->dtype, 4, batch, S, frames, W);
    acts->x_pre = arena_tensor(a, "aim.ln_pre_in", 3, BT, S, W, 0); /* kept: ln_pre's backward (to temb) */
    acts->pre_mean = arena_stats(a, "aim.ln_pre_mean", BT * S);
    acts->pre_rstd = arena_stats(a, "aim.ln_pre_rstd", BT * S);
    acts->x = arena_tensor(a, "aim.x", 3, BT, S, W, 0);
    acts->blocks = xcalloc((size_t)c->vision_layers, sizeof(AimBlockActs));
    CHECK(recompute >= 0 && recompute < RECOMPUTE_LEVELS, "aim_acts_alloc: recompute level %d", recompute);
    acts->recompute = forward_only ? RECOMPUTE_NONE : recompute;
    acts->forward_only = forward_only;
    acts->adapters = adapters;
    if (forward_only) {
        /* nothing is kept for a backward: one set serves every block in turn */
        block_acts_alloc_aim(a, &acts->blocks[0], c, batch, frames, 0, adapters, RECOMPUTE_NONE);
        for (int l = 1; l < c->vision_layers; l++) acts->blocks[l] = acts->blocks[0];
    } else if (recompute == RECOMPUTE_BLOCKS) {
        /* one set of block activations serves every block; each block keeps only its input,
         * from which the backward recomputes the rest (the set itself whole: it lives one block long) */
        block_acts_alloc_aim(a, &acts->blocks[0], c, batch, frames, 1, adapters, RECOMPUTE_NONE);
        for (int l = 1; l < c->vision_layers; l++) {
            acts->blocks[l] = acts->blocks[0];
            acts->blocks[l].x_in = arena_tensor(a, "aim.block_in", 3, BT, S, W, 0);
            if (!adapters) acts->blocks[l].x_a = acts->blocks[l].x_in; /* the plain block's input */
        }
    } else {
        for (int l = 0; l < c->vision_layers; l++)
            block_acts_alloc_aim(a, &acts->blocks[l], c, batch, frames, 0, adapters, recompute);
    }
    /* the class token's row of each frame, i * S: fixed by the shapes, so uploaded once here rather than in
     * every forward (an upload from pageable memory waits for the stream to drain) */
    acts->cls_rows = arena_tensor_typed(a, "aim.cls_rows", DT_I32, 1, BT, 0, 0, 0);
    if (acts->cls_rows.data) {
        int32_t *rows = xmalloc((size_t)BT * sizeof(int32_t));
        for (int64_t i = 0; i < BT; i++) rows[i] = (int32_t)(i * S);
        ops_upload(a->ops, acts->cls_rows.data, rows, (size_t)BT * sizeof(int32_t));
        free(rows);
    }
    acts->cls = arena_tensor(a, "aim.cls", 2, BT, W, 0, 0);
    acts->post_mean = arena_stats(a, "aim.ln_post_mean", BT);
    acts->post_rstd = arena_stats(a, "aim.ln_post_rstd", BT);
    acts->post_out = arena_tensor(a, "aim.ln_post_out", 2, BT, W, 0, 0);
    acts->frame_feat = arena_tensor(a, "aim.frame_features", 2, BT, E, 0, 0);
    acts->video_feat = arena_tensor(a, "aim.video_features", 2, batch, E, 0, 0);
}

void aim_acts_free(AimActs *acts) {
    free(acts->blocks);
    acts->blocks = NULL;
}

/* The three adapters' forms (op_adapter): the temporal one runs on frame sequences ([B, S, T] rows) and adds
 * into the frame-major stream ([B, T, S] rows); the spatial one has a skip; the MLP one is scaled. */
static AdapterForm temporal_form(int64_t S, int64_t T) { return (AdapterForm){0, 1.0f, S, T}; }
static const AdapterForm k_spatial_form = {1, 1.0f, 0, 0};
static AdapterForm mlp_form(float mlp_scale) { return (AdapterForm){0, mlp_scale, 0, 0}; }

/* A block without adapters is the plain frozen CLIP block (layers.h) on the kept tensors: its input x_a (block_forward
 * copies x there), x_mid = x_b, and the spatial attention's and MLP's activations. */
static BlockActs frozen_block(const AimBlockActs *b) {
    BlockActs plain = {.x_in = b->x_a, .x_mid = b->x_b, .attn = b->attn_s, .mlp = b->mlp};
    return plain;
}

static void block_forward_aim(Ops *ops, const ClipModel *clip, const ClipLayer *L, const AimBlockParams *p,
                              float mlp_scale, AimBlockActs *b, Tensor x, int64_t B, int64_t T, Arena *scratch) {
    const ClipConfig *c = &clip->cfg;
    int64_t S = x.shape[1], W = x.shape[2];
    Activation act = c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU;
    if (!p) {
        /* without adapters the temporal branch contributes nothing: not run (x_a is the block input) */
        BlockActs plain = frozen_block(b);
        block_forward(ops, L, &plain, x, c->vision_heads, 0, act, scratch);
        return;
    }
    size_t mark = scratch->used;
    Tensor t1 = arena_tensor(scratch, "aim.fwd_tmp1", 3, B * T, S, W, 0);
    /* the block input: x itself (x changes only at the end), or the kept copy recompute starts from */
    Tensor x_in = x;
    if (b->x_in.data) {
        ops_copy(ops, b->x_in, x);
        x_in = b->x_in;
    }
    /* temporal: frames of one token form a sequence; x_a = x_in + back(T_adapter(at_out)) in one op */
    op_permute_0213(ops, as4(b->xt, B, S, T, W), as4(x_in, B, T, S, W));
    attn_forward(ops, L, &b->attn_t, b->xt, b->at_out, c->vision_heads, 0, scratch);
    adapter_forward(ops, &p->temporal, b->at_out, b->x_a, x_in, temporal_form(S, T), scratch);
    /* spatial: x_b = x_a + as_out + S_adapter(as_out) */
    attn_forward(ops, L, &b->attn_s, b->x_a, b->as_out, c->vision_heads, 0, scratch);
    adapter_forward(ops, &p->spatial, b->as_out, b->x_b, b->x_a, k_spatial_form, scratch);
    /* MLP with the parallel adapter, which reads the MLP's layer-norm output: that goes into the block's
     * scratch (a view of the sublayer's activations whose ln_out is ln2), alive until the adapter has run */
    Tensor ln2 = arena_tensor(scratch, "aim.mlp_ln_out", 3, B * T, S, W, 0);
    MlpActs mlp_view = b->mlp;
    mlp_view.ln_out = ln2;
    mlp_view.transient_ln_out = 0;
    mlp_forward(ops, L, &mlp_view, b->x_b, t1, act, scratch);
    op_add(ops, x, b->x_b, t1);
    adapter_forward(ops, &p->mlp, ln2, x, x, mlp_form(mlp_scale), scratch); /* x += s * M_adapter(ln2) */
    scratch->used = mark;
}

static void block_backward_aim(Ops *ops, const ClipModel *clip, const ClipLayer *L, const AimBlockParams *p,
                               const AimBlockParams *g, float mlp_scale, const AimBlockActs *b, Tensor dx, int64_t B,
                               int64_t T, Arena *scratch) {
    const ClipConfig *c = &clip->cfg;
    int64_t S = dx.shape[1], W = dx.shape[2];
    Activation act = c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU;
    ClipLayer frozen = clip_layer_frozen();
    if (!p) {
        BlockActs plain = frozen_block(b);
        block_backward(ops, L, &frozen, &plain, dx, c->vision_heads, 0, act, scratch);
        return;
    }
    Tensor none = tensor_none();
    size_t mark = scratch->used;
    Tensor t1 = arena_tensor(scratch, "aim.bwd_tmp1", 3, B * T, S, W, 0);
    Tensor t2 = arena_tensor(scratch, "aim.bwd_tmp2", 3, B * T, S, W, 0);
    Tensor t3 = arena_tensor(scratch, "aim.bwd_tmp3", 3, B * T, S, W, 0);
    /* out = x_b + mlp(x_b) + s * M(ln_2(x_b)) */
    ops_copy(ops, t1, dx); /* t1 = d x_b */
    /* the MLP adapter's input, ln_2(x_b), again (statistics not rewritten), for as long as its backward needs it;
     * where the MLP's fc1 output was not kept (qkv-fc1) also for the MLP's backward, which computes that output
     * again from it (one layer norm, not two) */
    size_t ln2_mark = scratch->used;
    Tensor ln2 = arena_tensor(scratch, "aim.mlp_ln_out", 3, B * T, S, W, 0);
    op_layernorm(ops, ln2, none, none, b->x_b, L->ln2_g, L->ln2_b, 1e-5f);
    adapter_backward(ops, &p->mlp, &g->mlp, ln2, dx, t2, mlp_form(mlp_scale), 0, scratch);
    MlpActs mlp_view = b->mlp;
    if (b->mlp.transient_pre) {
        mlp_view.ln_out = ln2;
        mlp_view.transient_ln_out = 0;
    } else {
        scratch->used = ln2_mark;
    }
    mlp_backward(ops, L, &frozen, &mlp_view, b->x_b, dx, t1, 1, act, t2, scratch);
    scratch->used = ln2_mark;
    /* x_b = x_a + as_out + S(as_out) */
    adapter_backward(ops, &p->spatial, &g->spatial, b->as_out, t1, t2, k_spatial_form, 0, scratch);
    Tensor d_as = t2;
    ops_copy(ops, t3, t1); /* t3 = d x_a */
    attn_backward(ops, L, &frozen, &b->attn_s, b->x_a, d_as, t3, 1, c->vision_heads, 0, scratch);
    /* x_a = x_in + back(T(attn_t(ln_1(xt)))) */
    Tensor dat = tensor_reshape(t2, 3, B * S, T, W, 0); /* d at_out, in the temporal layout */
    adapter_backward(ops, &p->temporal, &g->temporal, b->at_out, t3, dat, temporal_form(S, T), 0, scratch);
    Tensor dxt = tensor_reshape(t1, 3, B * S, T, W, 0);
    attn_backward(ops, L, &frozen, &b->attn_t, b->xt, dat, dxt, 0, c->vision_heads, 0, scratch);
    op_permute_0213(ops, as4(dx, B, T, S, W), as4(dxt, B, S, T, W));
    op_add(ops, dx, dx, t3);
    scratch->used = mark;
}

void aim_forward(Ops *ops, const ClipModel *clip, Tensor temb, const AimBlockParams *blocks, float mlp_scale,
                 AimActs *acts, const void *images_host, Arena *scratch) {
    const ClipConfig *c = &clip->cfg;
    int64_t B = acts->batch, T = acts->frames, BT = B * T, g = clip_grid(c), S = g * g + 1, W = c->vision_width;
    CHECK(!blocks == !acts->adapters, "AIM forward: adapters %s, but the activations were allocated %s them",
          blocks ? "given" : "absent", acts->adapters ? "with" : "without");
    size_t mark = scratch->used;
    Tensor images_u8 = acts->input.uint8 ? arena_tensor_like(scratch, acts->images_u8.name, acts->images_u8)
                                         : tensor_none();
    Tensor images = arena_tensor_like(scratch, acts->images.name, acts->images);
    Tensor patches = arena_tensor_like(scratch, acts->patches.name, acts->patches);
    Tensor emb = arena_tensor_like(scratch, acts->emb.name, acts->emb);
    Tensor x_tok = arena_tensor_like(scratch, acts->x_tok.name, acts->x_tok);
    Tensor x_perm = arena_tensor_like(scratch, acts->x_perm.name, acts->x_perm);
    images_upload(ops, &acts->input, images_u8, images, images_host);
    op_im2col_patches(ops, patches, images, c->patch_size);
    op_linear(ops, tensor_reshape(emb, 2, BT * g * g, W, 0, 0), patches, clip->patch_w, NULL);
    op_prepend_token(ops, x_tok, emb, clip->class_emb);
    op_add_broadcast(ops, x_tok, clip->vis_pos);
    /* temporal embedding: temb[t] on every token of frame t, added in the [B,S,T,W] layout */
    op_permute_0213(ops, x_perm, as4(x_tok, B, T, S, W));
    op_add_broadcast(ops, x_perm, temb);
    op_permute_0213(ops, as4(acts->x_pre, B, T, S, W), x_perm);
    scratch->used = mark;
    op_layernorm(ops, acts->x, acts->pre_mean, acts->pre_rstd, acts->x_pre, clip->ln_pre_g, clip->ln_pre_b, 1e-5f);
    for (int l = 0; l < c->vision_layers; l++)
        block_forward_aim(ops, clip, &clip->vis_layers[l], blocks ? &blocks[l] : NULL, mlp_scale, &acts->blocks[l],
                          acts->x, B, T, scratch);
    op_gather_rows(ops, acts->cls, acts->x, acts->cls_rows); /* cls_rows: aim_acts_alloc's */
    op_layernorm(ops, acts->post_out, acts->post_mean, acts->post_rstd, acts->cls, clip->ln_post_g, clip->ln_post_b,
                 1e-5f);
    op_linear(ops, acts->frame_feat, acts->post_out, clip->vis_proj, NULL);
    op_mean_dim1(ops, acts->video_feat, tensor_reshape(acts->frame_feat, 3, B, T, c->embed_dim, 0));
}

void aim_backward(Ops *ops, const ClipModel *clip, Tensor temb, Tensor dtemb, const AimBlockParams *blocks,
                  const AimBlockParams *grads, float mlp_scale, const AimActs *acts, Tensor dvideo, Arena *scratch) {
    (void)temb;
    const ClipConfig *c = &clip->cfg;
    int64_t B = acts->batch, T = acts->frames, BT = B * T, S = clip_vision_tokens(c), W = c->vision_width;
    int64_t E = c->embed_dim;
    CHECK(!blocks == !acts->adapters, "AIM backward: adapters %s, but the activations were allocated %s them",
          blocks ? "given" : "absent", acts->adapters ? "with" : "without");
    CHECK(!acts->forward_only, "AIM backward: the activations were allocated for the forward only (evaluation)");
    Tensor none = tensor_none();
    size_t mark = scratch->used;
    Tensor dframe = arena_tensor(scratch, "aim.d_frame_features", 3, B, T, E, 0);
    Tensor dpost = arena_tensor(scratch, "aim.d_ln_post_out", 2, BT, W, 0, 0);
    Tensor dcls = arena_tensor(scratch, "aim.d_cls", 2, BT, W, 0, 0);
    Tensor dx = arena_tensor(scratch, "aim.d_x", 3, BT, S, W, 0);
    op_mean_dim1_backward(ops, dframe, dvideo);
    op_linear_backward(ops, dpost, none, none, tensor_reshape(dframe, 2, BT, E, 0, 0), acts->post_out, clip->vis_proj,
                       0);
    op_layernorm_backward(ops, dcls, none, none, dpost, acts->cls, acts->post_mean, acts->post_rstd, clip->ln_post_g,
                          0);
    ops_zero(ops, dx);
    op_gather_rows_backward(ops, dx, dcls, acts->cls_rows);
    int blocks_again = acts->recompute == RECOMPUTE_BLOCKS;
    Tensor x_again = blocks_again ? arena_tensor(scratch, "aim.recomputed_block_out", 3, BT, S, W, 0) : none;
    for (int l = c->vision_layers - 1; l >= 0; l--) {
        const AimBlockParams *p = blocks ? &blocks[l] : NULL;
        if (blocks_again && l < c->vision_layers - 1) {
            /* the shared activations hold the last block's (the forward ended there): refill them
             * with block l's by running it again from its kept input; its output is not needed */
            ops_copy(ops, x_again, acts->blocks[l].x_in);
            block_forward_aim(ops, clip, &clip->vis_layers[l], p, mlp_scale, (AimBlockActs *)&acts->blocks[l], x_again,
                              B, T, scratch);
        }
        block_backward_aim(ops, clip, &clip->vis_layers[l], p, grads ? &grads[l] : NULL, mlp_scale, &acts->blocks[l],
                           dx, B, T, scratch);
    }
    if (dtemb.data) {
        Tensor dpre = arena_tensor(scratch, "aim.d_ln_pre_in", 3, BT, S, W, 0);
        Tensor dperm = arena_tensor(scratch, "aim.d_tokens_temporal_layout", 4, B, S, T, W);
        op_layernorm_backward(ops, dpre, none, none, dx, acts->x_pre, acts->pre_mean, acts->pre_rstd, clip->ln_pre_g,
                              0);
        op_permute_0213(ops, dperm, as4(dpre, B, T, S, W));
        op_add_broadcast_backward(ops, dtemb, dperm);
    }
    scratch->used = mark;
}
