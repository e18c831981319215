/* dfer data check: validates a dataset in its official layout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/augment.h"
#include "data/av_frames.h"
#include "data/classes.h"
#include "data/dataset.h"
#include "data/encode.h"
#include "data/loader.h"
#include "data/video.h"

static void usage(void) {
    printf("usage: dfer data check --dataset dfew|ferv39k|mafw|list --root DIR [--fold K] [--split train|test] "
           "[--full]\n"
           "       dfer data preview --dataset NAME --root DIR --out FILE.png [--fold K] [--split train|test]\n"
           "                         [--clips N] [--frames T] [--size S] [--epoch E] [--seed N]\n"
           "                         [--augment dfew|ferv39k|mafw]\n\n"
           "subcommands:\n"
           "  check    validate a dataset in its official layout (or a DFER-CLIP list)\n"
           "  preview  write a PNG of what training sees: the loader's first N clips of an epoch\n"
           "           (one row per clip, its T sampled frames after augmentation), and print\n"
           "           each row's clip id and label\n\n"
           "check reads the split files of a dataset (every fold unless --fold, both splits unless --split;\n"
           "for `list`, --root is the list file) and opens every clip: prints clips per split and class (in the\n"
           "project's class order), frame-count statistics, clips whose real frame count differs from the\n"
           "annotated one, and clips that cannot be read (each path). Each clip's first, middle and\n"
           "last frames are decoded (every frame with --full), so empty or corrupt images are found\n"
           "before training does. Exit status 1 when any clip is unreadable or a split file is bad,\n"
           "2 on a usage error.\n\n"
           "preview defaults: fold 1, split train, 8 clips, 16 frames, 112 px, epoch 0, seed 1: the\n"
           "shuffle and the augmentation draws of `dfer train`'s defaults (train.seed 1, data.frames 16;\n"
           "a clip's draws follow its frame sampling, so give --frames and --seed as the run has them);\n"
           "the augmentation is the dataset's own, or --augment's preset (data.augment in training).\n");
}

/* A video that decodes to less than its container declares: the loader trains on what decodes (the
 * frames are sampled from those), but a copy cut short is usually a download or copy to redo. */
static void print_truncated(const char *path, const VideoLength *len) {
    char declared[96];
    av_declared_text(declared, sizeof declared, len->declared_s, len->declared_frames);
    printf("  truncated: %s decodes to %.2f s, %d frames; its video stream declares %s\n", path, len->decoded_s,
           len->decoded_frames, declared);
}

/* Decodes the first, middle and last frames (every frame when full): a folder
 * lists its files without reading them, so an empty or corrupt image shows up
 * only here. */
static int decode_check(ClipSource *c, int full, Err *err) {
    int n = clip_source_frame_count(c), probe[3] = {0, n / 2, n - 1};
    int count = full ? n : 3;
    int *idx = xmalloc((size_t)count * sizeof(int));
    for (int i = 0; i < count; i++) idx[i] = full ? i : probe[i];
    ImageU8 *frames = xcalloc((size_t)count, sizeof(ImageU8));
    int rc = 0;
    /* one frame at a time keeps the memory of a --full check at one frame */
    for (int i = 0; i < count && rc == 0; i++) {
        rc = clip_source_read_frames(c, &idx[i], 1, &frames[i], err);
        if (rc == 0) image_free(&frames[i]);
    }
    free(frames);
    free(idx);
    return rc;
}

