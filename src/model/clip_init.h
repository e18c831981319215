/* A randomly initialised CLIP in Hugging Face names, as OpenAI initialises it
 * (clip/model.py initialize_parameters), for tests, benchmarks and the demo. */
#ifndef DFER_MODEL_CLIP_INIT_H
#define DFER_MODEL_CLIP_INIT_H

#include "io/tensormap.h"
#include "model/clip_config.h"

/* F32 tensors; every tensor's values come from an RNG stream keyed by (seed, tensor name). */
int clip_init_random(const ClipConfig *cfg, uint64_t seed, TensorMap *hf_out, Err *err);
/* The same tensors with shapes and no values (data NULL): architecture checks, planning. */
int clip_init_shapes(const ClipConfig *cfg, TensorMap *hf_out, Err *err);
/* Adds scale * N(0,1) to every bias and layer-norm parameter (OpenAI's init leaves
 * them 0/1, which would make parity tests blind to bias and norm handling).
 * Only F32 tensors whose buffers the map owns (clip_init_random's) are touched;
 * returns how many tensors were perturbed. Keyed by (seed, name): order-free. */
int clip_perturb_for_tests(TensorMap *hf, uint64_t seed, float scale);

#endif
