/* dfer plan: the device memory a configuration needs per rank, and the
 * micro-batch that keeps it under train.gpu_mem (src/train/plan.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "data/classes.h"
#include "model/clip_config.h"
#include "model/layers.h"
#include "train/plan.h"

/* What each recompute level (train.recompute) gives under the same cap, for a choice by hand: the micro-batch and
 * the memory, or that it does not fit; in the order of their cost (each recomputes more than the one before).
 * `made` is the plan already made, its own level's line. */
static int print_recompute_levels(const Config *cfg, int num_classes, const char *arch, int ranks,
                                  const MemoryPlan *made, Err *err) {
    printf("  recompute levels:");
    for (int level = 0; level < RECOMPUTE_LEVELS; level++) {
        Config at = *cfg;
        snprintf(at.recompute, sizeof at.recompute, "%s", recompute_name(level));
        MemoryPlan p = *made;
        if (level != made->recompute && plan_memory(&at, num_classes, BACKEND_CUDA, arch, ranks, &p, err) != 0)
            return -1;
        printf("%s %s ", level ? "," : "", recompute_name(level));
        if (p.fits) printf("%d clip%s a pass (%.3f GiB)", p.micro_batch, p.micro_batch > 1 ? "s" : "",
                           (double)p.total / (1u << 30));
        else printf("does not fit");
    }
    printf("\n    (train.recompute; auto takes the first level with %d or more clips a pass, or the whole share, else "
           "the one with the most)\n", PLAN_MIN_EFFICIENT_MICRO_BATCH);
    return 0;
}

static void plan_usage(void) {
    printf("usage: dfer plan [--config FILE] [--set section.key=value]... [--arch NAME] [--ranks N] "
           "[--device cuda|cpu]\n"
           "                 [--gpu-mem GiB] [--eval] [--verify]\n\n"
           "Builds the configured model without allocating anything and counts every device allocation it\n"
           "would make (frozen weights, parameters, gradients, optimiser state, activations and backward\n"
           "scratch), in the dtypes of the device (CUDA: BF16 weights and activations, F32 parameters), and\n"
           "the two batches of pixels the input feed prefetches to the GPU (data.device_prefetch).\n"
           "Prints the memory per rank and the largest micro-batch that fits train.gpu_mem (default 24 GiB)\n"
           "with the global batch kept by gradient accumulation, and the model FLOPs of a rank's step at that\n"
           "choice (as `dfer bench` counts them). Exits 1 when even one clip does not fit.\n"
           "Without a vocabulary (model.vocab, beside model.weights, DFER_VOCAB) the class prompts are counted\n"
           "at the text tower's whole context, an upper bound; with one they are tokenized and counted exactly.\n\n"
           "  --arch NAME   the CLIP's shapes from a preset (%s) instead of model.weights\n"
           "  --ranks N     ranks per job sharing the global batch (default 1)\n"
           "  --gpu-mem G   GiB of GPU memory per rank, the cap (train.gpu_mem; it overrides the configuration's)\n"
           "  --device D    the backend planned for (default cuda; needs no GPU)\n"
           "  --eval        plan the evaluation passes of `dfer eval` and `dfer predict` instead (a rank's share of\n"
           "                train.eval_batch, forward only: no gradients, no optimiser state, nothing kept for a\n"
           "                backward; train.micro_batch does not limit them on CUDA)\n"
           "  --verify      (--device cpu) also build the real model on the CPU and compare its allocations\n",
           clip_config_preset_names());
}

