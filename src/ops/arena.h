/* A bump allocator for activations on the ops context's device. A model runs
 * its forward pass once against a measuring arena (no memory) to learn the
 * peak, then against a real one; reset() between steps reuses the block.
 * This is also where a memory cap is enforced: an arena never grows. */
#ifndef DFER_OPS_ARENA_H
#define DFER_OPS_ARENA_H

#include "ops/ops.h"

typedef struct Arena {
    Ops *ops;
    char *base;      /* NULL while measuring */
    size_t capacity; /* bytes */
    size_t used, peak;
    DType dtype;     /* default dtype of arena_tensor (F32, BF16 in the mixed-precision model, F64 for checks) */
} Arena;

void arena_init_measuring(Arena *a, Ops *ops, DType dtype);
/* Allocates `bytes` on the device; fatal if the device has no room. */
void arena_init(Arena *a, Ops *ops, size_t bytes, DType dtype);
void arena_free(Arena *a);
void arena_reset(Arena *a);
/* Bytes still free. */
size_t arena_available(const Arena *a);
/* A tensor of the arena's dtype (64-byte aligned); data is NULL while measuring.
 * Fatal with the tensor's name when the arena is full. */
Tensor arena_tensor(Arena *a, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
Tensor arena_tensor_typed(Arena *a, const char *name, DType dtype, int ndim, int64_t d0, int64_t d1, int64_t d2,
                          int64_t d3);
/* A tensor shaped and typed like `like`, named `name`, from the arena. */
Tensor arena_tensor_like(Arena *a, const char *name, Tensor like);
/* The description of a tensor without memory (name, dtype, shape; data NULL): an activation that lives in
 * another arena (scratch) only while it is needed, allocated there with arena_tensor_like. */
Tensor arena_shape_only(const char *name, DType dtype, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* The dtype of statistics, losses and a model's small head tensors: F32 beside a
 * BF16 arena (the mixed-precision contract of ops.h), otherwise the arena's own. */
DType arena_wide_dtype(const Arena *a);
/* A 1-d tensor of n values in arena_wide_dtype (layer-norm mean/rstd). */
Tensor arena_stats(Arena *a, const char *name, int64_t n);

#endif
