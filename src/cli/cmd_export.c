/* dfer export: a CLIP checkpoint with a DFER-CLIP run's fine-tuned image encoder. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "train/export.h"

static void usage(void) {
    printf("usage: dfer export --run DIR --out CLIP.safetensors [--best]\n\n"
           "Writes a CLIP checkpoint (Hugging Face names) whose image encoder is the one a DFER-CLIP run\n"
           "fine-tuned (its model.safetensors, or best_model.safetensors with --best) and whose text tower\n"
           "and remaining tensors are the run's base CLIP's. Use it as model.weights of other runs, e.g.\n"
           "FineCLIPER on a frozen backbone that has learned expressions on another (synthetic) dataset.\n"
           "Put the CLIP vocabulary beside it or give model.vocab.\n");
}

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {{"run", required_argument, 0, 'r'}, {"out", required_argument, 0, 'o'},
                                         {"best", no_argument, 0, 'b'},      {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *run = NULL, *out = NULL;
    int best = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'r') run = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'b') best = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("export", c, argv, opts);
    }
    if (optind < argc) return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    if (!run || !out) return cli_usage_error("export", "--run and --out are required");
    if (!out[0]) return cli_usage_error("export", "--out is empty: name the file to write");
    Err err;
    if (export_clip_from_run(run, best, out, &err) != 0) return cli_fail(&err);
    printf("wrote %s: the image encoder of %s on its base CLIP\n", out, run);
    return 0;
}
