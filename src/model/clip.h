/* CLIP: the two towers of OpenAI's architecture, written once against the op
 * interface (src/ops/ops.h). Frozen weights live in one device allocation.
 *
 * Shapes (W vision width, T text width, E embedding, S tokens, X a tower's width):
 *   vision: images [B,3,R,R] -> patches [B*g*g, 3*P*P] -> x [B, g*g+1, W]
 *           -> L blocks -> ln_post(x[:,0]) [B,W] -> proj -> [B,E]
 *   text:   ids [B,S] -> tok_emb + pos [B,S,T] -> L causal blocks -> ln_final
 *           -> row at the first EOT [B,T] -> proj -> [B,E]
 * Block (pre-LN, both towers): x += out_proj(MHA(ln_1(x))); x += fc2(act(fc1(ln_2(x)))). */
#ifndef DFER_MODEL_CLIP_H
#define DFER_MODEL_CLIP_H

#include "core/tensor.h"
#include "model/clip_config.h"
#include "ops/ops.h"

struct TensorMap;

typedef struct ClipLayer {
    Tensor ln1_g, ln1_b;   /* [X] */
    Tensor qkv_w, qkv_b;   /* [3X, X], [3X]: rows q, then k, then v */
    Tensor out_w, out_b;   /* [X, X], [X] */
    Tensor ln2_g, ln2_b;   /* [X] */
    Tensor fc1_w, fc1_b;   /* [4X, X], [4X] */
    Tensor fc2_w, fc2_b;   /* [X, 4X], [X] */
} ClipLayer;

typedef struct ClipModel {
    ClipConfig cfg;
    Ops *ops;
    DType dtype;           /* of every tensor below */
    void *params;          /* one device allocation holding every tensor below */
    size_t param_count;
    /* vision */
    Tensor patch_w;        /* [W, 3*P*P] (conv1 weight flattened in (c, ky, kx) order) */
    Tensor class_emb;      /* [W] */
    Tensor vis_pos;        /* [g*g+1, W] */
    Tensor ln_pre_g, ln_pre_b, ln_post_g, ln_post_b; /* [W] */
    Tensor vis_proj;       /* [E, W] (Hugging Face layout: a linear weight) */
    ClipLayer *vis_layers;
    /* text */
    Tensor tok_emb;        /* [vocab, T] */
    Tensor txt_pos;        /* [context, T] */
    Tensor ln_final_g, ln_final_b; /* [T] */
    Tensor txt_proj;       /* [E, T] */
    ClipLayer *txt_layers;
    float logit_scale;     /* log of the similarity scale; exp() of it multiplies cosines */
    int logit_scale_read;  /* 0: the checkpoint has none; logit_scale is ln 100, CLIP's trained value */
    char **names;          /* owned strings the tensors' names point to */
    void *view_owned;      /* a view (clip_text_view_stretched): its own positional table; params not owned */
    int name_count, name_cap;
} ClipModel;

/* Builds the model from a Hugging Face-named tensor map (see io/clip_names.h)
 * on the ops context's device, in dtype F32 (or F64 for gradient checks and
 * tight parity tests on the CPU backend). Errors name the tensor. */
int clip_model_from_hf(Ops *ops, const struct TensorMap *hf, const ClipConfig *cfg, DType dtype, ClipModel *m,
                       Err *err);
/* Loads any supported checkpoint file or directory. On a counting context (ops_create_counting: the planner) only
 * the shapes matter: the tensors' bytes are neither read nor hashed (safetensors_check_digests). */
int clip_model_load(Ops *ops, const char *path, DType dtype, ClipModel *m, Err *err);
void clip_model_free(ClipModel *m);

/* A text tower for long descriptions from a plain CLIP, as Long-CLIP initialised
 * its 248 positions (clip.md §7.4): view shares every weight of src but owns a
 * stretched positional table [4L-60, T] (L = src's context, 77 -> 248): the first
 * 20 rows kept, each later row interpolated into 4, the last extrapolated.
 * Free the view with clip_model_free (it frees only what the view owns). */
int clip_text_view_stretched(const ClipModel *src, ClipModel *view, Err *err);

/* images: host [B,3,R,R] normalised floats; out: host [B,E] (not normalised). */
void clip_encode_images(ClipModel *m, const float *images, int batch, float *out);
/* ids: host [B, context] token ids (SOT ... EOT, zero padded); out: host [B,E]. */
void clip_encode_texts(ClipModel *m, const int32_t *ids, int batch, float *out);

/* One pre-LN residual block, in place on x [B,S,X] (device). scratch must hold
 * clip_block_scratch_floats(B,S,X) floats. */
size_t clip_block_scratch_floats(int64_t batch, int64_t seq, int64_t width);
void clip_block_forward(Ops *ops, const ClipLayer *layer, Tensor x, int heads, int causal, Activation act,
                        float *scratch);

/* Position of the first end-of-text token (the largest id, 49407) in a row. */
int clip_eot_position(const int32_t *ids, int context);

#endif
