/* FineCLIPER (Chen et al., ACM MM 2024), on the op interface: the low level and,
 * per variant, the middle and high levels with adaptive weighting.
 *
 * Modalities (each a feature f_m [B,E]):
 *   video     frames through CLIP's ViT with AIM adapters (aim_vision.h) -> mean over T
 *   parsing   parsing maps through the same frozen ViT with a second AIM adapter set
 *   landmarks landmark maps through the same ViT and the SAME second adapter set
 *             (the paper's shared middle-level encoder); each of the two has its
 *             own projection [E,E] (identity at start)
 *   text      a description of the clip through a (Long-)CLIP text tower with a
 *             Houlsby adapter after each block and a projector [E, E_d]
 * Class texts: PN descriptors through the frozen text encoder with one adapter set
 * for the C positive prompts ("A person with an expression of {class}.") and one
 * for the C negative prompts ("... of no {class}.") -> t+ [C,E], t- [C,E], once per step.
 * Head (our reading of the paper's eq. 8-11, see docs/method.md):
 *   n_m = f_m / |f_m|;  s_m[b,c] = cos(n_m, t+_c) - cos(n_m, t-_c) (positives only: cos(n_m, t+_c))
 *   conf_m[b] = max_c s_m[b,c];  w[b,:] = normalise_m(conf[b,:]) (softmax, sum or uniform), a constant; or fixed:
 *   w_video = video_weight, every other modality (1 - video_weight) / (M - 1) (the paper's Fig. 8)
 *   fused F[b] = sum_m w[b,m] n_m[b];  logits = PN score of F / temperature (the prediction)
 *   loss = sum_m w[b,m] CE(s_m / temperature) (modalities), CE(logits) (fused), or both.
 * With the video alone this is the low-level model exactly (w = 1, F = n_video). Without the low level (cfg.low = 0)
 * the frames are not read and the video stream's parameters are not declared.
 * Trainable: temporal embeddings [T,W], adapters, projections. Up-projections and
 * the adapters' second layers start at zero, projections at identity, so the
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
    int mid_high_bottleneck_divisor; /* the middle and high levels' adapters (0: bottleneck_divisor) */
    int use_negative;      /* 1: pos - neg scores (PN); 0: positive prompts only */
    int video_adapters;    /* 0: frozen ViT (+ temporal embedding) */
    int text_adapters;     /* 0: frozen text encoder */
    int low;               /* 1: the video stream (the low level; 1 by default). 0: the levels without the frames,
                            * the paper's Table 4 rows "Middle-level Only" and "High-level Only" */
    int mid_streams;       /* FC_MID_PARSING | FC_MID_LANDMARKS: the middle level (0: none) */
    int high;              /* 1: the description stream (the high level) */
    int description_length; /* L_d: description tokens run (longest first EOT + 1 of the data) */
    int fusion_weights;    /* FC_WEIGHTS_* */
    double fusion_temperature; /* FC_WEIGHTS_SOFTMAX: softmax(confidence / this) (1) */
    double video_weight;   /* FC_WEIGHTS_FIXED (the low level's): the video feature's weight, the other modalities'
                            * (1 - this) / (M - 1) each: the paper's Fig. 8 (0.5) */
    int fusion_loss;       /* FC_LOSS_* */
    int caption_length;    /* > 0: contrastive training against per-clip captions of this many tokens (the
                            * zero-shot setting; the low level only) */
    int recompute;         /* Recompute of the ViT streams (none, qkv, qkv-fc1, blocks) */
    int forward_only;      /* evaluation only: the ViT streams keep nothing for a backward (aim_acts_alloc), the
                            * scratch is a forward's; a training step is refused */
    ImageInput input;      /* how frames and maps arrive (zero: normalised reals; uint8: raw pixels, normalised
                            * on the device with input.mean/std, the same for frames and maps as in the loader) */
} FineCliperConfig;

/* The divisor of the middle level's AIM set and the description tower's adapters. */
static inline int finecliper_mid_high_divisor(const FineCliperConfig *c) {
    return c->mid_high_bottleneck_divisor > 0 ? c->mid_high_bottleneck_divisor : c->bottleneck_divisor;
}

enum { FC_MID_PARSING = 1, FC_MID_LANDMARKS = 2 };
enum { FC_WEIGHTS_SOFTMAX = 0, FC_WEIGHTS_SUM = 1, FC_WEIGHTS_UNIFORM = 2, FC_WEIGHTS_FIXED = 3 };
enum { FC_LOSS_MODALITIES = 0, FC_LOSS_FUSED = 1, FC_LOSS_BOTH = 2 };
enum { FC_MOD_VIDEO = 0, FC_MOD_PARSING = 1, FC_MOD_LANDMARKS = 2, FC_MOD_TEXT = 3, FC_MODALITIES = 4 };

