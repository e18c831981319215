/* A CLIP checkpoint from a DFER-CLIP run: the run's fine-tuned image encoder in
 * place of its base CLIP's vision tower, the text tower unchanged, Hugging Face
 * names. Training DFER-CLIP on one (synthetic) dataset and exporting gives a
 * backbone whose frozen features carry expressions, for FineCLIPER elsewhere. */
#ifndef DFER_TRAIN_EXPORT_H
#define DFER_TRAIN_EXPORT_H

#include "core/check.h"
#include "core/tensor.h"

/* run_dir holds config.ini and model.safetensors (or best_model.safetensors with
 * use_best). Writes out_path atomically, each tensor in the base CLIP's dtype (the
 * run's F32 encoder rounded once to it: an F16 CLIP stays one of its size) or, with
 * dtype, every floating tensor in *dtype. */
int export_clip_from_run(const char *run_dir, int use_best, const DType *dtype, const char *out_path, Err *err);

#endif
