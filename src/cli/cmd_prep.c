/* dfer prep: face tracks (dlib boxes and 68-point landmarks) for every clip of
 * a dataset, cached beside it as OUT/landmarks/<clip id>.txt (face_track.h).
 * Clip i of the sorted, deduplicated union of all splits goes to MPI rank
 * i % world; worker threads of a rank take its clips in turn. Only the main
 * thread calls MPI (MPI_THREAD_FUNNELED): it counts finished clips on a shared
 * counter (mpi/dist.h) for rank 0's progress line, and reduces the summary.
 *
 * A watchdog (core/watchdog.h) watches the main thread (slot 0) and each worker
 * (slot 1 + its index) on its clip: a worker stuck in one clip (a decoder that
 * never returns, a read from a file system that does not answer), or a rank whose
 * others have stopped finishing clips while it waits for them at the end, ends the
 * process with status 4 after --hang-minutes, naming the clip or the wait, and
 * appends a record to OUT/hangs.jsonl. A clip named by records of two runs is
 * skipped from then on (counted as unreadable), so a requeued prep finishes.
 *
 * SIGUSR1, SIGTERM or Ctrl-C (core/stop.h: Slurm before a time limit or on
 * preemption) stops a rank from taking further clips; it closes the shared
 * counter, the other ranks see that and stop too, every worker finishes the clip
 * it is on, and prep exits with status 3 without a summary: the same command
 * continues with the clips not yet done.
 *
 * A cached track's checks (is it the clip's as the clip is now?) are in prep_cache.c, the counts and the summary in
 * prep_summary.c (prep_internal.h). */
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/prep_internal.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "face/landmarks.h"
#include "io/json_file.h"
#include "mpi/dist.h"
#include "core/watchdog.h"
#include "text/verbalize.h"
#include "train/config.h"
#include "train/run_hang.h"

#define DEFAULT_MODEL "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
/* a clip on which this many runs hung (OUT/hangs.jsonl) is skipped: one more try after the first hang, in
 * case a file system, not the clip, was at fault */
#define PREP_HANG_SKIP_RUNS 2

static void usage(void) {
    printf("usage: [mpirun -np N] dfer prep --dataset dfew|ferv39k|mafw|list --root DIR [options]\n\n"
           "Computes a face track for every clip of the dataset (all folds and splits, each clip once):\n"
           "per frame, dlib's face box and 68 landmarks of one person (the face overlapping its last box),\n"
           "or the previous frame's (prev) or the mean shape (mean) when no face is found. Where only others\n"
           "are found, its previous frame's for up to %d frames, then the largest face is followed (a cut).\n"
           "Writes OUT/landmarks/<clip id>.txt (one line per frame, see src/face/face_track.h) and\n"
           "OUT/prep_summary.json. Clips are shared over the MPI ranks; a clip whose track exists is\n"
           "skipped, so an interrupted run continues where it stopped, unless the clip is no longer the one\n"
           "the track was made from (its first line records the clip's size and a hash of its first and last\n"
           "bytes: a replaced or re-encoded clip is computed again, a moved or copied dataset is not).\n\n"
           "  --fold N            only the clips of fold N's train and test splits (DFEW, MAFW)\n"
           "  --out DIR           default ROOT/dfer_prep (for `list`, beside the list file; training reads the\n"
           "                      dfer_prep beside data.train_list, so prep a test list kept in another folder\n"
           "                      with --out TRAIN_LIST_FOLDER/dfer_prep)\n"
           "  --model PATH        dlib 68-point model (default %s)\n"
           "  --upsample N        retry frames without a face doubled up to N times (0..3, default 1; each\n"
           "                      doubling quadruples the pixels: 3 on a faceless 1080p frame takes ~30 s and\n"
           "                      ~1.7 GB per thread)\n"
           "  --threads N         worker threads per rank (default 1)\n"
           "  --ground-truth DIR  DIR/<clip id>.txt tracks (`dfer synth`: ROOT/synth/landmarks): report the\n"
           "                      normalised mean error (by the outer-eye-corner distance, points 36-45)\n"
           "  --limit N           only the first N clips (in clip-id order)\n"
           "  --recompute         compute every track again, also the cached ones (a cached track made with\n"
           "                      another --upsample or --model, or by a dfer with another rule for holding a\n"
           "                      missed face, is reused otherwise, and counted in the summary)\n"
           "  --hang-minutes M    a worker stuck in one clip for M minutes (or 10 times the longest clip so\n"
           "                      far), or no rank finishing a clip for that long while this one waits for\n"
           "                      them, ends the run with status 4 and a record in OUT/hangs.jsonl (default\n"
           "                      30; 0: never). A clip on which %d runs hung is skipped from then on.\n\n"
           "Unreadable clips are reported and counted (exit status 1 only when every clip failed). SIGUSR1,\n"
           "SIGTERM or Ctrl-C: every worker finishes its clip, exit status 3 (run again to continue); under\n"
           "Slurm, jobs/slurm/dfer.sbatch prep ... requeues on statuses 3 and 4.\n",
           FACE_HOLD_FRAMES, DEFAULT_MODEL, PREP_HANG_SKIP_RUNS);
}