/* One split file (a list is one file, either split: its class order follows its labels, 7 or 11 classes). */
static int check_split(const char *kind, const char *root, Split split, int fold, int full) {
    Dataset d;
    Err err;
    int list = !strcmp(kind, "list");
    const char *name = list ? "" : split == SPLIT_TRAIN ? " train" : " test";
    if (dataset_open(kind, root, split, fold, &d, &err) != 0) {
        fprintf(stderr, "dfer: error: %s\n", err.msg);
        return 1;
    }
    if (list) {
        char order[512];
        printf("class order: %s\n", class_order_text(d.num_classes, order, sizeof order));
    }
    int per_class[DFER_MAX_CLASSES] = {0}, bad = 0, mismatch = 0, truncated = 0, minf = 1 << 30, maxf = 0;
    long total = 0;
    for (int i = 0; i < d.count; i++) {
        per_class[d.clips[i].label]++;
        ClipSource *c;
        if (clip_source_open(d.clips[i].path, &c, &err) != 0) {
            printf("  unreadable: %s\n", err.msg);
            bad++;
            continue;
        }
        int n = clip_source_frame_count(c);
        const VideoLength *len = clip_source_video_length(c);
        if (len && len->truncated && truncated++ < 20)
            print_truncated(d.clips[i].path, len);
        int decoded = decode_check(c, full, &err);
        clip_source_close(c);
        if (decoded != 0) {
            printf("  unreadable: %s\n", err.msg);
            bad++;
            continue;
        }
        total += n;
        minf = n < minf ? n : minf;
        maxf = n > maxf ? n : maxf;
        if (d.clips[i].annotated_frames >= 0 && d.clips[i].annotated_frames != n) {
            if (mismatch++ < 20)
                printf("  frame count: %s is annotated with %d frames, has %d\n", d.clips[i].path,
                       d.clips[i].annotated_frames, n);
        }
    }
    int ok = d.count - bad;
    char fold_text[32] = "";
    if (fold) snprintf(fold_text, sizeof fold_text, " fold %d", fold);
    printf("%s%s%s: %d clips (%d skipped as not single-labelled) from %s\n", kind, fold_text, name, d.count, d.skipped,
           d.source);
    printf("  per class:");
    for (int c = 0; c < d.num_classes; c++)
        printf(" %s %d%s", k_class_names[c], per_class[c], c + 1 < d.num_classes ? "," : "\n");
    if (ok) printf("  frames: min %d, mean %.1f, max %d\n", minf, (double)total / ok, maxf);
    printf("  annotation/real frame-count mismatches: %d; truncated videos: %d; unreadable clips: %d\n", mismatch,
           truncated, bad);
    dataset_free(&d);
    return bad ? 1 : 0;
}

/* A fold's test clips must not be in its training split (they would be scored after being trained on): each
 * shared clip named (the first 20), 1 when there is one. Split files that do not open were reported already. */
static int check_train_test_apart(const char *kind, const char *root, int fold) {
    Dataset train, test;
    Err err;
    if (dataset_open(kind, root, SPLIT_TRAIN, fold, &train, &err) != 0) return 0;
    if (dataset_open(kind, root, SPLIT_TEST, fold, &test, &err) != 0) {
        dataset_free(&train);
        return 0;
    }
    const ClipRecord *first;
    int shared = dataset_shared_clips(&train, &test, &first);
    if (shared) {
        printf("  in both splits: %d clip%s of the test split %s also in the training split %s:", shared,
               shared > 1 ? "s" : "", shared > 1 ? "are" : "is", train.source);
        int listed = 0;
        for (int i = 0; i < test.count && listed < 20; i++)
            for (int j = 0; j < train.count; j++)
                if (!strcmp(test.clips[i].path, train.clips[j].path)) {
                    printf(" %s", test.clips[i].id);
                    listed++;
                    break;
                }
        printf("%s\n", shared > listed ? " ..." : "");
    }
    dataset_free(&train);
    dataset_free(&test);
    return shared ? 1 : 0;
}

/* The most a preview's batch of float frames may take (the loader holds it twice: one batch made ahead). */
static const double k_preview_max_bytes = 4e9;

