/* Any supported checkpoint file or directory to a TensorMap: safetensors
 * (single or sharded through model.safetensors.index.json), PyTorch zips and
 * TorchScript zips. Detected by content, not by file name. */
#ifndef DFER_IO_CHECKPOINT_H
#define DFER_IO_CHECKPOINT_H

#include "io/tensormap.h"

int ckpt_load(const char *path, TensorMap *out, Err *err);

#endif