int cmd_plan(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
                                         {"arch", required_argument, 0, 'a'},   {"ranks", required_argument, 0, 'r'},
                                         {"device", required_argument, 0, 'd'}, {"verify", no_argument, 0, 'v'},
                                         {"gpu-mem", required_argument, 0, 'g'}, {"eval", no_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    Config cfg;
    config_defaults(&cfg);
    Err err;
    const char *arch = NULL, *device = "cuda";
    int ranks = 1, verify = 0, eval = 0;
    double gpu_mem = 0;
    if (cli_config_files(argc, argv, ":h", opts, &cfg) != 0) return 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': break;
        case 's':
            if (config_set(&cfg, optarg, &err) != 0) return cli_fail(&err);
            break;
        case 'a': arch = optarg; break;
        case 'r':
            if (cli_int_option("plan", "--ranks", optarg, 1, 1 << 20, &ranks)) return 2;
            break;
        case 'd': device = optarg; break;
        case 'v': verify = 1; break;
        case 'e': eval = 1; break;
        case 'g':
            /* from 1 MiB: train.gpu_mem is a float, where 1e-300 was 0 and refused under the key's name */
            if (cli_double_option("plan", "--gpu-mem", optarg, 1.0 / 1024, 0, 1e9, &gpu_mem)) return 2;
            break;
        case 'h': plan_usage(); return 0;
        default: return cli_option_error("plan", c, argv, opts);
        }
    }
    if (optind < argc) return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (strcmp(device, "cuda") && strcmp(device, "cpu")) return cli_usage_error("plan", "--device is cuda or cpu");
    if (verify && (strcmp(device, "cpu") || arch))
        return cli_usage_error("plan", "--verify plans for --device cpu from model.weights (no --arch)");
    if (!arch && !cfg.weights[0])
        return cli_usage_error("plan", "name the CLIP: --arch NAME or --set model.weights=FILE");
    if (gpu_mem > 0) cfg.gpu_mem = (float)gpu_mem; /* after every --config and --set, whatever the order */
    if (config_validate_settings(&cfg, &err) != 0) return cli_fail(&err);
    char caution[600];
    if (config_caution(&cfg, caution, sizeof caution)) log_warn("%s", caution);
    /* a list has 7 classes unless data.classes (or, at training, a label of 7 or more) says 11: its class table
     * holds all 11 names, which planned 11 */
    const ClassTable *classes = class_table(cfg.dataset);
    int num_classes = !strcmp(cfg.dataset, "list") ? (cfg.classes ? cfg.classes : 7)
                      : classes                    ? classes->num_classes
                                                   : 7;
    MemoryPlan p;
    Backend as = strcmp(device, "cuda") ? BACKEND_CPU : BACKEND_CUDA;
    int planned = eval ? plan_memory_inference(&cfg, num_classes, as, arch, plan_eval_clips_per_rank(&cfg, ranks), &p,
                                               &err)
                       : plan_memory(&cfg, num_classes, as, arch, ranks, &p, &err);
    if (planned != 0) return cli_fail(&err);
    const char *variant = !strcmp(cfg.method, "finecliper") ? cfg.variant : "";
    char batch[64];
    if (eval)
        snprintf(batch, sizeof batch, "evaluation batch %d over %d rank%s", cfg.eval_batch, ranks,
                 ranks > 1 ? "s" : "");
    else snprintf(batch, sizeof batch, "global batch %d", cfg.batch);
    printf("%s%s%s, %d frames, %d classes, %s\n", cfg.method, variant[0] ? " " : "", variant, cfg.frames, num_classes,
           batch);
    plan_print(&p, stdout);
    if (as == BACKEND_CUDA && p.has_recompute && print_recompute_levels(&cfg, num_classes, arch, ranks, &p, &err) != 0)
        return cli_fail(&err);
    if (verify) {
        size_t real;
        if (plan_measure_cpu(&cfg, num_classes, p.micro_batch, p.recompute, eval, &real, &err) != 0)
            return cli_fail(&err);
        printf("verify: the real model on the CPU allocated %zu bytes; the plan counted %zu: %s\n", real, p.total,
               real == p.total ? "equal" : "DIFFERENT");
        if (real != p.total) return 1;
    }
    return p.fits ? 0 : 1;
}