/* The loader's first batch of an epoch as a grid: rows = clips, columns = frames, raw [0,1] values. */
static int preview(const char *kind, const char *root, int fold, Split split, int clips, int frames, int size,
                   int epoch, long seed, const char *augment, const char *out) {
    Err err;
    Dataset d;
    if (dataset_open(kind, root, split, fold, &d, &err) != 0) return cli_fail(&err);
    if (clips > d.count) clips = d.count;
    LoaderConfig lc = {.global_batch = clips, .rank = 0, .world = 1, .frames = frames, .size = size,
                       .train = split == SPLIT_TRAIN, .seed = (uint64_t)seed, .normalise_clip = 0, .threads = 2,
                       .prefetch = 1, .max_bad_fraction = 1.0f, .augment_preset = augment};
    Loader *l;
    if (loader_create(&d, &lc, &l, &err) != 0) {
        dataset_free(&d);
        return cli_fail(&err);
    }
    char described[256];
    augment_describe(loader_augment_config(l), described, sizeof described);
    printf("augmentation (%s): %s\n", augment ? augment : kind, described);
    loader_start_epoch(l, epoch);
    Batch b;
    int rc = loader_next(l, &b, &err);
    if (rc == 0) {
        int W = frames * size, H = b.n * size;
        uint8_t *rgb = xcalloc((size_t)W * H * 3, 1);
        const float *f = b.frames;
        for (int n = 0; n < b.n; n++)
            for (int t = 0; t < frames; t++)
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < size; y++)
                        for (int x = 0; x < size; x++) {
                            float v = f[((((size_t)n * frames + t) * 3 + c) * size + y) * size + x];
                            int q = (int)(v * 255.0f + 0.5f);
                            rgb[(((size_t)(n * size + y)) * W + (size_t)t * size + x) * 3 + c] =
                                (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
                        }
        for (int n = 0; n < b.n; n++) {
            const ClipRecord *r = b.indices[n] >= 0 ? &d.clips[b.indices[n]] : NULL;
            printf("row %d: clip %s, label %d (%s)\n", n, r ? r->id : "(unreadable)", b.labels[n],
                   b.labels[n] >= 0 ? k_class_names[b.labels[n]] : "-");
        }
        rc = image_write_png(out, rgb, W, H, 3, &err);
        free(rgb);
        if (rc == 0) printf("wrote %s: %d clips x %d frames at %d px (%s split, epoch %d)\n", out, b.n, frames, size,
                            split == SPLIT_TRAIN ? "train" : "test", epoch);
    }
    loader_destroy(l);
    dataset_free(&d);
    return rc ? cli_fail(&err) : 0;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    int is_preview = !strcmp(argv[1], "preview");
    if (strcmp(argv[1], "check") && !is_preview)
        return cli_usage_error("data", "unknown subcommand '%s' (check, preview)", argv[1]);
    static const struct option opts[] = {{"dataset", required_argument, 0, 'd'}, {"root", required_argument, 0, 'r'},
                                         {"fold", required_argument, 0, 'f'}, {"full", no_argument, 0, 'F'},
                                         {"out", required_argument, 0, 'o'},  {"split", required_argument, 0, 's'},
                                         {"clips", required_argument, 0, 'n'}, {"frames", required_argument, 0, 't'},
                                         {"size", required_argument, 0, 'z'}, {"epoch", required_argument, 0, 'e'},
                                         {"seed", required_argument, 0, 'S'}, {"augment", required_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *kind = NULL, *root = NULL, *out = NULL, *augment = NULL;
    int fold = 0, full = 0, clips = 8, frames = 16, size = 112, epoch = 0, seed = 1; /* training's defaults */
    Split split = SPLIT_TRAIN;
    /* the last option given that only the other subcommand reads (`preview --full`, `check --clips 2` were ignored
     * without a word), and whether --split was given (`check --split test` checked both splits) */
    const char *preview_only = NULL, *check_only = NULL;
    int split_given = 0;
    optind = 2;
    int c, option_index = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, &option_index)) != -1) {
        int bad = 0;
        if (strchr("anztSeo", c)) preview_only = opts[option_index].name;
        else if (c == 'F') check_only = opts[option_index].name;
        if (c == 'd') kind = optarg;
        else if (c == 'r') root = optarg;
        else if (c == 'F') full = 1;
        else if (c == 'o') out = optarg;
        else if (c == 'a') {
            if (!augment_preset_known(optarg))
                return cli_usage_error("data", "--augment takes one of " AUGMENT_PRESETS ", not '%s'", optarg);
            augment = optarg;
        }
        else if (c == 'f') bad = cli_int_option("data", "--fold", optarg, 1, 5, &fold);
        else if (c == 'n') bad = cli_int_option("data", "--clips", optarg, 1, 256, &clips);
        else if (c == 't') bad = cli_int_option("data", "--frames", optarg, 1, 64, &frames);
        else if (c == 'z') bad = cli_int_option("data", "--size", optarg, 8, 1024, &size);
        else if (c == 'e') bad = cli_int_option("data", "--epoch", optarg, 0, 1000000, &epoch);
        else if (c == 'S') bad = cli_int_option("data", "--seed", optarg, 0, 2147483647, &seed);
        else if (c == 's') {
            split_given = 1;
            if (!strcmp(optarg, "train")) split = SPLIT_TRAIN;
            else if (!strcmp(optarg, "test")) split = SPLIT_TEST;
            else return cli_usage_error("data", "--split takes train or test, not '%s'", optarg);
        }
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("data", c, argv, opts);
        if (bad) return bad;
    }
    if (optind < argc) return cli_usage_error("data", "unexpected argument '%s'", argv[optind]);
    if (!kind || !root) return cli_usage_error("data", "--dataset and --root are required");
    int has_folds = !strcmp(kind, "dfew") || !strcmp(kind, "mafw");
    if (!dataset_kind_known(kind))
        return cli_usage_error("data", "unknown dataset '%s' (dfew, ferv39k, mafw, list)", kind);
    if (fold && !has_folds) return cli_usage_error("data", "%s has no folds: leave out --fold", kind);
    if (is_preview && check_only) return cli_usage_error("data", "--%s is for check, not preview", check_only);
    if (!is_preview && preview_only) return cli_usage_error("data", "--%s is for preview, not check", preview_only);
    if (is_preview) {
        if (!out) return cli_usage_error("data", "preview needs --out FILE.png");
        /* each option is in range, but together they can ask for a batch no machine holds (256 clips x 64 frames at
         * 1024 px: 206 GB of floats, a picture 65536 px wide); the loader would fail on its allocation without a
         * word on why */
        double batch_bytes = (double)clips * frames * 3 * size * size * sizeof(float);
        if (batch_bytes > k_preview_max_bytes)
            return cli_usage_error("data", "--clips %d --frames %d --size %d: the preview's batch would take %.1f GB "
                                   "(%d x %d frames of %d x %d px as floats), more than the %.0f GB a preview may: "
                                   "ask for fewer clips or frames, or a smaller size", clips, frames, size,
                                   batch_bytes / 1e9, clips, frames, size, size, k_preview_max_bytes / 1e9);
        return preview(kind, root, fold ? fold : 1, split, clips, frames, size, epoch, seed, augment, out);
    }
    if (!strcmp(kind, "list")) return check_split(kind, root, SPLIT_TRAIN, 0, full);
    int status = 0;
    char order[512];
    printf("class order: %s\n", class_order_text(!strcmp(kind, "mafw") ? 11 : 7, order, sizeof order));
    for (int f = has_folds ? (fold ? fold : 1) : 0; f <= (has_folds ? (fold ? fold : 5) : 0); f++) {
        for (int s = 0; s < 2; s++)
            if (!split_given || (Split)s == split) status |= check_split(kind, root, (Split)s, f, full);
        status |= check_train_test_apart(kind, root, f);
    }
    return status;
}
