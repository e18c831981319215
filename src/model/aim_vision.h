/* CLIP's ViT with AIM adapters (Yang et al. 2023), as FineCLIPER's low level
 * uses it: the frozen attention is reused across the T frames of a clip
 * (temporal adapter), a spatial adapter follows the spatial attention, and an
 * MLP adapter runs in parallel with the frozen MLP, scaled by s (0.5).
 *
 * Shapes: B clips, T frames, S = g*g+1 tokens, W width, R = W/ratio bottleneck.
 *   x [B*T, S, W] = patches + cls + pos, (+ temporal embedding temb[T, W] on every token)
 *   ln_pre; per block (dfer.md §2):
 *     xt  = x viewed [B,T,S,W] -> [B*S, T, W];  x += back(T_adapter(attn(ln_1(xt))))   (no skip)
 *     x  += S_adapter(attn(ln_1(x)))                                                  (skip)
 *     x  += mlp(ln_2(x)) + s * M_adapter(ln_2(x))                                     (no skip)
 *   cls [B*T, W] -> ln_post -> proj [B*T, E] -> mean over T -> video feature [B, E].
 * Frozen: every CLIP weight. Trainable: temb and the three adapters per block.
 * Without adapters (model.video_adapters = false) the temporal branch would add nothing, so it is not run and its
 * activations are not allocated: each block is the plain frozen CLIP block on x (layers.h's block_forward),
 *     x += attn(ln_1(x));  x += mlp(ln_2(x)). */
#ifndef DFER_MODEL_AIM_VISION_H
#define DFER_MODEL_AIM_VISION_H

#include "model/layers.h"

/* The recompute levels (train.recompute) are layers.h's Recompute. With adapters a block keeps 15 [B*T,S,W]-sized
 * tensors (the temporal input, 2 x qkv of 3, the two attention outputs, x_a, x_b, fc1's output of 4) besides
 * statistics and saved attention state; the forward runs 16 W^2 multiply-adds a token in frozen GEMMs
 * (2 x (qkv 3 + out 1) + fc1 4 + fc2 4): qkv keeps 9 at +6 W^2 a token, qkv-fc1 5 at +10 W^2, blocks each
 * block's input only (one shared set of the rest) at the whole block again. */

typedef struct AimBlockParams {
    AdapterParams temporal, spatial, mlp;
} AimBlockParams;

/* Without adapters only x_in, x_a (the block input: the plain block's x_in; with recompute the same tensor as
 * x_in), attn_s, x_b (the plain block's x_mid) and mlp are allocated; the rest are zero. */
typedef struct AimBlockActs {
    Tensor x_in;            /* [B*T,S,W] block input (kept only for recompute; else data NULL) */
    Tensor xt;              /* [B*S,T,W] input in the temporal layout (adapters only) */
    AttnActs attn_t;        /* temporal attention (sequence T) (adapters only) */
    Tensor at_out;          /* [B*S,T,W] temporal attention output = T adapter input (adapters only) */
    Tensor x_a;             /* [B*T,S,W] after the temporal residual */
    AttnActs attn_s;        /* spatial attention (sequence S) */
    Tensor as_out;          /* [B*T,S,W] = S adapter input (adapters only) */
    Tensor x_b;             /* [B*T,S,W] after the spatial residual */
    MlpActs mlp;
} AimBlockActs;

typedef struct AimActs {
    int64_t batch, frames;
    ImageInput input;       /* how the host images arrive (aim_acts_alloc's `input`) */
    /* the stem, shape only (data NULL): in scratch during aim_forward */
    Tensor images_u8;       /* U8 [B*T,3,R,R] staging of raw pixels (input.uint8) */
    Tensor images;          /* [B*T,3,R,R] */
    Tensor patches;         /* [B*T*g*g, 3*P*P] */
    Tensor emb;             /* [B*T, g*g, W] */
    Tensor x_tok;           /* [B*T,S,W] tokens + positions */
    Tensor x_perm;          /* [B,S,T,W] (temporal embedding added in this layout) */
    Tensor x_pre;           /* [B*T,S,W] ln_pre input (tokens + pos + temb) */
    Tensor pre_mean, pre_rstd;
    Tensor x;               /* [B*T,S,W] residual stream */
    AimBlockActs *blocks;   /* per block; with block recompute they share one set, each its own x_in */
    int recompute;          /* Recompute */
    int forward_only;       /* no backward: the blocks share one set (aim_acts_alloc's forward_only) */
    int adapters;           /* 1: blocks with AIM adapters; 0: plain frozen CLIP blocks (no temporal branch) */
    Tensor cls_rows;        /* I32 [B*T] */
    Tensor cls, post_mean, post_rstd, post_out; /* [B*T,W], [B*T], [B*T], [B*T,W] */
    Tensor frame_feat;      /* [B*T,E] */
    Tensor video_feat;      /* [B,E] */
} AimActs;

/* recompute (Recompute): RECOMPUTE_BLOCKS keeps only each block's input (one [B*T,S,W] tensor per
 * block) and one shared set of block activations; the backward runs each block's forward again (one more
 * forward of the ViT per step) for a fraction of the memory. RECOMPUTE_QKV(_FC1) keeps every block's set
 * without the wide tensors (layers.h, SUBLAYER_RECOMPUTE_WIDE).
 * adapters: 1 when aim_forward will be given adapters (blocks != NULL), 0 for the frozen ViT + temb.
 * input: how aim_forward's host images arrive (NULL: normalised reals; ImageInput).
 * forward_only: no backward will run (evaluation, prediction): every block runs on one shared set, which it leaves
 * as the next block overwrites it (recompute does not apply); aim_backward refuses such activations. */
void aim_acts_alloc(Arena *a, AimActs *acts, const ClipModel *clip, int64_t batch, int64_t frames, int recompute,
                    int adapters, const ImageInput *input, int forward_only);
void aim_acts_free(AimActs *acts);
/* images_host [B*T,3,R,R]: normalised reals, or uint8 pixels (acts->input); blocks NULL = no
 * adapters (frozen ViT + temb), which must match aim_acts_alloc's `adapters`. */
void aim_forward(Ops *ops, const ClipModel *clip, Tensor temb, const AimBlockParams *blocks, float mlp_scale,
                 AimActs *acts, const void *images_host, Arena *scratch);
/* dvideo [B,E] -> gradients of temb and the adapters (accumulated). */
void aim_backward(Ops *ops, const ClipModel *clip, Tensor temb, Tensor dtemb, const AimBlockParams *blocks,
                  const AimBlockParams *grads, float mlp_scale, const AimActs *acts, Tensor dvideo, Arena *scratch);

#endif
