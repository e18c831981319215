/* dfer prep's counts: what each clip's track adds to them (its frames by how each was found and, with --ground-truth,
 * its error against the ground truth), and the summary of a finished prep, printed and written as
 * OUT/prep_summary.json. Apart from cmd_prep.c, which runs the clips over the ranks and threads and only sums the
 * counts (prep_internal.h). */
#include <stdio.h>

#include <cjson/cJSON.h>

#include "cli/prep_internal.h"
#include "core/log.h"
#include "core/version.h"
#include "face/landmarks.h"
#include "io/json_file.h"

/* Adds a track's counts, and its error against the ground truth, to n/d. */
void prep_account_track(const Prep *p, const PrepClip *c, const FaceTrack *t, int64_t *n, double *d) {
    int counts[3];
    face_track_count(t, counts);
    n[N_FRAMES] += t->frames, n[N_DET] += counts[FACE_DETECTED], n[N_PREV] += counts[FACE_PREVIOUS],
        n[N_MEAN] += counts[FACE_MEAN];
    if (!counts[FACE_DETECTED]) n[N_NODET]++;
    if (!p->gt) return;
    /* keyed by the clip id as the loader reads it (FERV39k: Speech/Surprise/0001.txt) */
    char path[8192];
    snprintf(path, sizeof path, "%s/%s.txt", p->gt, c->id);
    FaceTrack gt = {0};
    Err err;
    if (face_track_read(path, &gt, &err) != 0 || gt.frames != t->frames) {
        if (gt.frames && gt.frames != t->frames)
            err_set(&err, "%s has %d frames, the clip %d", path, gt.frames, t->frames);
        log_warn("no ground truth for clip %s: %s", c->id, err.msg);
        n[N_GT_BAD]++;
        face_track_free(&gt);
        return;
    }
    n[N_GT_CLIPS]++;
    for (int f = 0; f < t->frames; f++) {
        double e = face_nme(t->xy + (size_t)f * FACE_POINTS * 2, gt.xy + (size_t)f * FACE_POINTS * 2);
        if (e < 0) continue; /* degenerate ground truth */
        n[N_GT_ALL]++, d[D_NME_ALL] += e;
        if (t->status[f] != FACE_DETECTED) continue;
        n[N_GT_DET]++, d[D_NME_DET] += e;
        if (e < 0.1) n[N_GT_LT01]++;
    }
    face_track_free(&gt);
}

static cJSON *json_counts(const int64_t *n) {
    cJSON *o = cJSON_CreateObject();
    static const char *names[N_GT_CLIPS] = {"clips",           "computed",        "skipped",
                                            "unreadable",      "clips_without_detection", "frames",
                                            "frames_detected", "frames_previous", "frames_mean",
                                            "cached_with_other_settings", "cached_without_clip_identity"};
    for (int i = 0; i < N_GT_CLIPS; i++) cJSON_AddNumberToObject(o, names[i], (double)n[i]);
    return o;
}

