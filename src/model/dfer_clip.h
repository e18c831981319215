/* DFER-CLIP (Zhao and Patras, BMVC 2023; dfer.md §1), on the op interface.
 *
 * Video: the CLIP image encoder, fully fine-tuned, on raw [0,1] frames
 *        [B*T,3,R,R] -> frame features [B,T,E]; a one-layer temporal transformer
 *        (class token and position embedding, both N(0,1) initialised; pre-LN;
 *        to_qkv without bias; E/64 heads of 64; tanh-GELU MLP of width 2E);
 *        output = its class token, no final layer norm -> v [B,E]. The paper's
 *        Tab. 1 ablates the depth (temporal_layers blocks; 0: v = the mean of the
 *        frame features, our reading of "w/o TM").
 * Text:  per class, M = 8 learnable context vectors [C,M,W] (N(0,0.02)) in place
 *        of the "X" tokens of "X X X X X X X X <descriptor>", through the frozen
 *        text encoder (gradients flow to the contexts) -> t [C,E]. Tab. 4: one set
 *        [M,W] shared by the classes, or half of them after the class text
 *        ("X X X X <descriptor> X X X X", CoOp's middle); Tab. 3: M = 0.
 * Head:  logits = cos(v, t) / 0.01; cross-entropy.
 * Learning-rate groups: image encoder, temporal net, prompt learner. */
#ifndef DFER_MODEL_DFER_CLIP_H
#define DFER_MODEL_DFER_CLIP_H

#include "model/params.h"
#include "model/text_tower.h"
#include "model/vit.h"

enum { DC_GROUP_IMAGE_ENCODER = 0, DC_GROUP_TEMPORAL = 1, DC_GROUP_PROMPT = 2 };

typedef struct DferClipConfig {
    int frames;          /* T (16) */
    int num_classes;     /* C */
    int contexts;        /* M (8; 0: the class texts alone) */
    int shared_contexts; /* 0: M contexts per class (DFER-CLIP's); 1: one set [M,W] for every class */
    int middle;          /* 0: the contexts at positions 1..M (end); 1: M/2 there, the rest just before the EOT */
    int temporal_layers; /* the temporal transformer's blocks (1); 0: the mean of the frame features */
    int placeholder_id;  /* the token the prompts hold where the contexts go, checked at create (0: not checked) */
    float logit_scale;   /* 1 / temperature (100) */
    int train_image_encoder; /* 1 (DFER-CLIP); 0 freezes it */
    int recompute;       /* Recompute (layers.h) of the image encoder's blocks; none when it is frozen (no backward
                          * crosses it, and its blocks keep nothing: vit.h) */
    int forward_only;    /* evaluation only: the image encoder keeps nothing for a backward (as a frozen one), the
                          * scratch is a forward's; a training step is refused */
    ImageInput input;    /* how frames arrive (zero: normalised reals; uint8: raw pixels, normalised on the device) */
} DferClipConfig;

void dfer_clip_config_default(DferClipConfig *cfg);

typedef struct DferClip {
    DferClipConfig cfg;
    ClipModel *clip; /* frozen text tower and the initial image-encoder weights; not owned */
    Ops *ops;
    ParamSet params;
    VitParams vit, vit_grad;
    ClipLayer *temporal, *temporal_grad; /* [temporal_layers] */
    Tensor cls, cls_grad, pos, pos_grad, ctx, ctx_grad; /* ctx [C,M,W], shared [M,W]; none without contexts */
    int temporal_heads;
    int32_t *ids;     /* host [C, context]: SOT, M placeholder tokens, descriptor, EOT */
    int32_t *ctx_pos; /* host [C, M]: each context's position in its class's prompt */
    int64_t batch;
    Arena acts, scratch;
    VitActs vit_acts;
    Tensor t_in, t_x, t_rows, video, ctx_rows;
    Tensor ctx_source, ctx_all; /* shared contexts: I32 [C*M] rows of ctx (j), and ctx for every class [C*M,W] */
    BlockActs *t_blocks; /* [temporal_layers] */
    TextTowerActs text;
    Tensor vn, tn, logits, loss, dlogits, labels;
} DferClip;

/* ids: host [C, context] prompts whose placeholders are at positions 1..M (cfg->middle: 1..M/2 and the M - M/2
 * before the EOT); an error names a prompt where they are not. */
int dfer_clip_create(Ops *ops, ClipModel *clip, const DferClipConfig *cfg, const int32_t *ids, uint64_t seed,
                     DferClip *m, Err *err);
void dfer_clip_free(DferClip *m);
/* Allocates the activations and scratch of steps of `batch` clips now (the first step would). */
void dfer_clip_reserve(DferClip *m, int batch);
/* The image encoder's recompute level (Recompute) for the next allocation of activations (before the first step,
 * or followed by a reserve); a frozen encoder stays at none. */
void dfer_clip_set_recompute(DferClip *m, int recompute);
/* Forward-only activations (DferClipConfig.forward_only) from the next allocation on. */
void dfer_clip_set_forward_only(DferClip *m, int forward_only);
/* The Hugging Face CLIP name(s) of a fine-tuned encoder tensor, given its name after "image_encoder.":
 * returns 1 (hf[0]), 3 for the packed q/k/v projection (its rows split in q, k, v order into hf[0..2]),
 * or 0 when it is not an encoder tensor. */
int dfer_clip_encoder_hf_names(const char *rest, char hf[3][256]);
/* Same contract as finecliper_step. frames_host: raw [0,1] frames [B*T,3,R,R] (reals), or uint8 pixels with
 * cfg.input.uint8. */
double dfer_clip_step(DferClip *m, const void *frames_host, const int32_t *labels, int batch, int train,
                      float grad_scale, void *logits_host);

#endif
