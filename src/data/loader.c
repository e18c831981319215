#include "data/loader.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "data/augment.h"
#include "data/loader_mid.h"
#include "data/preprocess.h"
#include "data/resample.h"
#include "data/sampler.h"
#include "data/video.h"
#include "face/render.h"

typedef struct Slot {
    int step;        /* -1: free */
    int n, done;
    void *frames;
    void *parsing, *landmarks; /* middle level, same layout as frames; NULL when off */
    int32_t *labels, *indices;
    int bad, tried;  /* its clips that could not be read, and every clip tried (read or not), added up by the workers */
} Slot;

typedef struct Task {
    int slot, j;
} Task;

struct Loader {
    const Dataset *d;
    LoaderConfig cfg;
    AugmentConfig aug;
    int per_rank, epoch, steps, next_step;
    int32_t *order;
    int *frame_counts; /* per clip: its real frame count once a worker has counted it (0: not yet), so a
                        * video is counted (decoded whole) once per loader, not at every sample */
    Slot *slots;
    Task *queue;
    int q_head, q_tail, q_cap;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t work, finished;
    int stop;
    long bad, tried; /* the epoch's batches handed out so far (loader_next): their slots' counts */
    unsigned char *warned; /* per clip: its failure was logged (one warning a clip, not one each time training's
                            * replacement walks past it) */
    char first_bad[1536];  /* the first clip that could not be read and why, for the errors that end a run */
    size_t sample_floats;
    FaceMapLut parsing_lut, dots_lut; /* FaceXFormer's palette; {black, yellow} */
};

static size_t elem(const Loader *l) { return l->cfg.uint8 ? 1 : l->cfg.f64 ? sizeof(double) : sizeof(float); }

/* The random stream of a clip in an epoch: sampling, then the augmentation draw. */
static void clip_rng(const Loader *l, int epoch, int index, Rng *rng) {
    rng_init(rng, l->cfg.seed, (uint64_t)epoch, (uint64_t)index, 0x5A3);
}

void loader_clip_plan(const Loader *l, int epoch, int index, int frame_count, int w, int h, int *idx,
                      AugmentDraw *draw) {
    Rng rng;
    clip_rng(l, epoch, index, &rng);
    sample_frame_indices(frame_count, l->cfg.frames, l->cfg.train, &rng, idx);
    augment_draw(&l->aug, w, h, &rng, draw);
}

const AugmentConfig *loader_augment_config(const Loader *l) { return &l->aug; }

/* The batch's per-channel normalisation: CLIP's mean/std, or none (raw [0,1]). */
static void batch_norm(const Loader *l, const float **mean, const float **std) {
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    *mean = l->cfg.normalise_clip ? k_clip_mean : zero;
    *std = l->cfg.normalise_clip ? k_clip_std : one;
}

/* One augmented S x S image into sample slot t of dst ([T,3,S,S] in the batch's dtype);
 * chw: F32 scratch for F64 batches. */
static void write_image(const Loader *l, const ImageU8 *img, void *dst, int t, const float *mean, const float *std,
                        float *chw) {
    size_t plane = (size_t)3 * l->cfg.size * l->cfg.size;
    if (l->cfg.uint8) {
        image_to_chw_u8(img, (uint8_t *)dst + t * plane);
    } else if (l->cfg.f64) {
        image_to_chw_float(img, mean, std, chw);
        for (size_t k = 0; k < plane; k++) ((double *)dst)[t * plane + k] = chw[k];
    } else {
        image_to_chw_float(img, mean, std, (float *)dst + t * plane); /* straight into the batch */
    }
}

