/* CLIP's vision tower for training, with any subset of its weights trainable
 * (DFER-CLIP fine-tunes all of it). Parameters and their gradients are given
 * as two VitParams; a gradient tensor with data NULL is frozen.
 *
 * images [N,3,R,R] -> patches [N*g*g, 3*P*P] -> x [N,S,W] (cls + pos) -> ln_pre
 * -> L blocks -> ln_post(x[:,0]) [N,W] -> proj -> feat [N,E]. */
#ifndef DFER_MODEL_VIT_H
#define DFER_MODEL_VIT_H

#include "model/layers.h"

typedef struct VitParams {
    Tensor patch_w;            /* [W, 3*P*P] */
    Tensor class_emb;          /* [W] */
    Tensor pos;                /* [S, W] */
    Tensor ln_pre_g, ln_pre_b; /* [W] */
    Tensor ln_post_g, ln_post_b;
    Tensor proj;               /* [E, W] */
    ClipLayer *layers;         /* [vision_layers] */
} VitParams;

typedef struct VitActs {
    int64_t n;
    ImageInput input; /* how the host images arrive (vit_acts_alloc's `input`) */
    Tensor images_u8; /* U8 [N,3,R,R] staging of raw pixels (input.uint8; else no data) */
    Tensor images, patches, emb, x_tok, pre_mean, pre_rstd, x;
    BlockActs *blocks; /* per block; at RECOMPUTE_BLOCKS they share one set, each its own x_in */
    int recompute;     /* Recompute (layers.h) */
    int trainable;     /* 0: a frozen tower, forward only (its blocks share one set; vit_backward refuses it) */
    Tensor cls_rows, cls, post_mean, post_rstd, post_out, feat;
} VitActs;

/* Views of a ClipModel's vision weights (frozen use, or initial values). */
void vit_params_from_clip(const ClipModel *clip, VitParams *p);
/* input: how vit_forward's host images arrive (NULL: normalised reals; ImageInput). */
/* trainable: the blocks' weights get gradients (they keep their weight GEMMs' inputs; layers.h); 0: a frozen
 * tower that no backward crosses, whose blocks keep nothing (one shared set; recompute does not apply). recompute
 * (Recompute): what the blocks leave to the backward to compute again; at RECOMPUTE_BLOCKS each block keeps its
 * input only (x_in) and one shared set holds the rest, refilled by running the block again in the backward. */
void vit_acts_alloc(Arena *a, VitActs *acts, const ClipConfig *cfg, int64_t n, const ImageInput *input, int trainable,
                    int recompute);
void vit_acts_free(VitActs *acts);
/* images_host [N,3,R,R]: normalised reals, or uint8 pixels (acts->input). */
void vit_forward(Ops *ops, const ClipConfig *cfg, const VitParams *p, VitActs *acts, const void *images_host,
                 Arena *scratch);
void vit_backward(Ops *ops, const ClipConfig *cfg, const VitParams *p, const VitParams *g, const VitActs *acts,
                  Tensor dfeat, Arena *scratch);

#endif
