/* PyTorch .pt checkpoints: torch.save(state_dict) zips (Long-CLIP) and
 * TorchScript zips (OpenAI's ViT-B-16.pt, ...). The zip is read with libzip;
 * data.pkl is interpreted by io/pickle.c; tensors are rebuilt from their
 * storages with offsets, sizes and strides honoured (non-contiguous views are
 * made contiguous). TorchScript module trees give state-dict names by joining
 * attribute names with '.'. */
#ifndef DFER_IO_TORCH_PT_H
#define DFER_IO_TORCH_PT_H

#include "io/tensormap.h"

int torch_pt_read(const char *path, TensorMap *out, Err *err);
/* The same from a zip image in memory (fuzzing, tests). */
int torch_pt_read_memory(const uint8_t *data, size_t size, const char *label, TensorMap *out, Err *err);

#endif
