/* The clip loader: a pool of worker threads decodes, samples and augments
 * whole batches ahead of the trainer into a ring of buffers.
 *
 * Each step takes a global batch of G clips from the epoch's order (shuffled by
 * (seed, epoch) for training; dataset order for evaluation); rank r of W gets
 * its slot, clips [r*G/W, (r+1)*G/W) of it. What a clip looks like (frames
 * sampled, crop, flip, ...) depends only on (seed, epoch, clip index), never on
 * the rank or thread, so any sharding sees the same samples. A clip that
 * cannot be read is replaced by the next readable one in the epoch's order (the
 * same choice on every rank), counted and logged; past max_bad_fraction of the
 * clips seen the loader stops with an error. */
#ifndef DFER_DATA_LOADER_H
#define DFER_DATA_LOADER_H

#include <stdint.h>

#include "data/dataset.h"

typedef struct LoaderConfig {
    int global_batch;
    int rank, world;
    int frames;          /* temporal segments (16) */
    int size;            /* output side */
    int train;           /* shuffle, random sampling, augmentation, drop_last */
    uint64_t seed;
    int normalise_clip;  /* 1: CLIP mean/std; 0: raw [0,1] */
    int threads;         /* workers (>= 1) */
    int prefetch;        /* batches prepared ahead (>= 1) */
    float max_bad_fraction;
    int f64;             /* write F64 instead of F32 (parity runs) */
    int uint8;           /* write the augmented pixels as uint8 [0,255] (normalise_clip and f64 ignored): a
                          * quarter of the bytes, for a device that normalises on arrival */
    const char *augment_preset; /* dataset name for the training pipeline; NULL = the dataset's kind */
    float crop_min_area;        /* > 0: overrides the preset's smallest random-crop area fraction */
} LoaderConfig;

typedef struct Batch {
    int n;               /* clips of this rank in this step (may be 0 at the end of an evaluation) */
    void *frames;        /* [n, T, 3, size, size]: F32, F64, or uint8 with LoaderConfig.uint8 */
    int32_t *labels;     /* [n] */
    int32_t *indices;    /* [n] dataset indices actually used (after replacements) */
    int step, epoch;
} Batch;

typedef struct Loader Loader;

int loader_create(const Dataset *d, const LoaderConfig *cfg, Loader **out, Err *err);
/* Starts an epoch; steps_per_epoch is known afterwards. */
void loader_start_epoch(Loader *l, int epoch);
/* Starts an epoch at a given step (resuming): the skipped steps are not decoded. */
void loader_start_epoch_at(Loader *l, int epoch, int step);
int loader_steps_per_epoch(const Loader *l);
/* The next step's batch of this rank; valid until the next call. Returns 1 when
 * the epoch is over, -1 with a message on too many bad clips. */
int loader_next(Loader *l, Batch *b, Err *err);
/* Clips replaced because they could not be read (this epoch, this rank's view). */
int loader_bad_count(const Loader *l);
void loader_destroy(Loader *l);

#endif
