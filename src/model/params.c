#include "model/params.h"

#include <stdlib.h>
#include <string.h>

void paramset_init(ParamSet *ps, Ops *ops, DType dtype) {
    memset(ps, 0, sizeof *ps);
    ps->ops = ops;
    ps->dtype = dtype;
}

void paramset_free(ParamSet *ps) {
    for (int i = 0; i < ps->count; i++) free(ps->items[i].name);
    free(ps->items);
    if (ps->values) ops_free(ps->ops, ps->values);
    if (ps->grads) ops_free(ps->ops, ps->grads);
    memset(ps, 0, sizeof *ps);
}

int paramset_add(ParamSet *ps, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int group) {
    CHECK(!ps->finalized, "paramset_add(%s) after finalize", name);
    CHECK(paramset_find(ps, name) < 0, "parameter %s declared twice", name);
    if (ps->count == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 32;
        ps->items = xrealloc(ps->items, (size_t)ps->cap * sizeof *ps->items);
    }
    ParamEntry *e = &ps->items[ps->count];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->ndim = ndim;
    int64_t dims[3] = {d0, d1, d2};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (e->shape[i] = dims[i]);
    e->group = group;
    e->offset = ps->numel;
    ps->numel += (size_t)n;
    return ps->count++;
}

static Tensor view_at(const ParamSet *ps, void *base, const ParamEntry *e) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = (char *)base + e->offset * dtype_size(ps->dtype);
    t.dtype = ps->dtype;
    t.ndim = e->ndim;
    for (int i = 0; i < e->ndim; i++) t.shape[i] = e->shape[i];
    t.name = e->name;
    return t;
}

void paramset_finalize(ParamSet *ps) {
    size_t bytes = (ps->numel ? ps->numel : 1) * dtype_size(ps->dtype);
    ps->values = ops_alloc(ps->ops, bytes);
    ps->grads = ops_alloc(ps->ops, bytes);
    Tensor all = tensor_make(ps->values, ps->dtype, 1, (int64_t)(ps->numel ? ps->numel : 1));
    ops_zero(ps->ops, all);
    all.data = ps->grads;
    ops_zero(ps->ops, all);
    for (int i = 0; i < ps->count; i++) {
        ps->items[i].value = view_at(ps, ps->values, &ps->items[i]);
        ps->items[i].grad = view_at(ps, ps->grads, &ps->items[i]);
    }
    ps->finalized = 1;
}

const ParamEntry *paramset_get(const ParamSet *ps, int index) {
    CHECK(index >= 0 && index < ps->count, "parameter index %d out of range", index);
    return &ps->items[index];
}

int paramset_find(const ParamSet *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (!strcmp(ps->items[i].name, name)) return i;
    return -1;
}

void paramset_zero_grads(ParamSet *ps) {
    CHECK(ps->grads, "the parameter gradients were released (a model set up for evaluation only)");
    if (!ps->numel) return;
    ops_zero(ps->ops, tensor_make(ps->grads, ps->dtype, 1, (int64_t)ps->numel));
}

void paramset_release_grads(ParamSet *ps) {
    CHECK(ps->finalized, "paramset_release_grads before finalize");
    if (!ps->grads) return;
    ops_free(ps->ops, ps->grads);
    ps->grads = NULL;
    for (int i = 0; i < ps->count; i++) ps->items[i].grad.data = NULL;
}

size_t paramset_device_bytes(const ParamSet *ps) {
    size_t bytes = (ps->numel ? ps->numel : 1) * dtype_size(ps->dtype), units = (bytes + 255) / 256 * 256;
    return (ps->grads ? 2 : 1) * units;
}

size_t paramset_group_numel(const ParamSet *ps, int group) {
    size_t n = 0;
    for (int i = 0; i < ps->count; i++)
        if (group < 0 || ps->items[i].group == group) n += (size_t)tensor_numel(&ps->items[i].value);
    return n;
}

void paramset_upload_f64(ParamSet *ps, int index, const double *values) {
    ops_upload_f64(ps->ops, paramset_get(ps, index)->value, values);
}

void paramset_download_f64(const ParamSet *ps, int index, int grad, double *out) {
    const ParamEntry *e = paramset_get(ps, index);
    CHECK(!grad || ps->grads, "%s: the parameter gradients were released (a model set up for evaluation only)",
          e->name);
    ops_download_f64(ps->ops, out, grad ? e->grad : e->value);
}

DType paramset_dtype_for(DType weights) { return weights == DT_BF16 ? DT_F32 : weights; }