/* ids come from split files: refuse ones that would leave OUT/landmarks */
static int id_is_safe(const char *id) {
    if (!*id || id[0] == '/' || strstr(id, "/../") || !strncmp(id, "../", 3)) return 0;
    size_t n = strlen(id);
    return !(n >= 3 && !strcmp(id + n - 3, "/..")) && strcmp(id, "..");
}

static int by_hung_id(const void *a, const void *b) {
    return strcmp(((const HungClip *)a)->id, ((const HungClip *)b)->id);
}

static const HungClip *hung_find(const Prep *p, const char *id) {
    HungClip key = {.id = (char *)id};
    return p->nhung ? bsearch(&key, p->hung, (size_t)p->nhung, sizeof key, by_hung_id) : NULL;
}

typedef struct HungList {
    HungClip *clips;
    int n, cap;
} HungList;

static int hang_record(const cJSON *o, int line_no, void *ctx, Err *err) {
    (void)line_no, (void)err;
    HungList *h = ctx;
    const char *id = json_get_string(o, "item", "");
    if (strcmp(json_get_string(o, "type", ""), "hang") || !*id) return 0; /* a rank that waited for others */
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->clips[i].id, id)) return h->clips[i].runs++, 0;
    if (h->n == h->cap) h->clips = xrealloc(h->clips, (size_t)(h->cap = h->cap ? 2 * h->cap : 8) * sizeof *h->clips);
    h->clips[h->n++] = (HungClip){.id = xstrdup(id), .runs = 1};
    return 0;
}

/* The clips earlier runs hung on, from path (absent: none), sorted by id. */
static HungClip *hung_read(const char *path, int *n) {
    HungList h = {0};
    Err err;
    if (fs_exists(path) && json_lines_each(path, JSON_LINES_TOLERATE_TORN_TAIL, hang_record, &h, &err) != 0)
        log0_warn("ignoring the hang records of earlier runs: %s", err.msg);
    if (h.n) qsort(h.clips, (size_t)h.n, sizeof *h.clips, by_hung_id);
    *n = h.n;
    return h.clips;
}

/* One clip: reuse its cached track, or compute and write it. Returns 1 when
 * skipped, 0 when computed, -1 when unreadable (or skipped after hanging runs). */
static int prep_clip(Prep *p, DlibDetector **det, const PrepClip *c, int64_t *n, double *d, Err *err) {
    char path[8192];
    snprintf(path, sizeof path, "%s/landmarks/%s.txt", p->out, c->id);
    if (!id_is_safe(c->id)) return err_set(err, "clip id '%s' (from %s) is not a relative path", c->id, c->path);
    FaceTrack t;
    if (!p->recompute && fs_exists(path) && prep_cached_track(p, c, path, &t, n)) {
        prep_account_track(p, c, &t, n, d);
        face_track_free(&t);
        return 1;
    }
    const HungClip *hung = hung_find(p, c->id);
    if (hung && hung->runs >= PREP_HANG_SKIP_RUNS)
        return err_set(err, "%s: skipped: %d runs of dfer prep hung on it (%s/%s; delete its lines there to try it "
                       "again)", c->path, hung->runs, p->out, RUN_HANGS_FILE);
    if (!*det) { /* made on the first clip to compute: a rerun of cached clips builds none */
        *det = dlib_detector_create(p->model, err);
        CHECK(*det != NULL, "%s", err->msg);
    }
    if (face_track_clip(*det, p->model, c->path, &p->cfg, &t, err) != 0) return -1;
    char comment[16800];
    if (prep_track_comment(p, c, comment, sizeof comment, err) != 0) return face_track_free(&t), -1;
    int rc = face_track_write(path, &t, comment, err);
    if (rc == 0) prep_account_track(p, c, &t, n, d);
    face_track_free(&t);
    return rc;
}

