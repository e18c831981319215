/* Trainable building blocks shared by every model: the attention and MLP
 * sublayers of a pre-LN transformer block, bottleneck adapters, and the whole
 * CLIP block, each with a forward that keeps what backward needs and a
 * backward that computes input gradients always and parameter gradients only
 * where the gradient tensor has data (frozen weights get no weight GEMM).
 *
 * Shapes: x [B,S,X] (B sequences of S tokens, width X); heads H; Dh = X/H. */
#ifndef DFER_MODEL_LAYERS_H
#define DFER_MODEL_LAYERS_H

#include "model/clip.h"
#include "ops/arena.h"

/* ---- how a vision tower's host images arrive ---------------------------------- */
/* Zero (the default): normalised reals [N,3,R,R] (doubles for an F64 model, floats
 * otherwise), uploaded with ops_upload_reals. uint8: raw pixels, bytes [N,3,R,R] as
 * the loader writes them with LoaderConfig.uint8 (a quarter of the bytes to copy),
 * uploaded into a U8 staging tensor and normalised on the device by
 * op_normalize_images with mean/std: the same values the loader's float path gives
 * (bitwise for F32). The owner sets it in the model's configuration. */
typedef struct ImageInput {
    int uint8;
    float mean[3], std[3]; /* per channel; raw [0,1] pixels: 0 and 1 */
} ImageInput;

/* Puts host images [N,3,R,R] (see ImageInput; in NULL = normalised reals) into the
 * tower's images tensor, through staging (U8 [N,3,R,R], allocated with the
 * activations when in->uint8) for raw pixels. Raw pixels already in device memory
 * (ops_is_device_memory: a prefetched batch) are normalised where they lie. */
void images_upload(Ops *ops, const ImageInput *in, Tensor staging, Tensor images, const void *host);

/* ---- attention sublayer: y = out_proj(MHA(ln_1(x))) -------------------------- */
/* What the sublayers keep for their backward. The input gradient needs the layer-norm input and
 * statistics, qkv and the attention's saved state, and the MLP's pre-activation; ln_out, the heads'
 * output and the MLP's activation output are the inputs of weight GEMMs, needed only when those
 * weights are trained. Sublayers of frozen weights (FineCLIPER's CLIP, every text tower) keep
 * them in scratch during the forward only: about a third of a frozen ViT block's activations. */
typedef struct AttnActs {
    Tensor ln_mean, ln_rstd; /* [B*S] */
    Tensor ln_out;           /* [B,S,X] (data NULL when transient) */
    Tensor qkv;              /* [B,S,3X] */
    Tensor probs;            /* backend-specific saved attention state */
    Tensor att;              /* [B,S,X] heads concatenated, before out_proj (data NULL when transient) */
    int transient;           /* ln_out and att live in scratch during the forward */
    int transient_qkv;       /* qkv too (SUBLAYER_RECOMPUTE_WIDE): the backward computes it again */
} AttnActs;

/* What a sublayer keeps, the `keep` flags of attn_acts_alloc, mlp_acts_alloc and block_acts_alloc (0: only what
 * the input gradient needs). */
enum {
    /* the inputs of the weight GEMMs (ln_out, the heads' output, the MLP's activation): the weights are trained */
    SUBLAYER_KEEP_WEIGHT_INPUTS = 1,
    /* the wide tensor, qkv [B,S,3X] or fc1's output [B,S,hidden], not kept: the backward computes it again from
     * the sublayer's input (its layer norm, then the GEMM; the same ops on the same values: bitwise the forward's
     * on the CPU, on CUDA the same cuBLASLt plan where the buffers' alignments match, as at CLIP's widths), for 3
     * (4) [B,S,X] less a sublayer at one GEMM more (train.recompute = qkv, qkv-fc1) */
    SUBLAYER_RECOMPUTE_WIDE = 2,
};

/* How much of a ViT's block activations the backward computes again rather than keeps (train.recompute), in
 * the order of the memory they keep; every level gives the same values (bitwise on the CPU). A plain CLIP block
 * whose weights are trained (DFER-CLIP's image encoder) keeps 16 [B,S,W]-sized tensors at none (x_in, x_mid, two
 * layer-norm outputs, qkv of 3, the heads' output, fc1's output and its activation of 4 each), 13 at qkv and 9
 * at qkv-fc1; FineCLIPER's AIM blocks: aim_vision.h. */
typedef enum Recompute {
    RECOMPUTE_NONE = 0,
    RECOMPUTE_QKV,     /* the attentions' qkv computed again in the backward: +3 W^2 multiply-adds a token each */
    RECOMPUTE_QKV_FC1, /* and the MLP's fc1 output: +4 W^2 more */
    RECOMPUTE_BLOCKS,  /* each block's input only (one shared set of the rest): the whole block's forward again */
} Recompute;
#define RECOMPUTE_LEVELS 4
/* "none", "qkv", "qkv-fc1", "blocks" (train.recompute's values); recompute_parse: -1 for another name. */
const char *recompute_name(int level);
int recompute_parse(const char *name);
/* "no recompute", "qkv recompute", ...: the level in a sentence (plan and log lines). */
const char *recompute_phrase(int level);
/* The SUBLAYER_RECOMPUTE_WIDE flag a level gives an attention sublayer (mlp 0) or an MLP sublayer (mlp 1) whose
 * block keeps its activations (at RECOMPUTE_BLOCKS the one shared set is whole: 0). */
int recompute_sublayer_flag(int level, int mlp);

