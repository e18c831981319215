/* The clip loader: a pool of worker threads decodes, samples and augments
 * whole batches ahead of the trainer into a ring of buffers.
 *
 * Each step takes a global batch of G clips from the epoch's order (shuffled by
 * (seed, epoch) for training; dataset order for evaluation); rank r of W gets
 * its slot, clips [r*G/W, (r+1)*G/W) of it. What a clip looks like (frames
 * sampled, crop, flip, ...) depends only on (seed, epoch, clip index), never on
 * the rank or thread, so any sharding sees the same samples. A clip that
 * cannot be read is replaced by the next readable one in the epoch's order (the
 * same choice on every rank), counted and logged (once a clip); past max_bad_fraction of the
 * clips tried, summed over the ranks by the caller so that every rank stops at
 * the same step (loader_check_bad_share), the run stops with an error. With mid_streams, each clip also
 * brings per-frame parsing and landmark maps (data/loader_mid.h); a clip whose
 * maps cannot be made (missing or short face track) counts as unreadable. */
#ifndef DFER_DATA_LOADER_H
#define DFER_DATA_LOADER_H

#include <stdint.h>

#include "data/augment.h"
#include "data/dataset.h"

/* LoaderConfig.mid_streams bits: FineCLIPER's middle level (data/loader_mid.h). */
#define LOADER_MID_PARSING 1   /* face parsing maps (11-class LaPa, FaceXFormer's palette) */
#define LOADER_MID_LANDMARKS 2 /* landmark maps (yellow 13-pixel diamonds on black) */

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
    /* FineCLIPER's middle level: per sampled frame, RGB maps under the frame's geometric
     * augmentation (never its photometric part). The strings must outlive the loader. */
    int mid_streams;            /* LOADER_MID_* bits; 0: frames only (no extra work) */
    int no_frames;              /* 1: the model reads no frames (FineCLIPER's levels without them): no frame buffers,
                                 * Batch.frames is NULL. With mid_streams the frames are still decoded (their size
                                 * and the augmentation's draw are the maps' geometry); without, a clip is opened
                                 * (its frame count; an unreadable clip is skipped as for every model) but not
                                 * decoded */
    const char *landmarks_dir;  /* face tracks at <dir>/<clip id>.txt (face/face_track.h); needed for landmark
                                 * maps and for parsing maps rendered from landmarks */
    const char *parsing_dir;    /* optional: parsing index maps at <dir>/<clip id>/<frame stem>.png (or
                                 * <%05d frame number>.png), used instead of rendering from the landmarks */
    /* Optional: where the batch buffers (frames and maps) come from, e.g. page-locked memory a GPU copies
     * from asynchronously (ops_alloc_host). NULL: the heap. host_free(host_ctx, p) releases them. A batch's
     * buffers are written again from the next loader_next call on (a ring of prefetch + 1 slots): whatever
     * reads them, asynchronous copies included, must be done by then. */
    void *(*host_alloc)(void *host_ctx, size_t bytes);
    void (*host_free)(void *host_ctx, void *p);
    void *host_ctx;
} LoaderConfig;

typedef struct Batch {
    int n;               /* clips of this rank in this step (may be 0 at the end of an evaluation) */
    void *frames;        /* [n, T, 3, size, size]: F32, F64, or uint8 with LoaderConfig.uint8 (NULL with no_frames) */
    int32_t *labels;     /* [n] */
    int32_t *indices;    /* [n] dataset indices actually used (training: after replacements) */
    int left_out;        /* evaluation: this rank's clips of the step that could not be read, left out of
                          * the batch (training puts the next readable clip in the order in their place) */
    /* [n, T, 3, size, size], the dtype and normalisation of frames (they enter the same CLIP image
     * encoder); NULL when the stream is off */
    void *parsing;       /* parsing maps in FaceXFormer's palette (clip.md §9.3) */
    void *landmark_maps; /* landmark dots, (255, 255, 0) on black */
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
 * the epoch is over, -1 with a message when no clip of the training split can be read. */
int loader_next(Loader *l, Batch *b, Err *err);
/* What the loader does to clip `index` in `epoch`, for a clip of frame_count
 * frames of w x h: the sampled frame indices idx [frames] and the augmentation
 * draw, from the same random stream the loader uses (tests, previews). */
void loader_clip_plan(const Loader *l, int epoch, int index, int frame_count, int w, int h, int *idx,
                      AugmentDraw *draw);
/* The augmentation settings the loader resolved (preset and overrides). */
const AugmentConfig *loader_augment_config(const Loader *l);
/* This rank's clips of the epoch's batches handed out so far that could not be read (replaced in training, left
 * out in evaluation), and every clip tried (each readable and each unreadable one once; a resumed epoch counts
 * its skipped steps' clips as read). The same after the same loader_next calls whatever the threads' timing. */
void loader_read_counts(const Loader *l, long *bad, long *tried);
/* loader_read_counts' bad alone. */
int loader_bad_count(const Loader *l);
/* -1 with a message naming the split when bad of tried clips (summed over a group's ranks by the caller, so that
 * every rank takes the same decision) is more than max_bad_fraction (from 4 clips tried on); the message names the
 * first clip this rank could not read and why. */
int loader_check_bad_share(Loader *l, double bad, double tried, Err *err);
void loader_destroy(Loader *l);

#endif