typedef struct Worker {
    Prep *p;
    int slot; /* its watchdog slot: 1 + its index */
} Worker;

static void *worker(void *arg) {
    Worker *w = arg;
    Prep *p = w->p;
    Err err;
    DlibDetector *det = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->next < p->count && !p->stop && !stop_requested()) {
        const PrepClip *c = &p->clips[p->next++];
        pthread_mutex_unlock(&p->mu);
        int64_t n[N_COUNT] = {0};
        double d[D_COUNT] = {0};
        watchdog_mark_slot(w->slot, c->id, "clip %s (%s) on worker thread %d", c->id, c->path, w->slot);
        int rc = prep_clip(p, &det, c, n, d, &err);
        /* a full disk (or spent quota) fails every clip after it too, each after its whole dlib work: stop */
        int full = rc < 0 && err_is_disk_full(&err);
        if (full) log_error("clip %s: %s: stopping, no further clip is computed", c->id, err.msg);
        else if (rc < 0) log_warn("clip %s failed (counted as unreadable): %s", c->id, err.msg);
        pthread_mutex_lock(&p->mu);
        if (full) p->disk_full = p->stop = 1;
        for (int i = 0; i < N_COUNT; i++) p->n[i] += n[i];
        for (int i = 0; i < D_COUNT; i++) p->d[i] += d[i];
        p->n[N_CLIPS]++;
        p->n[rc < 0 ? N_FAILED : rc ? N_SKIPPED : N_DONE]++;
        pthread_cond_signal(&p->progress);
    }
    p->workers_done++;
    pthread_cond_signal(&p->progress);
    pthread_mutex_unlock(&p->mu);
    watchdog_rest_slot(w->slot);
    if (det) dlib_detector_free(det);
    return NULL;
}

/* Rank 0's progress line: rewritten in place on a terminal, else a line every
 * 10 s (and the last one), so logs stay short. Under a launcher (mpirun,
 * srun) stdout is a pty that Open MPI forwards into files and pipes alike, so
 * isatty says nothing there: lines. */
static void progress(int64_t done, int64_t total, double t0, double *last, int final) {
    if (dfer_rank() != 0) return;
    int launched =
        getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("SLURM_PROCID");
    int tty = !launched && isatty(STDOUT_FILENO);
    double now = time_now();
    if (!final && now - *last < (tty ? 0.5 : 10.0)) return;
    *last = now;
    if (done > total) total = done; /* cached tracks found unreadable are computed too */
    double rate = done / (now - t0 > 1e-9 ? now - t0 : 1e-9);
    char eta[32];
    time_format_hms(rate > 0 ? (double)(total - done) / rate : 0, eta, sizeof eta);
    printf("%sprep: %lld/%lld clips %.2f clips/s ETA %s%s", tty ? "\r" : "", (long long)done, (long long)total, rate,
           eta, tty && !final ? "" : "\n");
    fflush(stdout);
}

/* The lowest rank whose ok is 0 prints its message; every rank gets 1 when all
 * were ok. Keeps the ranks in step on errors that may differ between them. */
static int agree(int ok, const Err *err) {
    int rank = dfer_rank() < 0 ? 0 : dfer_rank(), world = dfer_world(), mine = ok ? world : rank, first;
    CHECK_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (first < world && first == rank) fprintf(stderr, "dfer: error: %s\n", err->msg);
    return first == world;
}

static int by_id(const void *a, const void *b) { return strcmp(((const PrepClip *)a)->id, ((const PrepClip *)b)->id); }

/* The union of every split of the dataset (of one fold with fold > 0), sorted
 * by clip id, each id once. sets[] keeps the strings alive. */
