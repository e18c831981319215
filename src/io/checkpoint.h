/* Any supported checkpoint file or directory to a TensorMap: safetensors
 * (single or sharded through model.safetensors.index.json), PyTorch zips and
 * TorchScript zips. Detected by content, not by file name. */
#ifndef DFER_IO_CHECKPOINT_H
#define DFER_IO_CHECKPOINT_H

#include "io/tensormap.h"

int ckpt_load(const char *path, TensorMap *out, Err *err);
/* The file ckpt_load reads for path: path itself, or in a directory the first of model.safetensors.index.json,
 * model.safetensors, open_clip_model.safetensors, pytorch_model.bin, open_clip_pytorch_model.bin, else its only
 * .pt or .safetensors file (several: an error). */
int ckpt_resolve(const char *path, char *file, size_t n, Err *err);

#endif
