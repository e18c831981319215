/* dfer info: architecture, parameter counts and dtypes of a checkpoint, and its tensors with values that are
 * not finite (a NaN or infinity: what `dfer embed` and training stop on). */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/clip_names.h"
#include "io/safetensors.h"

static void usage(void) {
    printf("usage: dfer info FILE [--json]\n\n"
           "Prints the CLIP architecture inferred from a checkpoint's tensor shapes (any format `dfer\n"
           "convert` reads), the parameter counts of each tower, the dtypes, the naming scheme, and every\n"
           "tensor holding a NaN or infinity (with how many).\n");
}

static int64_t count_prefix(const TensorMap *m, const char *prefix) {
    int64_t n = 0;
    for (int i = 0; i < m->count; i++) {
        if (strncmp(m->items[i].name, prefix, strlen(prefix))) continue;
        int64_t k = 1;
        for (int d = 0; d < m->items[i].ndim; d++) k *= m->items[i].shape[d];
        n += k;
    }
    return n;
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int json = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("info", c, argv, opts);
    }
    if (argc - optind != 1) return cli_usage_error("info", "give one checkpoint FILE");
    Err err;
    TensorMap hf;
    ClipConfig cfg;
    NamingScheme scheme;
    if (clip_load_hf_scheme(argv[optind], &hf, &cfg, &scheme, &err) != 0) return cli_fail(&err);
    int64_t vis = count_prefix(&hf, "vision_model.") + count_prefix(&hf, "visual_projection.");
    int64_t txt = count_prefix(&hf, "text_model.") + count_prefix(&hf, "text_projection.");
    int64_t total = tmap_numel(&hf);
    int dtypes[DT_COUNT] = {0};
    for (int i = 0; i < hf.count; i++) dtypes[hf.items[i].dtype]++;
    char desc[160];
    clip_config_describe(&cfg, desc, sizeof desc);
    int64_t *nonfinite = xcalloc((size_t)(hf.count ? hf.count : 1), sizeof *nonfinite);
    int bad_tensors = 0;
    for (int i = 0; i < hf.count; i++) bad_tensors += (nonfinite[i] = tmap_entry_nonfinite(&hf.items[i])) > 0;
    /* a file dfer wrote has its digest checked by the read (a damaged one never gets here); the metadata is the file's,
     * kept by the map that renamed its tensors (OpenAI names) */
    int digest_checked = tmap_metadata(&hf, SAFETENSORS_DIGEST_KEY) ||
                         (hf.parent && tmap_metadata(hf.parent, SAFETENSORS_DIGEST_KEY));
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", argv[optind]);
        cJSON_AddStringToObject(o, "architecture", desc);
        cJSON_AddStringToObject(o, "naming", scheme == NAMES_HF ? "huggingface" : "openai");
        cJSON *cf = cJSON_AddObjectToObject(o, "config");
        cJSON_AddNumberToObject(cf, "image_size", cfg.image_size);
        cJSON_AddNumberToObject(cf, "patch_size", cfg.patch_size);
        cJSON_AddNumberToObject(cf, "vision_width", cfg.vision_width);
        cJSON_AddNumberToObject(cf, "vision_layers", cfg.vision_layers);
        cJSON_AddNumberToObject(cf, "vision_heads", cfg.vision_heads);
        cJSON_AddNumberToObject(cf, "context_length", cfg.context_length);
        cJSON_AddNumberToObject(cf, "vocab_size", cfg.vocab_size);
        cJSON_AddNumberToObject(cf, "text_width", cfg.text_width);
        cJSON_AddNumberToObject(cf, "text_layers", cfg.text_layers);
        cJSON_AddNumberToObject(cf, "text_heads", cfg.text_heads);
        cJSON_AddNumberToObject(cf, "embed_dim", cfg.embed_dim);
        cJSON_AddBoolToObject(cf, "long_clip", cfg.long_clip);
        cJSON_AddBoolToObject(cf, "has_vision", cfg.has_vision);
        cJSON_AddBoolToObject(cf, "has_text", cfg.has_text);
        cJSON_AddBoolToObject(cf, "gelu_erf", cfg.gelu_erf);
        cJSON_AddNumberToObject(o, "vision_parameters", (double)vis);
        cJSON_AddNumberToObject(o, "text_parameters", (double)txt);
        cJSON_AddNumberToObject(o, "parameters", (double)total);
        cJSON_AddNumberToObject(o, "tensors", hf.count);
        cJSON *dt = cJSON_AddObjectToObject(o, "dtypes");
        for (int d = 0; d < DT_COUNT; d++)
            if (dtypes[d]) cJSON_AddNumberToObject(dt, dtype_name((DType)d), dtypes[d]);
        cJSON_AddBoolToObject(o, "digest_checked", digest_checked);
        cJSON *nf = cJSON_AddObjectToObject(o, "nonfinite"); /* tensor name: NaN and infinite values */
        for (int i = 0; i < hf.count; i++)
            if (nonfinite[i]) cJSON_AddNumberToObject(nf, hf.items[i].name, (double)nonfinite[i]);
        char *s = cJSON_Print(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s\n  architecture: %s\n  naming:       %s\n", argv[optind], desc,
               scheme == NAMES_HF ? "Hugging Face" : "OpenAI / open_clip");
        if (cfg.has_vision)
            printf("  vision:       image %d, patch %d, width %d, %d layers, %d heads, %lld parameters\n",
                   cfg.image_size, cfg.patch_size, cfg.vision_width, cfg.vision_layers, cfg.vision_heads,
                   (long long)vis);
        if (cfg.has_text)
            printf("  text:         context %d, vocabulary %d, width %d, %d layers, %d heads, %lld parameters\n",
                   cfg.context_length, cfg.vocab_size, cfg.text_width, cfg.text_layers, cfg.text_heads, (long long)txt);
        if (!cfg.has_vision) printf("  vision:       none (a text-only file)\n");
        if (!cfg.has_text) printf("  text:         none (a vision-only file)\n");
        printf("  text input:   %s\n  activation:   %s\n", cfg.long_clip ? "Long-CLIP (248 positions)" : "CLIP",
               cfg.gelu_erf ? "GELU (erf)" : "QuickGELU");
        printf("  embedding:    %d\n  parameters:   %lld in %d tensors (vision %lld, text %lld)\n  dtypes:      ",
               cfg.embed_dim, (long long)total, hf.count, (long long)vis, (long long)txt);
        for (int d = 0; d < DT_COUNT; d++)
            if (dtypes[d]) printf(" %s x %d", dtype_name((DType)d), dtypes[d]);
        printf("\n  not finite:   %s", bad_tensors ? "" : "none (every value is a finite number)\n");
        for (int i = 0, shown = 0; i < hf.count; i++)
            if (nonfinite[i] && shown++ < 20)
                printf("%s%s (%lld NaN or infinite)%s", shown > 1 ? "                " : "", hf.items[i].name,
                       (long long)nonfinite[i], "\n");
        if (bad_tensors > 20) printf("                and %d tensors more\n", bad_tensors - 20);
        printf("  integrity:    %s\n", digest_checked ? "whole (the digest dfer wrote into it, " SAFETENSORS_DIGEST_KEY
                                                        ", checked)"
                                                      : "not known (no digest: not a safetensors file dfer wrote)");
    }
    free(nonfinite);
    tmap_free(&hf);
    return 0;
}
