/* dfer convert: any supported CLIP checkpoint to Hugging Face-named safetensors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/clip_names.h"
#include "io/safetensors.h"

static void usage(void) {
    printf("usage: dfer convert IN OUT.safetensors [--dtype keep|f32|f16|bf16] [--openai-names]\n\n"
           "Reads a CLIP checkpoint (Hugging Face safetensors or a directory of them, OpenAI TorchScript\n"
           "ViT-*.pt, Long-CLIP .pt, open_clip files) and writes it as safetensors with Hugging Face\n"
           "CLIPModel names (q/k/v split, projections transposed), or OpenAI names with --openai-names.\n"
           "The architecture is inferred from the tensor shapes and checked.\n\n"
           "  --dtype D   keep the stored dtypes (default) or convert every tensor to f32, f16 or bf16\n");
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {{"dtype", required_argument, 0, 'd'}, {"openai-names", no_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dtype = "keep";
    int openai = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'd') dtype = optarg;
        else if (c == 'o') openai = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("convert", c, argv, opts);
    }
    if (argc - optind != 2) return cli_usage_error("convert", "give IN and OUT");
    DType target = DT_F32;
    int keep;
    if (cli_dtype_option("convert", dtype, &keep, &target) != 0) return 2;
    const char *in = argv[optind], *out = argv[optind + 1];
    Err err;
    TensorMap hf;
    ClipConfig cfg;
    NamingScheme scheme;
    if (clip_load_hf_scheme(in, &hf, &cfg, &scheme, &err) != 0) return cli_fail(&err);
    TensorMap conv, names;
    tmap_init(&conv, in);
    int rc = 0;
    for (int i = 0; i < hf.count && rc == 0; i++) {
        const TensorEntry *e = &hf.items[i];
        rc = tmap_add_converted(&conv, e->name, keep ? e->dtype : target, e->ndim, e->shape, e->data, e->dtype, 0,
                                &err);
    }
    const TensorMap *final = &conv;
    if (rc == 0 && openai) {
        rc = clip_names_hf_to_openai(&conv, &names, &err);
        final = &names;
    }
    char desc[160];
    clip_config_describe(&cfg, desc, sizeof desc);
    const char *meta[] = {"format", "pt", "dfer_source", in, "dfer_architecture", desc, NULL};
    if (rc == 0) rc = safetensors_write(out, final, meta, &err);
    if (rc == 0)
        printf("wrote %s: %s, %d tensors with %s names (read %s names from %s)\n", out, desc, final->count,
               openai ? "OpenAI" : "Hugging Face", scheme == NAMES_HF ? "Hugging Face" : "OpenAI", in);
    if (openai && final == &names) tmap_free(&names);
    tmap_free(&conv);
    tmap_free(&hf);
    return rc ? cli_fail(&err) : 0;
}
