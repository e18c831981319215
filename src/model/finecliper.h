/* FineCLIPER, low level (Chen et al., ACM MM 2024), on the op interface.
 *
 * Video: CLIP ViT with AIM adapters (aim_vision.h) -> v [B,E].
 * Text:  PN descriptors through the frozen text encoder with a Houlsby adapter
 *        after each block, one adapter set for the C positive prompts
 *        ("A person with an expression of {class}.") and one for the C negative
 *        prompts ("... of no {class}.") -> t+ [C,E], t- [C,E], once per step.
 * Head:  score[b,c] = cos(v_b, t+_c) - cos(v_b, t-_c) (or cos(v_b, t+_c) with
 *        positives only); logits = score / temperature; cross-entropy.
 * Trainable: temporal embedding [T,W], 3 adapters per vision block, one
 * adapter per text block per prompt set. Up-projections start at zero, so the
 * untrained model is frozen CLIP. */
#ifndef DFER_MODEL_FINECLIPER_H
#define DFER_MODEL_FINECLIPER_H

#include "model/aim_vision.h"
#include "model/params.h"
#include "model/text_tower.h"

typedef struct FineCliperConfig {
    int frames;            /* T (16) */
    int num_classes;       /* C */
    float temperature;     /* logits = score / temperature (0.01) */
    float mlp_adapter_scale; /* s (0.5) */
    int bottleneck_divisor;  /* adapter hidden = width / divisor (4) */
    int use_negative;      /* 1: pos - neg scores (PN); 0: positive prompts only */
    int video_adapters;    /* 0: frozen ViT (+ temporal embedding) */
    int text_adapters;     /* 0: frozen text encoder */
} FineCliperConfig;

void finecliper_config_default(FineCliperConfig *cfg);

enum { FC_GROUP_VIDEO = 0, FC_GROUP_TEXT = 1 }; /* learning-rate groups */

typedef struct FineCliper {
    FineCliperConfig cfg;
    ClipModel *clip; /* frozen backbone, not owned */
    Ops *ops;
    ParamSet params;
    int idx_temb;
    int idx_first_adapter; /* parameters of adapters follow in a fixed order */
    AimBlockParams *vis, *vis_grad; /* per vision layer (NULL without video adapters) */
    AdapterParams *pos, *pos_grad, *neg, *neg_grad; /* per text layer (NULL without text adapters) */
    int32_t *pos_ids, *neg_ids; /* host [C, context] */
    /* activations, sized for `batch` clips on first use */
    int64_t batch;
    Arena acts, scratch;
    AimActs aim;
    TextTowerActs text_pos, text_neg;
    Tensor vn, tpn, tnn, cos_pos, cos_neg, logits, loss, dlogits, labels;
} FineCliper;

/* Declares and initialises the trainable parameters (seeded), keeps the prompt
 * ids (host [C, context] each; neg_ids may be NULL when use_negative is 0). */
int finecliper_create(Ops *ops, ClipModel *clip, const FineCliperConfig *cfg, const int32_t *pos_ids,
                      const int32_t *neg_ids, uint64_t seed, FineCliper *m, Err *err);
void finecliper_free(FineCliper *m);

/* One forward (and, with train != 0, backward) pass on B clips.
 * frames_host [B*T,3,R,R] in the model dtype; labels [B] (may be NULL when !train).
 * logits_host [B,C] (model dtype) is filled when non-NULL. Parameter gradients
 * accumulate (scaled by grad_scale, e.g. 1/global batch). Returns the summed
 * cross-entropy over the B clips (0 when labels is NULL). */
double finecliper_step(FineCliper *m, const void *frames_host, const int32_t *labels, int batch, int train,
                       float grad_scale, void *logits_host);

#endif
