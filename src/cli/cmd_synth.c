/* dfer synth: the synthetic DFER benchmark. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "data/synth.h"

static void usage(void) {
    printf("usage: dfer synth --layout dfew|ferv39k|mafw --out DIR [--clips N] [--seed S] [options]\n\n"
           "Writes a synthetic dynamic facial expression dataset in the official layout of DFEW, FERV39k or\n"
           "MAFW: procedurally rendered faces (68-point iBUG geometry, identity, pose, lighting, clutter,\n"
           "noise) with class-specific expression dynamics (onset, apex, partial offset, random intensity)\n"
           "and label-free distractors (talking, blinks, gaze shifts, head motion). Beside the official\n"
           "files, DIR/synth/ holds ground-truth landmarks and parsing maps per frame, and per-clip captions\n"
           "and descriptions (some leak the emotion word). The same seed gives identical files.\n\n"
           "  --clips N          clips (default 300)\n"
           "  --seed S           seed (default 1)\n"
           "  --classes 7|11     default 7 (11 only with mafw, whose default it is)\n"
           "  --difficulty D     easy, medium (default) or hard: how subtle and noisy\n"
           "  --size PIXELS      frame side, 32..512 (default 112)\n"
           "  --min-frames N     shortest clip (default 12; below 16 exercises edge padding)\n"
           "  --max-frames N     longest clip (default 40)\n"
           "  --threads N        worker threads (default: all cores)\n"
           "  --leak-rate F      share of descriptions that name the emotion (default 0.3)\n"
           "  --force            replace the synthetic dataset DIR holds (what synth wrote there is removed first)\n"
           "  --contact-sheet F  instead of a dataset, write a PNG grid of neutral and apex frames per class\n");
}

int cmd_synth(int argc, char **argv) {
    static const struct option opts[] = {
        {"layout", required_argument, 0, 'l'},     {"out", required_argument, 0, 'o'},
        {"clips", required_argument, 0, 'n'},      {"seed", required_argument, 0, 's'},
        {"classes", required_argument, 0, 'c'},    {"difficulty", required_argument, 0, 'd'},
        {"size", required_argument, 0, 'z'},       {"min-frames", required_argument, 0, 'm'},
        {"max-frames", required_argument, 0, 'M'}, {"threads", required_argument, 0, 't'},
        {"leak-rate", required_argument, 0, 'r'},  {"force", no_argument, 0, 'f'},
        {"contact-sheet", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    SynthConfig c;
    synth_config_default(&c);
    c.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    const char *out = NULL, *sheet = NULL;
    int classes_set = 0;
    optind = 1;
    int o, bad = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': snprintf(c.layout, sizeof c.layout, "%s", optarg); break;
        case 'o': out = optarg; break;
        case 'n': bad = cli_int_option("synth", "--clips", optarg, 1, 10000000, &c.clips); break;
        case 's': bad = cli_u64_option("synth", "--seed", optarg, &c.seed); break;
        case 'c': bad = cli_int_option("synth", "--classes", optarg, 7, 11, &c.classes), classes_set = 1; break;
        case 'd':
            c.difficulty = !strcmp(optarg, "easy")     ? 0
                           : !strcmp(optarg, "medium") ? 1
                           : !strcmp(optarg, "hard")   ? 2
                                                       : -1;
            if (c.difficulty < 0) return cli_usage_error("synth", "--difficulty must be easy, medium or hard");
            break;
        case 'z': bad = cli_int_option("synth", "--size", optarg, 32, 512, &c.size); break;
        case 'm': bad = cli_int_option("synth", "--min-frames", optarg, 1, 100000, &c.min_frames); break;
        case 'M': bad = cli_int_option("synth", "--max-frames", optarg, 1, 100000, &c.max_frames); break;
        case 't': bad = cli_int_option("synth", "--threads", optarg, 1, 4096, &c.threads); break;
        case 'r': bad = cli_double_option("synth", "--leak-rate", optarg, 0, 0, 1, &c.leak_rate); break;
        case 'f': c.force = 1; break;
        case 'C': sheet = optarg; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("synth", o, argv, opts);
        }
        if (bad) return bad;
    }
    if (optind < argc) return cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (!classes_set && !strcmp(c.layout, "mafw")) c.classes = 11;
    Err err;
    if (synth_config_check(&c, &err) != 0) return cli_usage_error("synth", "%s", err.msg); /* values, together */
    if (sheet) return synth_contact_sheet(&c, sheet, &err) ? cli_fail(&err) : 0;
    if (!out) return cli_usage_error("synth", "--out is required");
    return synth_generate(&c, out, &err) ? cli_fail(&err) : 0;
}
