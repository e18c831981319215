/* dfer data check: validates a dataset in its official layout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "data/video.h"

static void usage(void) {
    printf("usage: dfer data check --dataset dfew|ferv39k|mafw|list --root DIR [--fold K]\n\n"
           "Reads the split files of a dataset (every fold unless --fold; for `list`, --root is the list\n"
           "file) and opens every clip: prints clips per split and class (in the project's class order),\n"
           "frame-count statistics, clips whose real frame count differs from the annotated one, and clips\n"
           "that cannot be read (each path). Exit status 1 when any clip is unreadable or a split file is bad.\n");
}

static int check_split(const char *kind, const char *root, Split split, int fold) {
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
        clip_source_close(c);
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
                                         {"fold", required_argument, 0, 'f'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *kind = NULL, *root = NULL;
    int fold = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd') kind = optarg;
        else if (c == 'r') root = optarg;
        else if (c == 'f') fold = atoi(optarg);
        else if (c == 'h') return usage(), 0;
        else return cli_usage_error("data", "unknown option");
    }
    if (!kind || !root) return cli_usage_error("data", "--dataset and --root are required");
    int has_folds = !strcmp(kind, "dfew") || !strcmp(kind, "mafw");
    int status = 0;
    char order[512];
    printf("class order: %s\n", class_order_text(!strcmp(kind, "mafw") ? 11 : 7, order, sizeof order));
    for (int f = has_folds ? (fold ? fold : 1) : 0; f <= (has_folds ? (fold ? fold : 5) : 0); f++)
        for (int s = 0; s < 2; s++) status |= check_split(kind, root, (Split)s, f);
    return status;
}