/* An index map [S*S] coloured through lut into sample slot t of dst ([T,3,S,S], the batch's dtype). */
static void write_indexed(const Loader *l, const uint8_t *idx, const FaceMapLut *lut, void *dst, int t) {
    size_t n = (size_t)l->cfg.size * l->cfg.size;
    for (int c = 0; c < 3; c++) {
        size_t at = (size_t)t * 3 * n + c * n;
        if (l->cfg.uint8) {
            for (size_t i = 0; i < n; i++) ((uint8_t *)dst)[at + i] = lut->u[c][idx[i]];
        } else if (l->cfg.f64) { /* as the frames: the F32 value widened */
            for (size_t i = 0; i < n; i++) ((double *)dst)[at + i] = lut->f[c][idx[i]];
        } else {
            for (size_t i = 0; i < n; i++) ((float *)dst)[at + i] = lut->f[c][idx[i]];
        }
    }
}

/* The middle-level maps of the sampled frames into their slots (NULL: stream off). */
static int load_maps(const Loader *l, const MidClip *mid, const AugmentDraw *draw, const int *idx,
                     const ImageU8 *frames, void *parsing, void *landmarks, Err *err) {
    size_t n = (size_t)l->cfg.size * l->cfg.size;
    uint8_t *labels = parsing ? xmalloc(n) : NULL, *dots = landmarks ? xmalloc(n) : NULL;
    int rc = 0;
    for (int t = 0; t < l->cfg.frames && rc == 0; t++) {
        rc = mid_clip_maps(mid, &l->aug, draw, idx[t], frames[0].width, frames[0].height, frames[t].width,
                           frames[t].height, labels, dots, err);
        if (rc == 0 && parsing) write_indexed(l, labels, &l->parsing_lut, parsing, t);
        if (rc == 0 && landmarks) write_indexed(l, dots, &l->dots_lut, landmarks, t);
    }
    free(labels), free(dots);
    return rc;
}

/* Decodes, samples and augments clip `index` into dst ([T,3,S,S]; not with no_frames), and with
 * mid_streams its maps into parsing and landmarks (the same layout). */
static int load_clip(Loader *l, int index, void *dst, void *parsing, void *landmarks, Err *err) {
    const ClipRecord *c = &l->d->clips[index];
    ClipSource *src;
    if (clip_source_open_known(c->path, __atomic_load_n(&l->frame_counts[index], __ATOMIC_RELAXED), &src, err) != 0)
        return -1;
    __atomic_store_n(&l->frame_counts[index], clip_source_frame_count(src), __ATOMIC_RELAXED);
    MidClip mid = {0}; /* read before decoding: a clip without a usable track costs no decoding */
    if (l->cfg.mid_streams && mid_clip_open(&mid, l->cfg.mid_streams, l->cfg.landmarks_dir, l->cfg.parsing_dir, c,
                                            clip_source_frame_count(src), err) != 0) {
        clip_source_close(src);
        return -1;
    }
    if (l->cfg.no_frames && !l->cfg.mid_streams) { /* nothing of the pixels is used: opened, not decoded */
        clip_source_close(src);
        return 0;
    }
    int T = l->cfg.frames;
    int *idx = xmalloc((size_t)T * sizeof(int));
    Rng rng;
    clip_rng(l, l->epoch, index, &rng);
    sample_frame_indices(clip_source_frame_count(src), T, l->cfg.train, &rng, idx);
    ImageU8 *frames = xcalloc((size_t)T, sizeof(ImageU8));
    int rc = clip_source_read_frames(src, idx, T, frames, err);
    clip_source_close(src);
    /* changed since counted? count again */
    if (rc != 0) __atomic_store_n(&l->frame_counts[index], 0, __ATOMIC_RELAXED);
    if (rc == 0) {
        AugmentDraw draw;
        augment_draw(&l->aug, frames[0].width, frames[0].height, &rng, &draw);
        const float *mean, *std;
        batch_norm(l, &mean, &std);
        int S = l->cfg.size;
        float *chw = l->cfg.f64 ? xmalloc((size_t)3 * S * S * sizeof(float)) : NULL; /* F64: converted from here */
        for (int t = 0; t < T && !l->cfg.no_frames; t++) {
            ImageU8 fixed = {0}, out;
            const ImageU8 *in = &frames[t];
            if (in->width != frames[0].width || in->height != frames[0].height) { /* odd frame size: match frame 0 */
                image_resize(in, frames[0].width, frames[0].height, RESAMPLE_BILINEAR, &fixed);
                in = &fixed;
            }
            augment_apply(&l->aug, &draw, in, &out);
            write_image(l, &out, dst, t, mean, std, chw);
            image_free(&out);
            image_free(&fixed);
        }
        if (l->cfg.mid_streams) rc = load_maps(l, &mid, &draw, idx, frames, parsing, landmarks, err);
        free(chw);
    }
    mid_clip_close(&mid);
    for (int t = 0; t < T; t++) image_free(&frames[t]);
    free(frames);
    free(idx);
    return rc;
}

