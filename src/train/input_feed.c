/* A loader's batches for the model, the next one prefetched to the device (input_feed.h has the order of
 * events and why). */
#include "train/input_feed.h"

#include <stdlib.h>
#include <string.h>

#include "core/check.h"

/* Stream st of a loader batch: frames, parsing maps, landmark maps (NULL when the loader has it off). */
static const void *stream_of(const Batch *b, int st) {
    return st == 0 ? b->frames : st == 1 ? b->parsing : b->landmark_maps;
}

/* (Re)allocates slot k of every stream the model takes for `bytes` each. Whatever read it is finished first:
 * the compute that read it (ops_sync) and any copy into it (ops_prefetch_wait_host). */
static void slot_reserve(InputSlots *s, const JobModel *jm, int k, size_t bytes) {
    ops_sync(s->ops);
    ops_prefetch_wait_host(s->ops);
    for (int st = 0; st < INPUT_STREAMS; st++) {
        if (s->slot[k][st]) ops_free(s->ops, s->slot[k][st]);
        s->slot[k][st] = job_model_takes_stream(jm, st) ? ops_alloc(s->ops, bytes ? bytes : 1) : NULL;
    }
    s->bytes[k] = bytes;
}

void input_slots_init(InputSlots *s, const JobModel *jm, int clips) {
    memset(s, 0, sizeof *s);
    s->ops = jm->ops;
    if (!jm->prefetch_inputs || clips < 1) return;
    for (int k = 0; k < 2; k++) slot_reserve(s, jm, k, (size_t)clips * job_model_clip_bytes(jm));
}

void input_slots_free(InputSlots *s) {
    if (!s->ops) return;
    int any = 0;
    for (int k = 0; k < 2; k++)
        for (int st = 0; st < INPUT_STREAMS; st++) any |= s->slot[k][st] != NULL;
    if (any) ops_sync(s->ops), ops_prefetch_wait_host(s->ops);
    for (int k = 0; k < 2; k++)
        for (int st = 0; st < INPUT_STREAMS; st++)
            if (s->slot[k][st]) ops_free(s->ops, s->slot[k][st]);
    memset(s, 0, sizeof *s);
}

void input_slots_fill(InputSlots *s, const JobModel *jm, int k, const void *const host[INPUT_STREAMS], int n,
                      JobInputs *in) {
    size_t bytes = (size_t)n * job_model_clip_bytes(jm);
    if (bytes > s->bytes[k]) slot_reserve(s, jm, k, bytes); /* a batch beyond the planned size */
    const void **device[INPUT_STREAMS] = {&in->frames, &in->parsing, &in->landmarks};
    for (int st = 0; st < INPUT_STREAMS; st++) {
        if (!host[st] || !s->slot[k][st]) {
            *device[st] = NULL; /* a stream the loader delivers and the model does not take is not copied */
            continue;
        }
        if (bytes) ops_prefetch_upload(s->ops, s->slot[k][st], host[st], bytes);
        *device[st] = s->slot[k][st];
    }
}

void input_slots_ready(InputSlots *s) {
    ops_prefetch_join(s->ops);      /* the batch's compute waits for its copy on the device */
    ops_prefetch_wait_host(s->ops); /* and the host: the copy's source may change from now on */
}

void input_feed_init(InputFeed *f, Loader *loader, const Dataset *d, JobModel *jm, InputSlots *slots) {
    memset(f, 0, sizeof *f);
    f->loader = loader, f->d = d, f->jm = jm;
    f->slots = slots && jm->prefetch_inputs ? slots : NULL;
    f->cur = -1, f->ahead_rc = 2;
}

/* Fills f->b[k] from the loader's batch: host copies of labels and indices (prefetching: the loader writes over
 * its own once the next batch is taken), the clip ids and captions from the dataset, and the pixels: the loader's
 * buffers, or slot k with their copy queued. */
static void hold(InputFeed *f, int k, const Batch *b) {
    int n = b->n;
    if (n > f->cap[k]) {
        f->labels[k] = xrealloc(f->labels[k], (size_t)n * sizeof *f->labels[k]);
        f->indices[k] = xrealloc(f->indices[k], (size_t)n * sizeof *f->indices[k]);
        f->ids[k] = xrealloc(f->ids[k], 2 * (size_t)n * sizeof *f->ids[k]);
        f->cap[k] = n;
    }
    const char **ids = f->ids[k];
    for (int i = 0; i < n; i++) ids[i] = f->d->clips[b->indices[i]].id;
    for (int i = 0; i < n; i++) ids[n + i] = f->d->clips[b->indices[i]].caption;
    FeedBatch *fb = &f->b[k];
    fb->n = n, fb->step = b->step, fb->epoch = b->epoch, fb->left_out = b->left_out;
    fb->in = (JobInputs){.frames = b->frames, .parsing = b->parsing, .landmarks = b->landmark_maps, .clip_ids = ids,
                         .captions = ids + n};
    if (!f->slots) {
        fb->labels = b->labels, fb->indices = b->indices;
        return;
    }
    if (n) memcpy(f->labels[k], b->labels, (size_t)n * sizeof *b->labels);
    if (n) memcpy(f->indices[k], b->indices, (size_t)n * sizeof *b->indices);
    fb->labels = f->labels[k], fb->indices = f->indices[k];
    const void *host[INPUT_STREAMS];
    for (int st = 0; st < INPUT_STREAMS; st++) host[st] = stream_of(b, st);
    input_slots_fill(f->slots, f->jm, k, host, n, &fb->in);
}

/* Takes the loader's next batch into slot k: 0, 1 at the epoch's end, -1 on failure. */
static int take(InputFeed *f, int k, Err *err) {
    Batch b;
    int rc = loader_next(f->loader, &b, err);
    if (rc == 0) hold(f, k, &b);
    return rc;
}

void input_feed_start_epoch(InputFeed *f, int epoch, int step, int end) {
    /* a batch taken ahead is dropped; its copy reads the loader's buffers, which the restart recycles */
    if (f->slots) ops_prefetch_wait_host(f->jm->ops);
    loader_start_epoch_at(f->loader, epoch, step);
    f->cur = -1, f->ahead_rc = 2, f->step = step, f->end = end > 0 ? end : 0;
}

int input_feed_next(InputFeed *f, FeedBatch **out, Err *err) {
    int over = f->end && f->step >= f->end;
    if (!f->slots) {
        if (over) return 1;
        Batch b;
        int rc = loader_next(f->loader, &b, err);
        if (rc != 0) return rc;
        hold(f, 0, &b);
        f->step++;
        *out = &f->b[0];
        return 0;
    }
    int k;
    if (f->cur < 0) {
        if (over) return 1;
        int rc = take(f, 0, err);
        if (rc != 0) return rc;
        k = 0;
    } else {
        if (f->ahead_rc > 0) return 1;
        if (f->ahead_rc < 0) {
            *err = f->ahead_err;
            f->ahead_rc = 1;
            return -1;
        }
        k = !f->cur;
    }
    f->cur = k;
    input_slots_ready(f->slots); /* then the loader may write over batch k's host buffers */
    f->step++;
    f->ahead_rc = f->end && f->step >= f->end ? 2 : take(f, !k, &f->ahead_err);
    *out = &f->b[k];
    return 0;
}

void input_feed_free(InputFeed *f) {
    if (f->slots) ops_prefetch_wait_host(f->jm->ops);
    for (int k = 0; k < 2; k++) free(f->labels[k]), free(f->indices[k]), free(f->ids[k]);
    memset(f, 0, sizeof *f);
}
