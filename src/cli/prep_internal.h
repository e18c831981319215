/* What dfer prep's parts share: a rank's clips and counts (cmd_prep.c runs them over the ranks and threads), its
 * cached tracks' checks (prep_cache.c) and its counts and summary (prep_summary.c). */
#ifndef DFER_CLI_PREP_INTERNAL_H
#define DFER_CLI_PREP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/check.h"
#include "face/landmarks.h"

typedef struct PrepClip {
    const char *id, *path;
} PrepClip;

/* A clip named by earlier hang records ("item" of OUT/hangs.jsonl), and on how many runs it hung. */
typedef struct HungClip {
    char *id;
    int runs;
} HungClip;

/* Summed over clips, then over ranks (one int64 allreduce). */
enum { N_CLIPS, N_DONE, N_SKIPPED, N_FAILED, N_NODET, N_FRAMES, N_DET, N_PREV, N_MEAN,
       N_OTHER_SETTINGS /* cached tracks made with another --upsample, --model or hold (or by a dfer that did not
                         * say) */,
       N_NO_IDENTITY /* cached tracks recording no identity of their clip (an older dfer's, or imported) */,
       N_GT_CLIPS, N_GT_BAD, N_GT_DET, N_GT_LT01, N_GT_ALL, N_STOPPED /* ranks that stopped on a signal */,
       N_DISK_FULL /* ranks that stopped on a full disk */, N_COUNT };
enum { D_NME_DET, D_NME_ALL, D_COUNT };

typedef struct Prep {
    const char *out, *gt, *model_path;
    const char *root_dir; /* the dataset's folder (a list's: the list file's), that its clips' paths start with */
    int recompute; /* --recompute: cached tracks are computed again */
    const DlibModel *model;
    FaceTrackConfig cfg;
    const PrepClip *clips; /* this rank's */
    int count;
    const HungClip *hung; /* sorted by id */
    int nhung;
    pthread_mutex_t mu;
    pthread_cond_t progress;
    int next, workers_done;
    int stop; /* a rank got a stop signal: take no further clip (under mu) */
    int disk_full; /* a track could not be written for want of space: take no further clip (under mu) */
    int64_t n[N_COUNT]; /* n[N_CLIPS]: clips finished; minus n[N_SKIPPED]: clips computed or failed */
    double d[D_COUNT];
} Prep;

/* Whether the cached track at path (OUT/landmarks/<clip id>.txt) stands for clip c as it is now: 1 with the track in
 * *t (face_track_free it), counted in n where it was made with other settings (N_OTHER_SETTINGS) or records no
 * identity of its clip (N_NO_IDENTITY); 0 when the clip is to be computed again, with a warning saying why (the track
 * unreadable, the folder's frames added or removed, another clip at the path). In prep_cache.c. */
int prep_cached_track(const Prep *p, const PrepClip *c, const char *path, FaceTrack *t, int64_t *n);
/* The first line of clip c's track into buf[n] (without its '#'): the commit, the settings, the clip's identity
 * (clip_identity.h) and its path, which prep_cached_track reads back. In prep_cache.c. */
int prep_track_comment(const Prep *p, const PrepClip *c, char *buf, size_t n, Err *err);

/* Adds a track's counts, and its error against the ground truth, to n/d. In prep_summary.c. */
void prep_account_track(const Prep *p, const PrepClip *c, const FaceTrack *t, int64_t *n, double *d);
/* Prints the summary and writes OUT/prep_summary.json (rank 0). rates [world]: clips/s per rank. In
 * prep_summary.c. */
int prep_write_summary(const char *argv_line, const char *kind, const char *root, const char *out, const char *gt,
                       const char *model_path, const FaceTrackConfig *cfg, int threads, const int64_t *n,
                       const double *d, const double *rates, int world, double seconds, const char *path, Err *err);

#endif
