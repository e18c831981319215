/* A tiny random CLIP built directly in memory (no checkpoint), in F64, for
 * whole-model gradient checks: image 8, patch 4 (5 tokens), widths 8 (E 6),
 * 2 heads, 2+2 layers, vocabulary 60, context 12. */
#ifndef DFER_TEST_TINY_CLIP_H
#define DFER_TEST_TINY_CLIP_H

#include "model/clip.h"
#include "model/finecliper.h"

void tiny_clip_build(Ops *ops, ClipModel *m, uint64_t seed);
/* The same with `vision_layers` vision blocks (tiny_clip_build: 2). */
void tiny_clip_build_deep(Ops *ops, ClipModel *m, uint64_t seed, int vision_layers);
/* Frees what tiny_clip_build allocated (its weights, then clip_model_free). */
void tiny_clip_free(ClipModel *m);
/* A random F64 tensor (scale * N(0,1) + offset), malloc'ed. */
Tensor tiny_random(int ndim, int64_t d0, int64_t d1, int64_t d2, double scale, double offset);
/* Prompt rows [classes, 12]: a start id 50, a few ids, the row's maximum 59 (its "EOT"), zeros.
 * When placeholders > 0, positions 1..placeholders hold id 40 (DFER-CLIP contexts). */
void tiny_prompts(int32_t *ids, int classes, int shift, int placeholders);
/* FineCLIPER on the tiny CLIP without a description tower: cfg as the caller set it (finecliper_config_default, then
 * frames, classes and the rest; at most 16 classes), positive and negative prompts tiny_prompts' rows shifted 0 and
 * 1, seed 5. Fatal when it cannot be built. */
void tiny_finecliper(Ops *ops, ClipModel *clip, const FineCliperConfig *cfg, FineCliper *m);
/* Every parameter value of `from` into `to`: two models built alike (the same tensors in order; fatal when the
 * counts differ). */
void tiny_copy_values(const ParamSet *from, ParamSet *to);
/* How many gradient entries of `m` differ from those of `ref` (0: bitwise equal), the same tensors in order;
 * *first (may be NULL): the name of the first tensor that differs; *largest (may be NULL): raised to the largest
 * |gradient| of ref. */
int64_t tiny_grads_differ(const ParamSet *ref, const ParamSet *m, const char **first, double *largest);
/* The bytes an arena allocation of `bytes` takes (ops/arena.h: 64-byte aligned). */
static inline size_t tiny_arena_bytes(size_t bytes) { return (bytes + 63) / 64 * 64; }

#endif

#include "model/params.h"

/* Compares every trainable gradient held in ps (computed by the caller for the
 * current values, as d loss / d param) with central finite differences of
 * loss(ctx), at up to `per_tensor` entries of each tensor. Returns the worst
 * relative error (|num - ana| / max(1e-3, |num|)) and names its tensor. */
double params_gradcheck(ParamSet *ps, double (*loss)(void *ctx), void *ctx, int per_tensor, const char **worst_name,
                        int *checked);
/* Overwrites every trainable tensor with scale * N(0,1). */
void params_randomise(ParamSet *ps, double scale);
