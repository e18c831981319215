/* The CLIP text encoder for training: frozen blocks, an optional Houlsby
 * adapter (with skip) after each block, backward to the adapters and,
 * optionally, to the input embeddings (DFER-CLIP's learnable contexts).
 *
 * Shapes: N prompts, L tokens (cut at the longest first-EOT + 1: exact under the
 * causal mask), T text width, E embedding.
 *   x0 [N,L,T] = tok_emb[ids] + pos[:L]   (or written by the caller)
 *   per block l: x = block_l(x); x = x + adapter_l(x)
 *   feat [N,E] = proj(ln_final(x[n, eot_n]))                                   */
#ifndef DFER_MODEL_TEXT_TOWER_H
#define DFER_MODEL_TEXT_TOWER_H

#include "model/layers.h"

typedef struct TextTowerActs {
    int64_t n, len;
    Tensor ids;        /* I32 [N*L] */
    Tensor eot_rows;   /* I32 [N]: row index n*L + eot_n */
    Tensor x;          /* [N,L,T] running residual stream; x0 on entry to forward */
    BlockActs *blocks; /* per layer */
    Tensor *block_out; /* per layer [N,L,T]: adapter inputs (when adapters) */
    Tensor pooled, ln_mean, ln_rstd, ln_out; /* [N,T], [N], [N], [N,T] */
    Tensor feat;       /* [N,E] */
    int forward_only;  /* the blocks (and adapter inputs) share one set; text_tower_backward refuses them */
} TextTowerActs;

/* The sequence length to run for these ids ([N, context] rows): the longest first EOT + 1. */
int text_tower_length(const int32_t *ids, int n, int context);

/* adapter_bottleneck 0: no adapters. forward_only: no backward will run (evaluation): every block runs on one
 * shared set, as the next one overwrites it. */
void text_tower_acts_alloc(Arena *a, TextTowerActs *acts, const ClipModel *clip, int64_t n, int64_t len,
                           int64_t adapter_bottleneck, int forward_only);
void text_tower_acts_free(TextTowerActs *acts);
/* Uploads ids (host [N, context], cut to acts->len) and the EOT rows, and writes
 * x0 = tok_emb[ids] + pos. With ctx (data non-NULL): the token embeddings at rows
 * ctx_rows (I32, indices into the [N*L] rows) are replaced by ctx [rows, T] before
 * the positions are added (learnable prompt contexts). */
void text_tower_embed(Ops *ops, const ClipModel *clip, TextTowerActs *acts, const int32_t *ids_host, int context,
                      Tensor ctx, Tensor ctx_rows);
/* Runs the blocks from acts->x (x0) to acts->feat. adapters: per-layer array or NULL. */
void text_tower_forward(Ops *ops, const ClipModel *clip, const AdapterParams *adapters, TextTowerActs *acts,
                        Arena *scratch);
/* dfeat [N,E] -> adapter gradients (accumulated into adapter_grads) and, when dx0.data,
 * the gradient w.r.t. x0 [N,L,T] (overwritten). */
void text_tower_backward(Ops *ops, const ClipModel *clip, const AdapterParams *adapters,
                         const AdapterParams *adapter_grads, const TextTowerActs *acts, Tensor dfeat, Tensor dx0,
                         Arena *scratch);

#endif