static int position_index(const Loader *l, long pos) {
    long n = l->d->count;
    return l->cfg.train ? l->order[pos % n] : (int)(pos % n);
}

static void run_task(Loader *l, Task t) {
    Slot *s = &l->slots[t.slot];
    long pos = (long)s->step * l->cfg.global_batch + (long)l->cfg.rank * l->per_rank + t.j;
    size_t offset = (size_t)t.j * l->sample_floats * elem(l);
    void *dst = s->frames ? (char *)s->frames + offset : NULL;
    void *parsing = s->parsing ? (char *)s->parsing + offset : NULL;
    void *landmarks = s->landmarks ? (char *)s->landmarks + offset : NULL;
    int bad = 0, index = -1;
    /* training takes the next readable clip in the order in place of an unreadable one (every rank keeps
     * its share of the batch); evaluation reads each clip once and leaves an unreadable one out
     * (loader_next), since a replacement would be scored twice */
    long tries = l->cfg.train ? l->d->count : 1;
    for (long k = 0; k < tries; k++) {
        int candidate = position_index(l, pos + k);
        Err err;
        if (load_clip(l, candidate, dst, parsing, landmarks, &err) == 0) {
            index = candidate;
            break;
        }
        bad++;
        pthread_mutex_lock(&l->mu);
        int first_time = !l->warned[candidate];
        l->warned[candidate] = 1;
        if (!l->first_bad[0])
            snprintf(l->first_bad, sizeof l->first_bad, "%s: %s", l->d->clips[candidate].path, err.msg);
        pthread_mutex_unlock(&l->mu);
        if (first_time)
            log_warn("skipping an unreadable clip (%s): %s%s", l->d->clips[candidate].path, err.msg,
                     l->cfg.train ? " (not repeated when it is met again)" : "");
    }
    pthread_mutex_lock(&l->mu);
    /* counted with the batch, not the loader: the totals then grow as loader_next hands batches out, the same on
     * every rank whatever the threads' timing (workers run ahead by prefetch batches) */
    s->bad += bad;
    s->tried += bad + (index >= 0);
    s->indices[t.j] = index;
    s->labels[t.j] = index >= 0 ? l->d->clips[index].label : -1;
    s->done++;
    pthread_cond_broadcast(&l->finished);
    pthread_mutex_unlock(&l->mu);
}

static void *worker(void *arg) {
    Loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->q_head == l->q_tail) pthread_cond_wait(&l->work, &l->mu);
        if (l->stop) break;
        Task t = l->queue[l->q_head++ % l->q_cap];
        pthread_mutex_unlock(&l->mu);
        run_task(l, t);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Clips of this rank in a step (the last evaluation step may be short). */
static int rank_count(const Loader *l, int step) {
    long first = (long)step * l->cfg.global_batch + (long)l->cfg.rank * l->per_rank;
    long left = l->d->count - first;
    if (l->cfg.train) return l->per_rank;
    return left <= 0 ? 0 : left < l->per_rank ? (int)left : l->per_rank;
}

