/* Loader throughput: clips/s and frames/s for 16 x 224 x 224 training clips
 * (DFEW preset: brightness, sized crop, flip; CLIP normalisation, F32) read
 * from JPEG folders and from mp4 files, with 1 and 2 worker threads. The data
 * is a synthetic MAFW-layout set (both face-frame folders and mp4 clips)
 * written to a temporary folder, or an existing one given as argument.
 * usage: bench_loader [--clips N] [--epochs E] [DATASET_DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/timer.h"
#include "data/loader.h"
#include "data/synth.h"

/* A DFER-CLIP list over the dataset's clips, frame folders or mp4 files (the
 * annotated frame count, 0, is not used: the loader counts the real frames). */
static int write_list(int clips, int mp4, const char *list, Err *err) {
    size_t cap = (size_t)clips * 64 + 1, len = 0;
    char *text = xmalloc(cap);
    for (int i = 1; i <= clips; i++)
        len += (size_t)snprintf(text + len, cap - len, mp4 ? "clips/%05d.mp4 0 %d\n" : "data/faces/%05d 0 %d\n", i, i % 11);
    int rc = fs_write_atomic(list, text, len, err);
    free(text);
    return rc;
}

static void run(const char *list, const char *what, int epochs) {
    Dataset d;
    Err err;
    if (dataset_open("list", list, SPLIT_TRAIN, 0, &d, &err) != 0) {
        fprintf(stderr, "bench_loader: %s\n", err.msg);
        exit(1);
    }
    for (int threads = 1; threads <= 2; threads++) {
        LoaderConfig c = {.global_batch = 8, .rank = 0, .world = 1, .frames = 16, .size = 224, .train = 1, .seed = 1,
                          .normalise_clip = 1, .threads = threads, .prefetch = 2, .max_bad_fraction = 0.05f,
                          .augment_preset = "dfew"};
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
        printf("%-12s threads %d: %ld clips in %.2f s: %.1f clips/s, %.0f decoded+augmented frames/s\n", what, threads,
               clips, dt, clips / dt, clips * 16 / dt);
        loader_destroy(l);
    }
    dataset_free(&d);
}

int main(int argc, char **argv) {
    int clips = 40, epochs = 2;
    const char *root = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--clips") && i + 1 < argc) clips = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else root = argv[i];
    }
    char tmp[] = "/tmp/dfer-bench-loader-XXXXXX", dir[4096], list[4200];
    Err err;
    if (!root) {
        if (!mkdtemp(tmp)) return perror("mkdtemp"), 1;
        snprintf(dir, sizeof dir, "%s/mafw", tmp);
        SynthConfig s;
        synth_config_default(&s);
        snprintf(s.layout, sizeof s.layout, "mafw");
        s.clips = clips, s.size = 224, s.min_frames = 24, s.max_frames = 40, s.threads = 2, s.seed = 5;
        fprintf(stderr, "bench_loader: writing %d synthetic 224x224 clips to %s\n", clips, dir);
        if (synth_generate(&s, dir, &err) != 0) return fprintf(stderr, "bench_loader: %s\n", err.msg), 1;
        root = dir;
    }
    snprintf(list, sizeof list, "%s/bench_frames.txt", root);
    if (write_list(clips, 0, list, &err) != 0) return fprintf(stderr, "bench_loader: %s\n", err.msg), 1;
    run(list, "JPEG folders", epochs);
    snprintf(list, sizeof list, "%s/bench_mp4.txt", root);
    if (write_list(clips, 1, list, &err) != 0) return fprintf(stderr, "bench_loader: %s\n", err.msg), 1;
    run(list, "mp4 files", epochs);
    if (root == dir) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "bench_loader: could not remove %s\n", tmp);
    }
    return 0;
}