/* Per step: host inputs of B clips. Streams a variant does not use may be NULL. */
typedef struct FineCliperInputs {
    const void *frames;          /* [B*T,3,R,R] normalised reals (F64 model: doubles, else floats), or uint8 pixels
                                  * with cfg.input.uint8 (the low level) */
    const void *parsing;         /* [B*T,3,R,R] parsing maps (FC_MID_PARSING), as frames */
    const void *landmarks;       /* [B*T,3,R,R] landmark maps (FC_MID_LANDMARKS), as frames */
    const int32_t *descriptions; /* [B, desc context] token ids (high) */
} FineCliperInputs;

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
    /* middle level: one adapter set shared by the two streams, a projection each */
    int idx_mid_temb, idx_proj[FC_MODALITIES]; /* idx_proj: weight index per modality (-1: none) */
    AimBlockParams *mid, *mid_grad;
    /* high level */
    ClipModel *desc_clip; /* the description text tower (Long-CLIP or stretched CLIP), not owned */
    AdapterParams *desc, *desc_grad;
    int n_mod, mods[FC_MODALITIES]; /* the modalities of this variant, in order */
    /* activations, sized for `batch` clips on first use */
    int64_t batch;
    Arena acts, scratch;
    /* contrastive training: the scratch a step needs when the gathered batch is the rank's own
     * (G = batch); each further gathered row adds two [E] rows (ensure_gathered grows it) */
    size_t scratch_at_own_batch;
    AimActs aim, aim_mid[2]; /* frames; parsing, landmarks */
    TextTowerActs text_pos, text_neg, text_desc;
    Tensor feat[FC_MODALITIES];   /* [B,E] f_m (projected where a projection exists) */
    Tensor norm[FC_MODALITIES];   /* [B,E] n_m */
    Tensor score[FC_MODALITIES];  /* [B,C] s_m */
    Tensor mlogits[FC_MODALITIES], mloss[FC_MODALITIES], mdlogits[FC_MODALITIES]; /* [B,C], [B], [B,C] */
    Tensor weight[FC_MODALITIES]; /* [B] w[:,m] */
    float *weight_host;           /* [B, FC_MODALITIES] */
    /* contrastive training (zero-shot setting): captions through the positive text adapters */
    int idx_logit_scale;          /* log of the similarity scale, learnable (CLIP: ln 100 cap) */
    int64_t global;               /* G: rows of the gathered buffers */
    TextTowerActs text_cap;
    Tensor cap_v, cap_t;          /* [B,E] this rank's normalised video and caption features */
    Tensor all_v, all_t;          /* [G,E] gathered over the group (the trainer fills them) */
    Arena gathered;               /* holds the [G,...] tensors below */
    Tensor sim, dsim, sim_t, dsim_t, closs, scale_rows, arange; /* [G,G] x4, [G], [G], I32 [G] */
    int hold_weights;             /* tests: keep the last step's weights (the loss as a function of the
                                   * parameters at constant weights, which is what the gradient is) */
    Tensor tpn, tnn;              /* [C,E] normalised class texts */
    Tensor fused, fused_norm, logits, loss, dlogits, labels; /* [B,E] x2, [B,C], [B], [B,C], I32 [B] */
} FineCliper;

/* Declares and initialises the trainable parameters (seeded), keeps the prompt
 * ids (host [C, context] each; neg_ids may be NULL when use_negative is 0).
 * desc_clip: the description tower (required with cfg->high, else NULL). */
int finecliper_create(Ops *ops, ClipModel *clip, ClipModel *desc_clip, const FineCliperConfig *cfg,
                      const int32_t *pos_ids, const int32_t *neg_ids, uint64_t seed, FineCliper *m, Err *err);
void finecliper_free(FineCliper *m);
/* Allocates the activations and scratch of steps of `batch` clips now (the first step would). */
void finecliper_reserve(FineCliper *m, int batch);
/* The ViT streams' recompute level (Recompute) for the next allocation of activations (before the first
 * step, or followed by a reserve). */
void finecliper_set_recompute(FineCliper *m, int recompute);
/* Forward-only activations (FineCliperConfig.forward_only) from the next allocation on. */
void finecliper_set_forward_only(FineCliper *m, int forward_only);

/* One forward (and, with train != 0, backward) pass on B clips; labels [B]
 * (may be NULL when !train). logits_host [B,C] (model dtype: the fused
 * prediction) is filled when non-NULL. Parameter gradients accumulate (scaled by
 * grad_scale, e.g. 1/global batch). Returns the summed loss over the B clips
 * (0 when labels is NULL). */
double finecliper_step(FineCliper *m, const FineCliperInputs *in, const int32_t *labels, int batch, int train,
                       float grad_scale, void *logits_host);
/* Contrastive training (the zero-shot setting), in two halves around the
 * all-gather of the global batch of G clips over the ranks:
 *   forward: frames [B*T,3,R,R] and caption ids [B, context] of this rank's B
 *            clips -> m->cap_v, m->cap_t [B,E] (normalised); sizes m->all_v,
 *            m->all_t [G,E] for the gather;
 *   backward: with all_v/all_t gathered (this rank's rows at `offset`), the
 *            symmetric InfoNCE loss over the G x G similarities scaled by
 *            min(exp(logit_scale), 100), averaged over G (grad_scale 1/G), and
 *            with train != 0 the gradients of this rank's rows into its towers
 *            (every rank computes the same loss; the logit scale's gradient is
 *            divided by `world` so the group's sum counts it once).
 * Returns the summed loss over the G rows (identical on every rank). */
void finecliper_contrastive_forward(FineCliper *m, const void *frames, const int32_t *caption_ids, int batch,
                                    int global);
double finecliper_contrastive_backward(FineCliper *m, int offset, int train, float grad_scale, int world);
/* The modality weights w[b, m] of the last step (host [B, FC_MODALITIES]; 0 for absent modalities). */
const float *finecliper_last_weights(const FineCliper *m);
/* "low", "low+mid", "mid", ... from the configuration. */
const char *finecliper_variant_name(const FineCliperConfig *cfg);

#endif