/* With the lock held: queue a step into a free slot. */
static void schedule(Loader *l, int slot, int step) {
    Slot *s = &l->slots[slot];
    s->step = step;
    s->n = rank_count(l, step);
    s->done = 0;
    s->bad = s->tried = 0;
    for (int j = 0; j < s->n; j++) l->queue[l->q_tail++ % l->q_cap] = (Task){slot, j};
    pthread_cond_broadcast(&l->work);
}

static int n_slots(const Loader *l) { return l->cfg.prefetch + 1; }

/* A batch buffer (frames or maps): from cfg.host_alloc when given (page-locked memory), else the heap. */
static void *batch_alloc(const Loader *l, size_t bytes) {
    return l->cfg.host_alloc ? l->cfg.host_alloc(l->cfg.host_ctx, bytes) : xmalloc(bytes);
}
static void batch_free(const Loader *l, void *p) {
    if (!p) return;
    if (l->cfg.host_free) l->cfg.host_free(l->cfg.host_ctx, p);
    else free(p);
}

/* Frame buffers (150 KB to a few MB) are allocated and freed for every clip. Above
 * glibc's default mmap threshold each one is a fresh mapping whose pages fault in
 * on first touch: a third of a decoding thread's time. Serving them from the
 * heap (and not trimming it) keeps the pages. Process-wide, set once. */
static void tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int loader_create(const Dataset *d, const LoaderConfig *cfg, Loader **out, Err *err) {
    static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;
    pthread_once(&malloc_once, tune_malloc);
    if (cfg->world < 1 || cfg->rank < 0 || cfg->rank >= cfg->world || cfg->global_batch % cfg->world)
        return err_set(err, "the global batch of %d clips does not split over %d ranks", cfg->global_batch, cfg->world);
    if (d->count < 1) return err_set(err, "%s: the dataset is empty", d->source);
    if (cfg->train && d->count < cfg->global_batch)
        return err_set(err, "%s: %d clips are fewer than one global batch of %d", d->source, d->count,
                       cfg->global_batch);
    if (!cfg->host_alloc != !cfg->host_free)
        return err_set(err, "the loader's batch buffers need both host_alloc and host_free, or neither");
    if (cfg->mid_streams & ~(LOADER_MID_PARSING | LOADER_MID_LANDMARKS))
        return err_set(err, "mid_streams %d: the bits are 1 (parsing maps) and 2 (landmark maps)", cfg->mid_streams);
    int need_track = (cfg->mid_streams & LOADER_MID_LANDMARKS) ||
                     ((cfg->mid_streams & LOADER_MID_PARSING) && !cfg->parsing_dir);
    if (need_track && !cfg->landmarks_dir)
        return err_set(err, "%s maps need face tracks: set the landmarks folder",
                       cfg->mid_streams & LOADER_MID_LANDMARKS ? "landmark" : "parsing");
    Loader *l = xcalloc(1, sizeof *l);
    l->d = d;
    l->cfg = *cfg;
    if (l->cfg.threads < 1) l->cfg.threads = 1;
    if (l->cfg.prefetch < 1) l->cfg.prefetch = 1;
    l->per_rank = cfg->global_batch / cfg->world;
    l->sample_floats = (size_t)cfg->frames * 3 * cfg->size * cfg->size;
    augment_preset(cfg->augment_preset ? cfg->augment_preset : d->kind, cfg->size, cfg->train, &l->aug);
    if (cfg->crop_min_area > 0) l->aug.crop_min_area = cfg->crop_min_area;
    if (cfg->mid_streams) {
        const float *mean, *std;
        batch_norm(l, &mean, &std);
        face_map_lut_init(&l->parsing_lut, FACE_MAP_PARSING, mean, std);
        face_map_lut_init(&l->dots_lut, FACE_MAP_DOTS, mean, std);
    }
    l->order = xmalloc((size_t)d->count * sizeof(int32_t));
    l->frame_counts = xcalloc((size_t)d->count, sizeof(int));
    l->warned = xcalloc((size_t)d->count, 1);
    int depth = l->cfg.prefetch + 1; /* +1: the slot the caller holds */
    l->slots = xcalloc((size_t)depth, sizeof(Slot));
    for (int i = 0; i < depth; i++) {
        l->slots[i].step = -1;
        size_t bytes = (size_t)l->per_rank * l->sample_floats * elem(l) + 1;
        if (!cfg->no_frames) l->slots[i].frames = batch_alloc(l, bytes);
        if (cfg->mid_streams & LOADER_MID_PARSING) l->slots[i].parsing = batch_alloc(l, bytes);
        if (cfg->mid_streams & LOADER_MID_LANDMARKS) l->slots[i].landmarks = batch_alloc(l, bytes);
        l->slots[i].labels = xmalloc((size_t)l->per_rank * sizeof(int32_t) + 4);
        l->slots[i].indices = xmalloc((size_t)l->per_rank * sizeof(int32_t) + 4);
    }
    l->q_cap = depth * l->per_rank + 1;
    l->queue = xmalloc((size_t)l->q_cap * sizeof(Task));
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->finished, NULL);
    l->threads = xmalloc((size_t)l->cfg.threads * sizeof(pthread_t));
    for (int i = 0; i < l->cfg.threads; i++) CHECK_ERRNUM(pthread_create(&l->threads[i], NULL, worker, l));
    *out = l;
    return 0;
}