/* Prints the summary and writes OUT/prep_summary.json (rank 0). rates [world]: clips/s per rank. */
int prep_write_summary(const char *argv_line, const char *kind, const char *root, const char *out, const char *gt,
                       const char *model_path, const FaceTrackConfig *cfg, int threads, const int64_t *n,
                       const double *d, const double *rates, int world, double seconds, const char *path, Err *err) {
    double det_rate = n[N_FRAMES] ? (double)n[N_DET] / n[N_FRAMES] : 0;
    printf("prep: %lld clips (%lld computed, %lld skipped as already done, %lld unreadable), %lld frames: "
           "%lld detected, %lld previous, %lld mean (detection rate %.1f%%); %lld clips without any detection; "
           "%.1f s\n",
           (long long)n[N_CLIPS], (long long)n[N_DONE], (long long)n[N_SKIPPED], (long long)n[N_FAILED],
           (long long)n[N_FRAMES], (long long)n[N_DET], (long long)n[N_PREV], (long long)n[N_MEAN], 100 * det_rate,
           (long long)n[N_NODET], seconds);
    if (n[N_OTHER_SETTINGS])
        log_warn("prep: %lld cached tracks were made with another --upsample, --model or face-holding rule than this "
                 "run's (upsample %d, model %s, hold %d frames), or by a dfer that did not record them; they were "
                 "kept: --recompute makes them again",
                 (long long)n[N_OTHER_SETTINGS], cfg->upsample, model_path, cfg->hold_frames);
    if (n[N_NO_IDENTITY])
        log_info("prep: %lld cached tracks record no identity of their clip (an older dfer's, or imported): reused "
                 "where no other path under the dataset's folder is recorded; --recompute makes them again",
                 (long long)n[N_NO_IDENTITY]);
    printf("prep: clips/s per rank:");
    for (int r = 0; r < world; r++) printf(" %.2f", rates[r]);
    printf("\n");
    cJSON *o = json_counts(n);
    cJSON_AddStringToObject(o, "dataset", kind);
    cJSON_AddStringToObject(o, "root", root);
    cJSON_AddStringToObject(o, "out", out);
    cJSON_AddStringToObject(o, "command", argv_line);
    cJSON_AddStringToObject(o, "commit", dfer_git_commit);
    cJSON_AddNumberToObject(o, "ranks", world);
    cJSON_AddNumberToObject(o, "threads_per_rank", threads);
    cJSON_AddNumberToObject(o, "upsample", cfg->upsample);
    cJSON_AddNumberToObject(o, "hold_frames", cfg->hold_frames);
    cJSON_AddStringToObject(o, "model", model_path);
    cJSON_AddNumberToObject(o, "detection_rate", det_rate);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON *r = cJSON_AddArrayToObject(o, "clips_per_s_per_rank");
    for (int i = 0; i < world; i++) cJSON_AddItemToArray(r, cJSON_CreateNumber(rates[i]));
    if (gt) {
        double nme = n[N_GT_DET] ? d[D_NME_DET] / n[N_GT_DET] : -1, all = n[N_GT_ALL] ? d[D_NME_ALL] / n[N_GT_ALL] : -1;
        double share = n[N_GT_DET] ? (double)n[N_GT_LT01] / n[N_GT_DET] : 0;
        if (n[N_GT_DET])
            printf("prep: against the ground truth (%lld clips, %lld without a usable one): NME %.4f over %lld "
                   "detected frames, %.1f%% of them below 0.1; NME %.4f over all %lld frames\n",
                   (long long)n[N_GT_CLIPS], (long long)n[N_GT_BAD], nme, (long long)n[N_GT_DET], 100 * share, all,
                   (long long)n[N_GT_ALL]);
        else
            printf("prep: against the ground truth: no detected frame with a usable ground truth (%lld clips without "
                   "one), no NME\n", (long long)n[N_GT_BAD]);
        cJSON *g = cJSON_AddObjectToObject(o, "ground_truth");
        cJSON_AddStringToObject(g, "dir", gt);
        cJSON_AddNumberToObject(g, "clips", (double)n[N_GT_CLIPS]);
        cJSON_AddNumberToObject(g, "clips_without_ground_truth", (double)n[N_GT_BAD]);
        cJSON_AddNumberToObject(g, "detected_frames", (double)n[N_GT_DET]);
        if (nme >= 0) cJSON_AddNumberToObject(g, "nme_detected", nme); /* else null: no frame to measure */
        else cJSON_AddNullToObject(g, "nme_detected");
        cJSON_AddNumberToObject(g, "share_nme_below_0.1", share);
        cJSON_AddNumberToObject(g, "frames", (double)n[N_GT_ALL]);
        if (all >= 0) cJSON_AddNumberToObject(g, "nme_all_frames", all);
        else cJSON_AddNullToObject(g, "nme_all_frames");
        cJSON_AddNumberToObject(g, "detection_rate", n[N_GT_ALL] ? (double)n[N_GT_DET] / n[N_GT_ALL] : 0);
    }
    int rc = json_write_atomic(path, o, err);
    if (rc == 0) printf("prep: wrote %s\n", path);
    cJSON_Delete(o);
    return rc;
}
