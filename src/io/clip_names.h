/* The CLIP name layer: any supported naming (Hugging Face CLIPModel and its
 * text/vision sub-models, OpenAI state dicts and TorchScript files, open_clip,
 * Long-CLIP) to Hugging Face names, and back; architecture inference from
 * tensor shapes; shape checks. Facts: clip.md §1, §3, §7. */
#ifndef DFER_IO_CLIP_NAMES_H
#define DFER_IO_CLIP_NAMES_H

#include "io/tensormap.h"
#include "model/clip_config.h"

typedef enum { NAMES_HF = 0, NAMES_OPENAI = 1 } NamingScheme;

/* out_hf references in's memory (or owns transposed copies): free out_hf before in. */
int clip_names_to_hf(const TensorMap *in, TensorMap *out_hf, Err *err);
/* The same, also reporting which naming the input used (scheme_found may be NULL). */
int clip_names_to_hf_scheme(const TensorMap *in, TensorMap *out_hf, NamingScheme *scheme_found, Err *err);
/* HF -> OpenAI names: q/k/v joined into in_proj, the two projections transposed
 * back; the exact inverse of clip_names_to_hf on OpenAI input. */
int clip_names_hf_to_openai(const TensorMap *hf, TensorMap *out, Err *err);
int clip_infer_config(const TensorMap *hf, ClipConfig *cfg, Err *err);
/* Every tensor the architecture needs is present with its shape. */
int clip_check_shapes(const TensorMap *hf, const ClipConfig *cfg, Err *err);
/* ckpt_load + to_hf + infer + check, dtypes as stored. hf owns everything it needs. */
int clip_load_hf(const char *path, TensorMap *hf, ClipConfig *cfg, Err *err);
/* Same, also reporting the naming scheme the file used. */
int clip_load_hf_scheme(const char *path, TensorMap *hf, ClipConfig *cfg, NamingScheme *scheme, Err *err);

#endif
