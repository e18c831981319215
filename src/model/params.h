/* Trainable parameters of a model: one flat buffer of values and one of
 * gradients, so that the gradient all-reduce is a single call and the
 * optimiser runs over one array. Models declare their tensors (name, shape,
 * learning-rate group), finalize, then take views.
 *   paramset_add(ps, "visual.adapter.3.fc1.weight", 2, R, W, 0, GROUP_ADAPTERS)
 * Order of declaration = order in the buffers = order in checkpoints. */
#ifndef DFER_MODEL_PARAMS_H
#define DFER_MODEL_PARAMS_H

#include "core/tensor.h"
#include "ops/ops.h"

typedef struct ParamEntry {
    char *name;
    int ndim;
    int64_t shape[4];
    int group;       /* learning-rate group index, model-defined */
    size_t offset;   /* elements from the start of the flat buffers */
    Tensor value, grad;
} ParamEntry;

typedef struct ParamSet {
    Ops *ops;
    DType dtype;
    ParamEntry *items;
    int count, cap;
    size_t numel;
    void *values, *grads; /* device buffers, numel elements each */
    int finalized;
} ParamSet;

void paramset_init(ParamSet *ps, Ops *ops, DType dtype);
/* The dtype of trainable parameters beside frozen weights of `weights` dtype: F32
 * for BF16 weights (fp32 masters, gradients and optimiser state; ops.h), else the same. */
DType paramset_dtype_for(DType weights);
void paramset_free(ParamSet *ps);
/* Declares a tensor; returns its index. */
int paramset_add(ParamSet *ps, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int group);
/* Allocates both buffers (values zeroed, gradients zeroed) and sets the views. */
void paramset_finalize(ParamSet *ps);
const ParamEntry *paramset_get(const ParamSet *ps, int index);
int paramset_find(const ParamSet *ps, const char *name); /* -1 if absent */
void paramset_zero_grads(ParamSet *ps);
/* Frees the gradient buffer for good (a model that will only run forward: evaluation, prediction); the
 * entries' grad views become empty and zeroing or any later use of the gradients is refused. The
 * models keep copies of the views, so the buffer cannot come back at another address: no way back. */
void paramset_release_grads(ParamSet *ps);
/* Device bytes the set holds: the values and, unless released, the gradients (each buffer in ops_alloc's
 * 256-byte units). */
size_t paramset_device_bytes(const ParamSet *ps);
/* Number of elements in a learning-rate group (-1: all). */
size_t paramset_group_numel(const ParamSet *ps, int group);
/* Host <-> device copies of one tensor's values, as double (whatever the dtype). */
void paramset_upload_f64(ParamSet *ps, int index, const double *values);
void paramset_download_f64(const ParamSet *ps, int index, int grad, double *out);

#endif
