/* DFER-CLIP's temporal sampler (dfer.md §1.3), frame count and segments
 * configurable. Training: one random frame per segment (avg = N // S; frames
 * past S*avg are never sampled), clips shorter than S edge-padded; test: the
 * segment centres int(tick/2 + tick*i), tick = N/S, short clips edge-padded. */
#ifndef DFER_DATA_SAMPLER_H
#define DFER_DATA_SAMPLER_H

#include "core/rng.h"

/* out[segments]; rng is used only when train != 0. */
void sample_frame_indices(int frames, int segments, int train, Rng *rng, int *out);

#endif
