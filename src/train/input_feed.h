/* The batches a pass consumes (training steps, evaluation), taken from a loader, with the next batch's
 * pixels on their way to the GPU while the current batch computes.
 *
 * Prefetching (JobModel.prefetch_inputs: uint8 frames on CUDA, data.device_prefetch = auto): the device
 * holds two slots of a batch's pixels per stream (frames, and the middle level's parsing and landmark maps),
 * InputSlots, shared by the feeds of a run (one pass runs at a time). Batch k is handed out with its pixels
 * in slot k % 2; then, and only then, batch k + 1 is taken from the loader and its copy queued into the
 * other slot on the copy stream (ops_prefetch_upload: after the compute queued so far, which is batch
 * k - 1's, the last reader of that slot). So that the copy overlaps batch k's compute, the order is:
 *   1. ops_prefetch_join: batch k's compute, queued next, waits on the device for batch k's copy (and
 *      nothing later);
 *   2. ops_prefetch_wait_host: the host waits for batch k's copy too (normally done long since, during
 *      batch k - 1's step), because taking batch k + 1 from the loader lets it write over batch k's host
 *      buffers (loader.h). This alone would order the compute as well; the join keeps the device's order
 *      right without relying on it;
 *   3. loader_next for batch k + 1, its copy queued;
 *   4. batch k handed out: device pixels, and host copies of its labels, indices and ids (the loader's
 *      are written over too).
 * No batch is taken beyond the epoch's end (train.max_steps_per_epoch), so nothing is prefetched that no
 * step uses. The model finds the pixels already on the device (images_upload, ops_is_device_memory) and
 * normalises them where they lie; results are bitwise those of the uploads at the start of each pass.
 *
 * Without prefetching, the loader's batches are handed out as they are (host buffers, valid until the next
 * input_feed_next), as before. */
#ifndef DFER_TRAIN_INPUT_FEED_H
#define DFER_TRAIN_INPUT_FEED_H

#include "data/dataset.h"
#include "data/loader.h"
#include "train/job_model.h"

typedef struct InputSlots {
    Ops *ops;
    size_t bytes[2];                   /* slot k's size in each stream */
    void *slot[2][INPUT_STREAMS];      /* device memory; NULL until reserved */
} InputSlots;

typedef struct FeedBatch {
    int n, step, epoch;
    JobInputs in;                      /* pixels on the device when prefetching, else the loader's host buffers */
    const int32_t *labels;             /* [n] */
    const int32_t *indices;            /* [n] dataset indices */
    int left_out;                      /* unreadable clips left out of an evaluation batch (Batch.left_out) */
} FeedBatch;

typedef struct InputFeed {
    Loader *loader;
    const Dataset *d;
    JobModel *jm;
    InputSlots *slots;                 /* NULL: no prefetching */
    FeedBatch b[2];                    /* b[s]: the batch whose pixels are in slot s */
    int32_t *labels[2], *indices[2];   /* host copies, [cap] */
    const char **ids[2];               /* [2 * cap]: clip ids, then captions */
    int cap[2];
    int cur;                           /* slot of the batch handed out last; -1 before the epoch's first */
    int ahead_rc;                      /* b[!cur]: 0 holds the next batch, 1 the epoch ended, -1 failed, 2 none taken */
    Err ahead_err;
    int step, end;                     /* the epoch's next step to hand out; none from `end` on (0: the loader's end) */
} InputFeed;

/* Slots for batches of up to `clips` clips of jm's streams (2 * InputSlots per stream: job_model_prefetch_bytes,
 * which the memory plan counts). Nothing is allocated when jm does not prefetch. */
void input_slots_init(InputSlots *s, const JobModel *jm, int clips);
void input_slots_free(InputSlots *s);
/* Queues the copy of n clips of each pixel stream in host (frames, parsing maps, landmark maps; NULL where
 * absent; page-locked memory) into slot k, grown if smaller, after the compute queued so far; in's pixel
 * pointers become the slot's (NULL for a stream the model does not take). */
void input_slots_fill(InputSlots *s, const JobModel *jm, int k, const void *const host[INPUT_STREAMS], int n,
                      JobInputs *in);
/* Before a slot's batch is computed: the compute waits for the copies queued so far, and so does the host
 * (their sources may change from then on). The other slot's copy is queued after this. */
void input_slots_ready(InputSlots *s);

/* slots NULL, or a model that does not prefetch: the loader's batches as they are. */
void input_feed_init(InputFeed *f, Loader *loader, const Dataset *d, JobModel *jm, InputSlots *slots);
/* Starts the loader's epoch at `step` (loader_start_epoch_at); no batch from step `end` on is taken
 * (train.max_steps_per_epoch; 0: until the loader's epoch ends). */
void input_feed_start_epoch(InputFeed *f, int epoch, int step, int end);
/* The next batch: 0, 1 when the epoch (or its limit) is over, -1 with a message on a loader failure. The
 * batch is valid until the next call. */
int input_feed_next(InputFeed *f, FeedBatch **out, Err *err);
/* Waits for the copies in flight (their host buffers belong to the loader, which may be destroyed next). */
void input_feed_free(InputFeed *f);

#endif