static int collect(const char *kind, const char *root, int fold, Dataset *sets, int *nsets, PrepClip **out, int *count,
                   Err *err) {
    int folds = !strcmp(kind, "dfew") || !strcmp(kind, "mafw"), lo = folds ? (fold ? fold : 1) : 0,
        hi = folds ? (fold ? fold : 5) : 0, splits = !strcmp(kind, "list") ? 1 : 2, total = 0;
    *nsets = 0;
    for (int f = lo; f <= hi; f++)
        for (int s = 0; s < splits; s++) {
            if (dataset_open(kind, root, (Split)s, f, &sets[*nsets], err) != 0) return -1;
            total += sets[(*nsets)++].count;
        }
    PrepClip *c = xmalloc((size_t)(total ? total : 1) * sizeof *c);
    int n = 0;
    for (int i = 0; i < *nsets; i++)
        for (int k = 0; k < sets[i].count; k++) c[n++] = (PrepClip){sets[i].clips[k].id, sets[i].clips[k].path};
    qsort(c, (size_t)n, sizeof *c, by_id);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (!u || strcmp(c[u - 1].id, c[i].id)) c[u++] = c[i];
    *out = c, *count = u;
    return 0;
}

/* Runs the workers of this rank; the main thread reports progress, then waits
 * for the other ranks (a non-blocking barrier, so that it sees their progress on
 * the shared counter and its watchdog tells a slow rank from a hung one).
 * Returns the seconds this rank's own clips took. */