/* Waits for every queued task (between epochs). */
static void drain(Loader *l) {
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < n_slots(l); i++)
        while (l->slots[i].step >= 0 && l->slots[i].done < l->slots[i].n) pthread_cond_wait(&l->finished, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void loader_start_epoch(Loader *l, int epoch) { loader_start_epoch_at(l, epoch, 0); }

void loader_start_epoch_at(Loader *l, int epoch, int first_step) {
    drain(l);
    l->epoch = epoch;
    /* a run resumed at first_step read the clips of the steps before it in its earlier start: they count as seen
     * (as good ones: that start went on past them), or one bad clip soon after the restart is a share of only a
     * few clips and stops a run that the uninterrupted one finishes */
    l->bad = 0;
    l->tried = (long)first_step * l->per_rank;
    int n = l->d->count;
    for (int i = 0; i < n; i++) l->order[i] = i;
    if (l->cfg.train) { /* Fisher-Yates, keyed by (seed, epoch) only */
        Rng r;
        rng_init(&r, l->cfg.seed, (uint64_t)epoch, 0, 0x0D3);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rng_int(&r, i + 1);
            int32_t t = l->order[i];
            l->order[i] = l->order[j], l->order[j] = t;
        }
        l->steps = n / l->cfg.global_batch;
    } else {
        l->steps = (n + l->cfg.global_batch - 1) / l->cfg.global_batch;
    }
    l->next_step = first_step < l->steps ? first_step : l->steps;
    pthread_mutex_lock(&l->mu);
    l->q_head = l->q_tail = 0;
    for (int i = 0; i < n_slots(l); i++) l->slots[i].step = -1;
    for (int i = l->next_step; i < l->next_step + l->cfg.prefetch && i < l->steps; i++) schedule(l, i % n_slots(l), i);
    pthread_mutex_unlock(&l->mu);
}

int loader_steps_per_epoch(const Loader *l) { return l->steps; }

/* Evaluation: the rows of clips that could not be read (index -1) taken out of slot s, the others moved
 * up in order (frames, maps, labels, indices). Returns the rows kept. */
static int drop_unreadable(Loader *l, Slot *s) {
    size_t row = l->sample_floats * elem(l);
    int kept = 0;
    for (int j = 0; j < s->n; j++) {
        if (s->indices[j] < 0) continue;
        if (kept != j) {
            if (s->frames) memmove((char *)s->frames + (size_t)kept * row, (char *)s->frames + (size_t)j * row, row);
            if (s->parsing) memmove((char *)s->parsing + (size_t)kept * row, (char *)s->parsing + (size_t)j * row, row);
            if (s->landmarks)
                memmove((char *)s->landmarks + (size_t)kept * row, (char *)s->landmarks + (size_t)j * row, row);
            s->indices[kept] = s->indices[j];
            s->labels[kept] = s->labels[j];
        }
        kept++;
    }
    return kept;
}
void loader_read_counts(const Loader *l, long *bad, long *tried) { *bad = l->bad, *tried = l->tried; }
int loader_bad_count(const Loader *l) { return (int)l->bad; }

