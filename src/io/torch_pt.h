/* PyTorch .pt checkpoints: torch.save(state_dict) zips (Long-CLIP) and
 * TorchScript zips (OpenAI's ViT-B-16.pt, ...). The zip is read with libzip;
 * data.pkl is interpreted by io/pickle.c; tensors are rebuilt from their
 * storages with offsets, sizes and strides honoured (non-contiguous views are
 * made contiguous). TorchScript module trees give state-dict names by joining
 * attribute names with '.'. */
#ifndef DFER_IO_TORCH_PT_H
#define DFER_IO_TORCH_PT_H

#include "io/pickle.h"
#include "io/tensormap.h"

int torch_pt_read(const char *path, TensorMap *out, Err *err);
/* The same from a zip image in memory (fuzzing, tests). */
int torch_pt_read_memory(const uint8_t *data, size_t size, const char *label, TensorMap *out, Err *err);

/* Whether a pickled view t (offset, sizes and strides in elements, all >= 0) fits a storage of storage_elems
 * elements: TORCH_VIEW_FITS with its element count in *numel and the highest element it touches in *last, or which
 * bound it passes (*dim: the dimension at fault). No arithmetic wraps, whatever the pickle says. */
enum { TORCH_VIEW_FITS, TORCH_VIEW_STARTS_BEYOND, TORCH_VIEW_DIM_BEYOND, TORCH_VIEW_EXPANDED, TORCH_VIEW_ENDS_BEYOND };
int torch_pt_view_extent(const PickleTensor *t, uint64_t storage_elems, uint64_t *numel, uint64_t *last, int *dim);

#endif
