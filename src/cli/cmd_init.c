/* dfer init: a randomly initialised CLIP in Hugging Face names. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "model/clip_init.h"

static void usage(void) {
    printf("usage: dfer init --arch ARCH --out FILE.safetensors [--seed N] [--long-clip] [--test-noise S]\n\n"
           "Writes a randomly initialised CLIP (OpenAI's initialisation, Hugging Face tensor names, F32)\n"
           "for tests, benchmarks and the demo. It is not a trained model.\n\n"
           "  --arch ARCH      %s\n"
           "  --out FILE       the safetensors file written (atomically: a temporary file renamed into place)\n"
           "  --seed N         random seed (default 0); the same seed gives the same file\n"
           "  --long-clip      a 248-position text tower, as Long-CLIP\n"
           "  --test-noise S   add S * N(0,1) to every bias and layer-norm parameter (parity tests)\n",
           clip_config_preset_names());
}

int cmd_init(int argc, char **argv) {
    static const struct option opts[] = {{"arch", required_argument, 0, 'a'},     {"seed", required_argument, 0, 's'},
                                         {"out", required_argument, 0, 'o'},      {"long-clip", no_argument, 0, 'l'},
                                         {"test-noise", required_argument, 0, 'n'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *arch = NULL, *out = NULL;
    unsigned long long seed = 0;
    int long_clip = 0;
    double noise = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': arch = optarg; break;
        case 'o': out = optarg; break;
        case 's':
            if (cli_u64_option("init", "--seed", optarg, &seed)) return 2;
            break;
        case 'l': long_clip = 1; break;
        case 'n':
            if (cli_double_option("init", "--test-noise", optarg, 0, 0, INFINITY, &noise)) return 2;
            break;
        case 'h': usage(); return 0;
        default: return cli_option_error("init", c, argv, opts);
        }
    }
    if (optind < argc) return cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (!arch || !out) return cli_usage_error("init", "--arch and --out are required");
    if (!out[0]) return cli_usage_error("init", "--out is empty: name the file to write");
    Err err;
    ClipConfig cfg;
    if (clip_config_preset(arch, &cfg, &err) != 0) return cli_fail(&err);
    if (long_clip) cfg.context_length = 248, cfg.long_clip = 1;
    TensorMap m;
    if (clip_init_random(&cfg, seed, &m, &err) != 0) return cli_fail(&err);
    if (noise > 0) clip_perturb_for_tests(&m, seed, (float)noise);
    char seed_s[32], desc[160];
    snprintf(seed_s, sizeof seed_s, "%llu", seed);
    const char *meta[] = {"format", "pt", "dfer_init_arch", arch, "dfer_init_seed", seed_s, NULL};
    int rc = safetensors_write(out, &m, meta, &err);
    if (rc == 0)
        printf("wrote %s: random CLIP %s, %lld parameters, seed %llu\n", out,
               clip_config_describe(&cfg, desc, sizeof desc), (long long)tmap_numel(&m), seed);
    tmap_free(&m);
    return rc ? cli_fail(&err) : 0;
}