/* What to look at when clips cannot be read: the frames (`dfer data check` reads them), and with the middle level
 * its face tracks or parsing maps, which `dfer prep` writes and data check does not read. */
static const char *unreadable_advice(const Loader *l) {
    return l->cfg.mid_streams ? "check the frames with `dfer data check` and the middle level's face tracks (or "
                                "parsing maps) with `dfer prep`"
                              : "check the dataset with `dfer data check`";
}

int loader_check_bad_share(Loader *l, double bad, double tried, Err *err) {
    if (tried >= 4 && bad > 0 && bad / tried > l->cfg.max_bad_fraction) {
        pthread_mutex_lock(&l->mu); /* first_bad: written by the workers */
        char first[sizeof l->first_bad];
        snprintf(first, sizeof first, "%s", l->first_bad);
        pthread_mutex_unlock(&l->mu);
        return err_set(err, "%s: %.0f of the %.0f clips read so far could not be read (more than %.0f%%, "
                            "data.max_bad_fraction; the first on this rank: %s): %s",
                       l->d->source, bad, tried, 100.0 * l->cfg.max_bad_fraction, first[0] ? first : "none",
                       unreadable_advice(l));
    }
    return 0;
}

int loader_next(Loader *l, Batch *b, Err *err) {
    if (l->next_step >= l->steps) return 1;
    int k = l->next_step, slot = k % n_slots(l);
    pthread_mutex_lock(&l->mu);
    /* the caller is done with step k-1: its slot takes step k + prefetch, the next unscheduled one */
    int ahead = k + l->cfg.prefetch;
    if (ahead < l->steps && l->slots[ahead % n_slots(l)].step != ahead) {
        int free_slot = ahead % n_slots(l);
        schedule(l, free_slot, ahead);
    }
    Slot *s = &l->slots[slot];
    CHECK(s->step == k, "loader slot holds step %d, expected %d", s->step, k);
    while (s->done < s->n) pthread_cond_wait(&l->finished, &l->mu);
    l->bad += s->bad, l->tried += s->tried;
    pthread_mutex_unlock(&l->mu);
    int kept = s->n;
    if (l->cfg.train) {
        for (int j = 0; j < s->n; j++)
            if (s->indices[j] < 0) /* the workers are done with this slot: first_bad is set */
                return err_set(err, "%s: none of its %d clips could be read (the first: %s): %s", l->d->source,
                               l->d->count, l->first_bad, unreadable_advice(l));
    } else {
        kept = drop_unreadable(l, s);
    }
    b->n = kept;
    b->left_out = s->n - kept;
    b->frames = s->frames;
    b->parsing = s->parsing;
    b->landmark_maps = s->landmarks;
    b->labels = s->labels;
    b->indices = s->indices;
    b->step = k;
    b->epoch = l->epoch;
    l->next_step++;
    return 0;
}

void loader_destroy(Loader *l) {
    if (!l) return;
    drain(l);
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->cfg.threads; i++) CHECK_ERRNUM(pthread_join(l->threads[i], NULL));
    for (int i = 0; i < n_slots(l); i++) {
        batch_free(l, l->slots[i].frames);
        batch_free(l, l->slots[i].parsing);
        batch_free(l, l->slots[i].landmarks);
        free(l->slots[i].labels);
        free(l->slots[i].indices);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->finished);
    free(l->slots), free(l->queue), free(l->threads), free(l->order), free(l->frame_counts);
    free(l->warned);
    free(l);
}