static double run_rank(Prep *p, int threads, int64_t total_work) {
    JobCounter counter; /* clips computed (not skipped) on all ranks */
    watchdog_mark("creating the shared counter of finished clips (all ranks)");
    job_counter_create(&counter);
    pthread_t *tid = xmalloc((size_t)threads * sizeof *tid);
    Worker *workers = xmalloc((size_t)threads * sizeof *workers);
    double t0 = time_now(), last = t0;
    for (int i = 0; i < threads; i++) {
        workers[i] = (Worker){.p = p, .slot = 1 + i};
        CHECK_ERRNUM(pthread_create(&tid[i], NULL, worker, &workers[i]));
    }
    int64_t reported = 0, computed_seen = 0, global = 0;
    int announced = 0; /* this rank closed the counter on its stop signal */
    pthread_mutex_lock(&p->mu);
    while (p->workers_done < threads || reported < p->n[N_CLIPS]) {
        if (reported == p->n[N_CLIPS]) {
            struct timespec ts;
            CHECK_SYS(clock_gettime(CLOCK_REALTIME, &ts));
            ts.tv_sec += 1;
            pthread_cond_timedwait(&p->progress, &p->mu, &ts);
        }
        int64_t finished = p->n[N_CLIPS], computed = finished - p->n[N_SKIPPED];
        int full = p->disk_full;
        pthread_mutex_unlock(&p->mu);
        /* the workers are watched in their own slots; this thread is watched only while it waits on the
         * counter (its waits for the workers would otherwise set the limit's longest gap) */
        watchdog_mark("adding this rank's finished clips to the shared counter on rank 0");
        for (; computed_seen < computed; computed_seen++) global = job_counter_next(&counter) + 1;
        /* closing the counter stops every rank: on a signal, and on a full disk (the ranks share it, as a rule) */
        int stop = (stop_requested() || full) && !announced ? (job_counter_close(&counter), announced = 1)
                                                  : job_counter_peek(&counter) >= JOB_COUNTER_CLOSED;
        watchdog_rest_slot(0);
        reported = finished;
        if (!stop && global < JOB_COUNTER_CLOSED) progress(global, total_work, t0, &last, 0);
        pthread_mutex_lock(&p->mu);
        if (stop && !p->stop) {
            p->stop = 1;
            log0_info("prep: stopping: every worker finishes the clip it is on");
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < threads; i++) CHECK_ERRNUM(pthread_join(tid[i], NULL));
    double seconds = time_now() - t0;
    free(workers);
    free(tid);
    MPI_Request all_done;
    CHECK_MPI(MPI_Ibarrier(MPI_COMM_WORLD, &all_done));
    for (int64_t seen = -1;;) {
        int done = 0;
        CHECK_MPI(MPI_Test(&all_done, &done, MPI_STATUS_IGNORE));
        if (done) break;
        /* progress is a clip finished anywhere: a rank still working is slow, not hung, while the count moves */
        if ((stop_requested() || p->disk_full) && !announced) job_counter_close(&counter), announced = 1;
        int64_t now = job_counter_peek(&counter);
        if (now >= JOB_COUNTER_CLOSED) { /* stopping: the others finish the clips they are on */
            p->stop = 1; /* the workers are joined: no lock needed */
            if (now != seen) watchdog_mark("waiting for the other ranks to finish the clips they are on (stopping)");
            seen = now;
            time_sleep(0.1);
            continue;
        }
        if (now != seen)
            watchdog_mark("waiting for the other ranks to finish their clips (%lld of %lld computed over all ranks)",
                          (long long)now, (long long)total_work);
        seen = now;
        progress(now, total_work, t0, &last, 0);
        time_sleep(0.1);
    }
    watchdog_mark("freeing the shared counter (all ranks)");
    job_counter_free(&counter);
    return seconds;
}

/* OUT/descriptions.jsonl: the label-free description of every track in OUT/landmarks (text/verbalize.h), the high
 * level's default input (model.descriptions). Every track, not only this run's clips: a run with --limit, or of a
 * test list after the training list, must not drop the descriptions of the clips prepared before. So it reads
 * files no run of prep wrote as well: one that is no track (a stray notes.txt) is left out with a warning naming
 * it, not a failure of a prep whose every clip has its track. */
static int describe_all(const char *out, Err *err) {
    char dir[4200], path[8400];
    snprintf(dir, sizeof dir, "%s/landmarks", out);
    char **ids = NULL;
    int n = 0, faceless = 0, unreadable = 0;
    if (fs_is_dir(dir) && face_track_list_ids(dir, &ids, &n, err) != 0) return -1; /* none when every clip failed */
    snprintf(path, sizeof path, "%s/descriptions.jsonl", out);
    int rc = verbalize_tracks(dir, (const char *const *)ids, n, 1, &faceless, &unreadable, path, err);
    if (rc == 0)
        log_info("prep: descriptions of %d clips (label-free, from the landmarks; %d without a face) in %s%s",
                 n - unreadable, faceless, path,
                 unreadable ? " (files that are no track left out: see the warnings)" : "");
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    return rc;
}

int cmd_prep(int argc, char **argv) {
    static const struct option opts[] = {
        {"dataset", required_argument, 0, 'd'}, {"root", required_argument, 0, 'r'},
        {"fold", required_argument, 0, 'f'},    {"out", required_argument, 0, 'o'},
        {"model", required_argument, 0, 'm'},   {"upsample", required_argument, 0, 'u'},
        {"threads", required_argument, 0, 't'}, {"ground-truth", required_argument, 0, 'g'},
        {"limit", required_argument, 0, 'l'},   {"hang-minutes", required_argument, 0, 'H'},
        {"recompute", no_argument, 0, 'R'},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *kind = NULL, *root = NULL, *out = NULL, *model_path = DEFAULT_MODEL, *gt = NULL;
    int fold = 0, threads = 1, limit = 0, recompute = 0, c;
    double hang_minutes = 30;
    FaceTrackConfig cfg;
    face_track_config_default(&cfg);
    char argv_line[4096] = "dfer";
    for (int i = 0; i < argc; i++)
        snprintf(argv_line + strlen(argv_line), sizeof argv_line - strlen(argv_line), " %s", argv[i]);
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int bad = 0;
        if (c == 'd') kind = optarg;
        else if (c == 'r') root = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'm') model_path = optarg;
        else if (c == 'g') gt = optarg;
        else if (c == 'f') bad = cli_int_option("prep", "--fold", optarg, 1, 5, &fold);
        else if (c == 'u') bad = cli_int_option("prep", "--upsample", optarg, 0, 3, &cfg.upsample);
        else if (c == 't') bad = cli_int_option("prep", "--threads", optarg, 1, 256, &threads);
        else if (c == 'l') bad = cli_int_option("prep", "--limit", optarg, 1, 2147483647, &limit);
        else if (c == 'H') bad = cli_double_option("prep", "--hang-minutes", optarg, 0, 0, 7 * 24 * 60, &hang_minutes);
        else if (c == 'R') recompute = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("prep", c, argv, opts);
        if (bad) return bad;
    }
    if (optind < argc) return cli_usage_error("prep", "unexpected argument '%s'", argv[optind]);
    if (!kind || !root) return cli_usage_error("prep", "--dataset and --root are required");
    if (threads >= WATCHDOG_SLOTS) return cli_usage_error("prep", "--threads takes 1..%d", WATCHDOG_SLOTS - 1);
    if (!dataset_kind_known(kind))
        return cli_usage_error("prep", "unknown dataset kind '%s' (dfew, ferv39k, mafw, list)", kind);
    int is_list = !strcmp(kind, "list");
    if (fold && strcmp(kind, "dfew") && strcmp(kind, "mafw"))
        return cli_usage_error("prep", "%s has no folds: leave out --fold", kind);
    Err err;
    if (is_list ? !fs_exists(root) || fs_is_dir(root) : !fs_is_dir(root)) {
        err_set(&err, "%s: no such %s (--root)", root, is_list ? "list file" : "dataset folder");
        return cli_fail(&err);
    }
    if (gt && !fs_is_dir(gt)) {
        err_set(&err, "%s: no such ground-truth folder (--ground-truth)", gt);
        return cli_fail(&err);
    }
    char out_buf[4096], root_copy[4096];
    if (!out) { /* dirname may write into its argument: a copy */
        snprintf(root_copy, sizeof root_copy, "%s", root);
        snprintf(out_buf, sizeof out_buf, "%s/" DFER_PREP_DIR, is_list ? dirname(root_copy) : root);
        out = out_buf;
    }

    Dist dist;
    dist_init(&dist, &argc, &argv);
    stop_signals_install();
    char what[8400], hangs[4200], summary[4200], earlier[2048];
    snprintf(what, sizeof what, "dfer prep of %s into %s", root, out);
    snprintf(hangs, sizeof hangs, "%s/%s", out, RUN_HANGS_FILE);
    snprintf(summary, sizeof summary, "%s/prep_summary.json", out);
    WatchdogSpec spec = {.floor_seconds = hang_minutes * 60, .what = what, .record_path = hangs,
                         .limit_setting = "--hang-minutes", .gap_name = "the starts of two clips on one worker thread",
                         .how_to_continue = "the same dfer prep command continues with the clips not yet done (a "
                                            "clip two runs hung on is then skipped and counted as unreadable)"};
    CHECK(watchdog_start(&spec) == 0, "a watchdog already runs in this process");
    if (dist.rank == 0 && hangs_since(hangs, summary, earlier, sizeof earlier))
        log_warn("%s: runs of dfer prep here since its last complete one ended on a hang: %s", out, earlier);
    Dataset sets[10];
    int nsets = 0, count = 0, rc = 1, nhung = 0;
    PrepClip *all = NULL;
    DlibModel *model = NULL;
    HungClip *hung = hung_read(hangs, &nhung);
    /* every rank reads the split files and the model; deterministic, but the ranks still agree before going on */
    watchdog_mark("reading the split files of %s", root);
    int ok = collect(kind, root, fold, sets, &nsets, &all, &count, &err) == 0;
    watchdog_mark("checking that every rank read the split files");
    if (agree(ok, &err)) {
        watchdog_mark("loading the landmark model %s", model_path);
        double t_load = time_now();
        ok = (model = dlib_model_load(model_path, &err)) != NULL;
        if (ok) log0_info("prep: loaded %s in %.1f s", model_path, time_now() - t_load);
        ok = ok && fs_mkdirs(out, &err) == 0; /* not before: a bad --model leaves no empty folder */
        watchdog_mark("checking that every rank loaded the landmark model");
        ok = agree(ok, &err);
    }
    if (ok) {
        if (limit && limit < count) count = limit;
        /* the folder the clips' paths start with (data/dataset.c: a list's relative paths are the list file's
         * folder's) */
        char root_dir[4096];
        snprintf(root_dir, sizeof root_dir, "%s", root);
        char *slash = is_list ? strrchr(root_dir, '/') : NULL;
        if (slash) *slash = 0;
        else if (is_list) snprintf(root_dir, sizeof root_dir, ".");
        Prep p = {.out = out, .gt = gt, .model_path = model_path, .root_dir = root_dir, .recompute = recompute,
                  .model = model, .cfg = cfg, .hung = hung, .nhung = nhung};
        watchdog_mark("looking for the cached tracks in %s/landmarks", out);
        PrepClip *mine = xmalloc((size_t)(count / dist.world + 1) * sizeof *mine);
        int64_t pending[2] = {0, 0}; /* clips of this rank, those without a cached track */
        for (int i = dist.rank; i < count; i += dist.world) {
            char path[8192];
            snprintf(path, sizeof path, "%s/landmarks/%s.txt", out, all[i].id);
            mine[p.count++] = all[i];
            pending[1] += recompute || !fs_exists(path);
        }
        pending[0] = p.count;
        if (threads > p.count) threads = p.count > 0 ? p.count : 1; /* no idle workers */
        watchdog_mark("counting the clips to compute over all ranks");
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, pending, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
        for (int i = 0; i < nhung && dist.rank == 0; i++) {
            char path[8400];
            snprintf(path, sizeof path, "%s/landmarks/%s.txt", out, hung[i].id);
            if (hung[i].runs < PREP_HANG_SKIP_RUNS && !fs_exists(path))
                log_warn("clip %s: an earlier run hung on it (%s); trying it once more, a second hang skips it",
                         hung[i].id, hangs);
        }
        log0_info("prep: %d clips of %s over %d rank(s) x %d thread(s); %lld to compute, %lld cached in %s/landmarks",
                  count, root, dist.world, threads, (long long)pending[1], (long long)(pending[0] - pending[1]), out);
        p.clips = mine;
        CHECK(pthread_mutex_init(&p.mu, NULL) == 0, "mutex");
        CHECK(pthread_cond_init(&p.progress, NULL) == 0, "condition variable");
        double seconds = run_rank(&p, threads, pending[1]);
        double rate = p.n[N_DONE] ? p.n[N_DONE] / (seconds > 1e-9 ? seconds : 1e-9) : 0;
        double *rates = xcalloc((size_t)dist.world, sizeof(double)), wall = seconds;
        watchdog_mark("gathering the counts of every rank");
        p.n[N_STOPPED] = p.stop || stop_requested();
        p.n[N_DISK_FULL] = p.disk_full;
        CHECK_MPI(MPI_Gather(&rate, 1, MPI_DOUBLE, rates, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD));
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, p.n, N_COUNT, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, p.d, D_COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &wall, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
        /* a full disk is no stop to resume by itself (status 3 would have Slurm requeue it into the same disk) */
        int full = p.n[N_DISK_FULL] > 0, written = 0, stopped = p.n[N_STOPPED] > 0 && !full;
        watchdog_mark(dist.rank == 0 ? "writing %s and the descriptions"
                                     : "waiting for rank 0 to write %s and the descriptions",
                      summary);
        if (full) { /* no summary: it marks a complete prep */
            if (dist.rank == 0)
                fprintf(stderr, "dfer: error: prep stopped: the disk holding %s is full (or the quota spent) with %lld "
                                "of %lld clips done, every track written whole; free space and run the same command "
                                "again: it continues with the rest\n",
                        out, (long long)(p.n[N_CLIPS] - p.n[N_FAILED]), (long long)count);
        } else if (stopped) { /* no summary: it marks a complete prep */
            if (dist.rank == 0)
                printf(
                    "prep: stopped by a signal with %lld of %lld clips done (%lld computed in this run), every track "
                    "written whole; the same command continues with the rest (exit status %d)\n",
                    (long long)(p.n[N_CLIPS] - p.n[N_FAILED]), (long long)count, (long long)p.n[N_DONE],
                    DFER_EXIT_INTERRUPTED);
        } else if (dist.rank == 0) {
            double last = 0;
            if (pending[1]) progress(p.n[N_DONE] + p.n[N_FAILED], pending[1], time_now() - wall, &last, 1);
            /* the descriptions first: the summary marks a complete prep, so a prep whose descriptions could not be
             * written writes none (as a stopped one: an earlier run's summary is left as it was) */
            written = describe_all(out, &err) == 0;
            if (written)
                written = prep_write_summary(argv_line, kind, root, out, gt, model_path, &cfg, threads, p.n, p.d,
                                             rates, dist.world, wall, summary, &err) == 0;
            if (!written) cli_fail(&err);
        }
        CHECK_MPI(MPI_Bcast(&written, 1, MPI_INT, 0, MPI_COMM_WORLD));
        /* a failure only when no clip has a track: a rerun that retries just the unreadable clips (the others
         * cached) must not turn a finished prep into a failed job */
        rc = full                                                 ? 1
             : stopped                                            ? DFER_EXIT_INTERRUPTED
             : !written                                           ? 1
             : p.n[N_CLIPS] > 0 && p.n[N_FAILED] == p.n[N_CLIPS] ? 1
                                                                  : 0;
        if (rc == 1 && written && dist.rank == 0)
            fprintf(stderr, "dfer: error: every one of %lld clips failed\n", (long long)p.n[N_CLIPS]);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.progress);
        free(rates);
        free(mine);
    }
    watchdog_stop();
    dlib_model_free(model);
    for (int i = 0; i < nhung; i++) free(hung[i].id);
    free(hung);
    free(all);
    for (int i = 0; i < nsets; i++) dataset_free(&sets[i]);
    dist_finalize(&dist);
    return rc;
}
