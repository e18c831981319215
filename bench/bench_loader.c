/* Loader throughput: clips/s and frames/s for 16 x 224 x 224 training clips
 * (DFEW preset: brightness, sized crop, flip; CLIP normalisation, F32, or uint8
 * as the GPU path takes them) read from JPEG folders and from mp4 files, with
 * each number of worker threads of --threads (default 1,2). The data is a
 * synthetic set written to a temporary folder (--layout mafw, the default:
 * face-frame folders and mp4 clips; --layout dfew: JPEG folders only, which
 * needs no video encoder, e.g. on the GPU machine where the bundle stubs x264),
 * or an existing MAFW-layout one given as argument. Whether the loader keeps up
 * with a GPU: set its clips/s at the host's core count against `dfer bench`'s.
 * usage: bench_loader [--clips N] [--epochs E] [--layout mafw|dfew] [--threads 1,2,...] [--uint8] [DATASET_DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/timer.h"
#include "data/loader.h"
#include "data/synth.h"

/* A DFER-CLIP list over the dataset's clips, frame folders or mp4 files (the
 * annotated frame count, 0, is not used: the loader counts the real frames). */
static int write_list(int clips, const char *pattern, const char *list, Err *err) {
    size_t cap = (size_t)clips * 64 + 1, len = 0;
    char *text = xmalloc(cap);
    for (int i = 1; i <= clips; i++) {
        len += (size_t)snprintf(text + len, cap - len, pattern, i);
        len += (size_t)snprintf(text + len, cap - len, " 0 %d\n", i % 7);
    }
    int rc = fs_write_atomic(list, text, len, err);
    free(text);
    return rc;
}

static int g_threads[16] = {1, 2}, g_nthreads = 2, g_uint8;

static void run(const char *list, const char *what, int epochs) {
    Dataset d;
    Err err;
    if (dataset_open("list", list, SPLIT_TRAIN, 0, &d, &err) != 0) {
        fprintf(stderr, "bench_loader: %s\n", err.msg);
        exit(1);
    }
    for (int t = 0; t < g_nthreads; t++) {
        int threads = g_threads[t];
        LoaderConfig c = {.global_batch = 8, .rank = 0, .world = 1, .frames = 16, .size = 224, .train = 1, .seed = 1,
                          .normalise_clip = 1, .threads = threads, .prefetch = 2, .max_bad_fraction = 0.05f,
                          .augment_preset = "dfew", .uint8 = g_uint8};
        Loader *l;
        if (loader_create(&d, &c, &l, &err) != 0) {
            fprintf(stderr, "bench_loader: %s\n", err.msg);
            exit(1);
        }
        long clips = 0;
        Batch b;
        double t0 = time_now();
        for (int e = 0; e < epochs; e++) {
            loader_start_epoch(l, e);
            while (loader_next(l, &b, &err) == 0) clips += b.n;
        }
        double dt = time_now() - t0;
        printf("%-12s threads %2d: %ld clips in %.2f s: %.1f clips/s, %.0f decoded+augmented frames/s (%s)\n", what,
               threads, clips, dt, clips / dt, clips * 16 / dt, g_uint8 ? "uint8" : "F32, CLIP-normalised");
        loader_destroy(l);
    }
    dataset_free(&d);
}

int main(int argc, char **argv) {
    int clips = 40, epochs = 2, dfew = 0;
    const char *root = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--clips") && i + 1 < argc) clips = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--uint8")) g_uint8 = 1;
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) {
            const char *l = argv[++i];
            if (strcmp(l, "mafw") && strcmp(l, "dfew"))
                return fprintf(stderr, "bench_loader: --layout mafw or dfew\n"), 2;
            dfew = !strcmp(l, "dfew");
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            g_nthreads = 0;
            for (char *tok = strtok(argv[++i], ","); tok && g_nthreads < 16; tok = strtok(NULL, ","))
                if ((g_threads[g_nthreads++] = atoi(tok)) < 1)
                    return fprintf(stderr, "bench_loader: --threads 1,2,...\n"), 2;
            if (!g_nthreads) return fprintf(stderr, "bench_loader: --threads 1,2,...\n"), 2;
        } else if (argv[i][0] == '-') {
            return fprintf(stderr, "bench_loader: unknown option %s\n", argv[i]), 2;
        } else {
            root = argv[i];
        }
    }
    if (clips < 8) return fprintf(stderr, "bench_loader: --clips must be at least 8 (one batch)\n"), 2;
    char tmp[] = "/tmp/dfer-bench-loader-XXXXXX", dir[4096], list[4200];
    Err err;
    if (!root) {
        if (!mkdtemp(tmp)) return perror("mkdtemp"), 1;
        snprintf(dir, sizeof dir, "%s/%s", tmp, dfew ? "dfew" : "mafw");
        SynthConfig s;
        synth_config_default(&s);
        snprintf(s.layout, sizeof s.layout, "%s", dfew ? "dfew" : "mafw");
        s.clips = clips, s.size = 224, s.min_frames = 24, s.max_frames = 40, s.seed = 5;
        s.threads = g_threads[g_nthreads - 1] > 2 ? g_threads[g_nthreads - 1] : 2;
        fprintf(stderr, "bench_loader: writing %d synthetic 224x224 clips to %s\n", clips, dir);
        if (synth_generate(&s, dir, &err) != 0) return fprintf(stderr, "bench_loader: %s\n", err.msg), 1;
        root = dir;
    }
    snprintf(list, sizeof list, "%s/bench_frames.txt", root);
    if (write_list(clips, dfew ? "Clip/clip_224x224/%05d" : "data/faces/%05d", list, &err) != 0)
        return fprintf(stderr, "bench_loader: %s\n", err.msg), 1;
    run(list, "JPEG folders", epochs);
    if (!dfew) {
        snprintf(list, sizeof list, "%s/bench_mp4.txt", root);
        if (write_list(clips, "clips/%05d.mp4", list, &err) != 0)
            return fprintf(stderr, "bench_loader: %s\n", err.msg), 1;
        run(list, "mp4 files", epochs);
    }
    if (root == dir) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "bench_loader: could not remove %s\n", tmp);
    }
    return 0;
}
