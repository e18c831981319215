#include "ops/arena.h"

#include <string.h>

void arena_init_measuring(Arena *a, Ops *ops, DType dtype) {
    memset(a, 0, sizeof *a);
    a->ops = ops;
    a->dtype = dtype;
    a->capacity = SIZE_MAX;
}

void arena_init(Arena *a, Ops *ops, size_t bytes, DType dtype) {
    memset(a, 0, sizeof *a);
    a->ops = ops;
    a->dtype = dtype;
    a->capacity = bytes;
    a->base = ops_alloc(ops, bytes ? bytes : 64);
}

void arena_free(Arena *a) {
    if (a->base) ops_free(a->ops, a->base);
    a->base = NULL;
    a->capacity = a->used = 0;
}

void arena_reset(Arena *a) { a->used = 0; }

size_t arena_available(const Arena *a) { return a->capacity - a->used; }

Tensor arena_shape_only(const char *name, DType dtype, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.ndim = ndim;
    t.name = name;
    int64_t dims[4] = {d0, d1, d2, d3};
    for (int i = 0; i < ndim; i++) t.shape[i] = dims[i];
    return t;
}

Tensor arena_tensor_typed(Arena *a, const char *name, DType dtype, int ndim, int64_t d0, int64_t d1, int64_t d2,
                          int64_t d3) {
    Tensor t = arena_shape_only(name, dtype, ndim, d0, d1, d2, d3);
    size_t bytes = (tensor_bytes(&t) + 63) / 64 * 64;
    CHECK(bytes <= a->capacity - a->used, "activation arena full: %s needs %zu bytes, %zu of %zu left", name, bytes,
          a->capacity - a->used, a->capacity);
    t.data = a->base ? a->base + a->used : NULL;
    a->used += bytes;
    if (a->used > a->peak) a->peak = a->used;
    return t;
}

Tensor arena_tensor(Arena *a, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    return arena_tensor_typed(a, name, a->dtype, ndim, d0, d1, d2, d3);
}

Tensor arena_tensor_like(Arena *a, const char *name, Tensor like) {
    return arena_tensor_typed(a, name, like.dtype, like.ndim, like.shape[0], like.shape[1], like.shape[2],
                              like.shape[3]);
}

DType arena_wide_dtype(const Arena *a) { return a->dtype == DT_BF16 ? DT_F32 : a->dtype; }

Tensor arena_stats(Arena *a, const char *name, int64_t n) {
    return arena_tensor_typed(a, name, arena_wide_dtype(a), 1, n, 0, 0, 0);
}
