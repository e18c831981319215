/* dfer data check: validates a dataset in its official layout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "data/video.h"

static void usage(void) {
    printf("usage: dfer data check --dataset dfew|ferv39k|mafw|list --root DIR [--fold K] [--full]\n\n"
           "subcommands:\n"
           "  check   validate a dataset in its official layout (or a DFER-CLIP list)\n\n"
           "Reads the split files of a dataset (every fold unless --fold; for `list`, --root is the list\n"
           "file) and opens every clip: prints clips per split and class (in the project's class order),\n"
           "frame-count statistics, clips whose real frame count differs from the annotated one, and clips\n"
           "that cannot be read (each path). Each clip's first, middle and last frames are decoded (every\n"
           "frame with --full), so empty or corrupt images are found before training does.\n"
           "Exit status 1 when any clip is unreadable or a split file is bad, 2 on a usage error.\n");
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

static int check_split(const char *kind, const char *root, Split split, int fold, int full) {
    Dataset d;
    Err err;
    const char *name = split == SPLIT_TRAIN ? "train" : "test";
    if (dataset_open(kind, root, split, fold, &d, &err) != 0) {
        fprintf(stderr, "dfer: error: %s\n", err.msg);
        return 1;
    }
    int per_class[DFER_MAX_CLASSES] = {0}, bad = 0, mismatch = 0, minf = 1 << 30, maxf = 0;
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
                printf("  frame count: %s is annotated with %d frames, has %d\n", d.clips[i].path, d.clips[i].annotated_frames, n);
        }
    }
    int ok = d.count - bad;
    printf("%s%s%d %s: %d clips (%d skipped as not single-labelled) from %s\n", kind, fold ? " fold " : "", fold, name,
           d.count, d.skipped, d.source);
    printf("  per class:");
    for (int c = 0; c < d.num_classes; c++) printf(" %s %d%s", k_class_names[c], per_class[c], c + 1 < d.num_classes ? "," : "\n");
    if (ok) printf("  frames: min %d, mean %.1f, max %d\n", minf, (double)total / ok, maxf);
    printf("  annotation/real frame-count mismatches: %d; unreadable clips: %d\n", mismatch, bad);
    dataset_free(&d);
    return bad ? 1 : 0;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "check")) return cli_usage_error("data", "unknown subcommand '%s' (check)", argv[1]);
    static const struct option opts[] = {{"dataset", required_argument, 0, 'd'}, {"root", required_argument, 0, 'r'},
                                         {"fold", required_argument, 0, 'f'}, {"full", no_argument, 0, 'F'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *kind = NULL, *root = NULL;
    int fold = 0, full = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd') kind = optarg;
        else if (c == 'r') root = optarg;
        else if (c == 'F') full = 1;
        else if (c == 'f') {
            char *end;
            long k = strtol(optarg, &end, 10);
            if (*end || end == optarg || k < 1 || k > 5) return cli_usage_error("data", "--fold takes 1..5, not '%s'", optarg);
            fold = (int)k;
        }
        else if (c == 'h') return usage(), 0;
        else return cli_usage_error("data", "unknown option");
    }
    if (!kind || !root) return cli_usage_error("data", "--dataset and --root are required");
    int has_folds = !strcmp(kind, "dfew") || !strcmp(kind, "mafw");
    if (strcmp(kind, "dfew") && strcmp(kind, "ferv39k") && strcmp(kind, "mafw") && strcmp(kind, "list"))
        return cli_usage_error("data", "unknown dataset '%s' (dfew, ferv39k, mafw, list)", kind);
    if (fold && !has_folds) return cli_usage_error("data", "%s has no folds: leave out --fold", kind);
    int status = 0;
    char order[512];
    printf("class order: %s\n", class_order_text(!strcmp(kind, "mafw") ? 11 : 7, order, sizeof order));
    for (int f = has_folds ? (fold ? fold : 1) : 0; f <= (has_folds ? (fold ? fold : 5) : 0); f++)
        for (int s = 0; s < 2; s++) status |= check_split(kind, root, (Split)s, f, full);
    return status;
}