/* keep: SUBLAYER_* flags. */
void attn_acts_alloc(Arena *a, AttnActs *acts, int64_t batch, int64_t seq, int64_t width, int heads, int keep);
/* p: ln1_g/b, qkv_w/b, out_w/b of a ClipLayer. y is overwritten. Transient tensors come from
 * scratch (restored on return). */
void attn_forward(Ops *ops, const ClipLayer *p, AttnActs *acts, Tensor x, Tensor y, int heads, int causal,
                  Arena *scratch);
/* dx (= or += with accumulate) from dy; parameter grads into g (ClipLayer of gradient tensors, data NULL = frozen).
 * Temporaries come from scratch (restored on return). */
void attn_backward(Ops *ops, const ClipLayer *p, const ClipLayer *g, const AttnActs *acts, Tensor x, Tensor dy,
                   Tensor dx, int accumulate, int heads, int causal, Arena *scratch);

/* ---- MLP sublayer: y = fc2(act(fc1(ln_2(x)))) --------------------------------------- */
typedef struct MlpActs {
    Tensor ln_mean, ln_rstd, ln_out; /* [B*S], [B*S], [B,S,X] (ln_out data NULL when transient) */
    Tensor pre;                      /* [B,S,4X] fc1 output */
    Tensor act;                      /* [B,S,4X] after the activation (data NULL when transient) */
    /* ln_out and act in scratch during the forward (both when the weights are frozen; a caller that reads
     * ln_out after the forward passes a copy of the struct with ln_out in its own scratch: AIM's MLP adapter) */
    int transient_ln_out, transient_act;
    int transient_pre;               /* pre too (SUBLAYER_RECOMPUTE_WIDE): the backward computes it again */
} MlpActs;

/* hidden: the MLP's inner width (4X for CLIP; DFER-CLIP's temporal block uses 2X). keep: SUBLAYER_* flags. */
void mlp_acts_alloc(Arena *a, MlpActs *acts, int64_t batch, int64_t seq, int64_t width, int64_t hidden, int keep);
void mlp_forward(Ops *ops, const ClipLayer *p, MlpActs *acts, Tensor x, Tensor y, Activation act, Arena *scratch);
/* extra_dln (data may be NULL): a further gradient w.r.t. ln_2(x) from another consumer of
 * the normalised input (AIM's MLP adapter), added before the layer-norm backward. */
void mlp_backward(Ops *ops, const ClipLayer *p, const ClipLayer *g, const MlpActs *acts, Tensor x, Tensor dy,
                  Tensor dx, int accumulate, Activation act, Tensor extra_dln, Arena *scratch);

/* ---- bottleneck adapter: [x +] scale * fc2(gelu_erf(fc1(x))), one op (op_adapter) --------------
 * Nothing of its own is kept for the backward: op_adapter_backward computes fc1 and the GELU again from the
 * adapter's input, which the caller keeps. fc2 is zero-initialised: the adapter starts as identity or zero. */
typedef AdapterWeights AdapterParams;
/* op_adapter and its backward with their scratch taken from the arena for the call (restored after). */
void adapter_forward(Ops *ops, const AdapterParams *p, Tensor x, Tensor out, Tensor res, AdapterForm form,
                     Arena *scratch);
void adapter_backward(Ops *ops, const AdapterParams *p, const AdapterParams *g, Tensor x, Tensor dout, Tensor dx,
                      AdapterForm form, int accumulate, Arena *scratch);

/* ---- the plain CLIP block: x1 = x + attn(x); out = x1 + mlp(x1) ---------------------------
 * Any bias tensor with data NULL is absent (DFER-CLIP's to_qkv has none). */
typedef struct BlockActs {
    Tensor x_in; /* [B,S,X] copy of the block input */
    Tensor x_mid; /* [B,S,X] after the attention residual */
    AttnActs attn;
    MlpActs mlp;
} BlockActs;

/* keep: SUBLAYER_KEEP_WEIGHT_INPUTS or 0, for both sublayers; recompute: the wide tensors its level leaves to the
 * backward (recompute_sublayer_flag; RECOMPUTE_BLOCKS, which the owner of the blocks arranges, keeps them). */
void block_acts_alloc(Arena *a, BlockActs *acts, int64_t batch, int64_t seq, int64_t width, int64_t hidden, int heads,
                      int keep, int recompute);
/* In place on x [B,S,X]. */
void block_forward(Ops *ops, const ClipLayer *p, BlockActs *acts, Tensor x, int heads, int causal, Activation act,
                   Arena *scratch);
/* dx [B,S,X] is the gradient of the block output on entry and of its input on return (in place). */
void block_backward(Ops *ops, const ClipLayer *p, const ClipLayer *g, const BlockActs *acts, Tensor dx, int heads,
                    int causal, Activation act, Arena *scratch);

/* The scratch a model's training step takes, measured: *ops is swapped for a counting context
 * (every op a no-op) and *scratch for a measuring arena while run(ctx) runs one step of the
 * model that holds them, then *ops is restored. The same code with the same shapes, so the peak
 * is what the real step takes; returned with a page to spare. */
size_t scratch_measure(Ops **ops, Arena *scratch, DType act, void (*run)(void *ctx), void *ctx);
/* Sum of a device tensor's values (F32 or F64), on the host: per-sample losses. */
double tensor_download_sum(Ops *ops, Tensor t);
/* A ClipLayer whose tensors all have data NULL: "every weight frozen". */
ClipLayer clip_layer_frozen(void);

#endif
