/* dfer export: a CLIP checkpoint with a DFER-CLIP run's fine-tuned image encoder. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "train/export.h"

static void usage(void) {
    printf("usage: dfer export --run DIR --out CLIP.safetensors [--best] [--dtype keep|f32|f16|bf16]\n\n"
           "Writes a CLIP checkpoint (Hugging Face names) whose image encoder is the one a DFER-CLIP run\n"
           "fine-tuned (its model.safetensors, or best_model.safetensors with --best) and whose text tower\n"
           "and remaining tensors are the run's base CLIP's. Use it as model.weights of other runs, e.g.\n"
           "FineCLIPER on a frozen backbone that has learned expressions on another (synthetic) dataset.\n"
           "Put the CLIP vocabulary beside it or give model.vocab.\n\n"
           "  --dtype D   keep: each tensor in the base CLIP's dtype, the fine-tuned encoder (F32 in the run)\n"
           "              rounded to it (default; an F16 CLIP stays an F16 CLIP); or every tensor in f32, f16\n"
           "              or bf16 (f32 keeps the encoder's every bit)\n");
}

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {{"run", required_argument, 0, 'r'}, {"out", required_argument, 0, 'o'},
                                         {"best", no_argument, 0, 'b'},      {"help", no_argument, 0, 'h'},
                                         {"dtype", required_argument, 0, 'd'}, {0, 0, 0, 0}};
    const char *run = NULL, *out = NULL;
    int best = 0, keep = 1, c;
    DType dtype = DT_F32;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'r') run = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'b') best = 1;
        else if (c == 'd') {
            if (cli_dtype_option("export", optarg, &keep, &dtype) != 0) return 2;
        }
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("export", c, argv, opts);
    }
    if (optind < argc) return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    if (!run || !out) return cli_usage_error("export", "--run and --out are required");
    if (!out[0]) return cli_usage_error("export", "--out is empty: name the file to write");
    Err err;
    if (export_clip_from_run(run, best, keep ? NULL : &dtype, out, &err) != 0) return cli_fail(&err);
    printf("wrote %s: the image encoder of %s on its base CLIP\n", out, run);
    return 0;
}
