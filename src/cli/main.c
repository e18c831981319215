/* dfer: CLIP-based dynamic facial expression recognition.
 * One binary, one subcommand per task; `dfer help` lists them. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/version.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif


typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command k_commands[] = {
    {"embed", cmd_embed, "CLIP image/text embeddings and zero-shot logits (CPU)"},
    {"tokenize", cmd_tokenize, "CLIP BPE token ids of texts"},
    {"info", cmd_info, "architecture, parameter counts and dtypes of a checkpoint"},
    {"convert", cmd_convert, "convert a CLIP checkpoint (.pt, safetensors) to Hugging Face safetensors"},
    {"init", cmd_init, "write a randomly initialised CLIP (for tests and the demo)"},
    {"train", cmd_train, "train FineCLIPER or DFER-CLIP on one dataset split (CPU or GPU; data-parallel under mpirun)"},
    {"eval", cmd_eval, "evaluate a trained run on a test split"},
    {"predict", cmd_predict, "a trained run on a video: per-window and clip-level class probabilities, annotated copy"},
    {"export", cmd_export, "a CLIP checkpoint with the image encoder a DFER-CLIP run fine-tuned"},
    {"synth", cmd_synth, "generate the synthetic DFER benchmark in the DFEW, FERV39k or MAFW layout"},
    {"data", cmd_data,
     "dataset tools: `dfer data check` validates a dataset, `dfer data preview` draws what training sees"},
    {"prep", cmd_prep, "face boxes and 68-point landmarks (dlib) for every clip of a dataset, cached beside it"},
    {"matrix", cmd_matrix, "run an experiment matrix over the ranks of this MPI job, then print the tables"},
    {"table", cmd_table, "the paper's tables from a matrix's results"},
    {"report", cmd_report, "one self-contained HTML page (tables, plots, configs, provenance) from a matrix's results"},
    {"config", cmd_config, "the resolved configuration, or the reference of every key"},
    {"refine", cmd_refine, "remove emotion words and implied states from per-clip descriptions"},
    {"describe", cmd_describe, "describe each clip's facial changes from its landmark tracks (label-free)"},
    {"plan", cmd_plan, "device memory per rank of a configuration, and the micro-batch that fits train.gpu_mem"},
    {"bench", cmd_bench, "clips/s, time split, peak memory and FLOPs utilisation of a training step (vs PyTorch)"},
};

static void print_help(void) {
    printf("dfer — CLIP-based dynamic facial expression recognition (FineCLIPER, DFER-CLIP)\n\n"
           "usage: dfer <command> [options]   (dfer <command> --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        printf("  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
    printf("\n  help       this text\n  version    the version and commit\n");
}

int cli_fail(const Err *err) {
    fflush(stdout);
    fprintf(stderr, "dfer: error: %s\n", err->msg);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dfer %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see: dfer %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

/* What `dfer --version` says about the GPU: the build's architectures and the devices found. */
static void print_cuda_status(void) {
#ifdef DFER_WITH_CUDA
    int n = dfer_cuda_device_count();
    printf("CUDA: built for compute capabilities %s; %d GPU%s found\n", dfer_cuda_build_archs(), n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        char desc[256];
        dfer_cuda_describe(i, desc, sizeof desc);
        printf("  GPU %d: %s\n", i, desc);
    }
#else
    printf("CUDA: not built (no nvcc or NCCL at configure time): CPU only\n");
#endif
}

int cli_option_error(const char *cmd, int c, char **argv, const struct option *opts) {
    /* getopt_long has just stepped past the option it refuses, except a short one inside a cluster ("-xh") */
    const char *given = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') return cli_usage_error(cmd, "%s needs a value (none follows it)", given);
    if (strncmp(given, "--", 2) != 0) {
        if (optopt) return cli_usage_error(cmd, "unknown option '-%c'", optopt);
        return cli_usage_error(cmd, "unknown option '%s'", given);
    }
    int len = (int)strcspn(given + 2, "="), has_value = given[2 + len] == '=';
    /* as getopt_long matches: a whole name first (--eval beside --eval-batch), else the names it begins; two names
     * of one option (--checkpoint, --run) are one */
    for (const struct option *o = opts; o->name; o++)
        if ((int)strlen(o->name) == len && !strncmp(o->name, given + 2, (size_t)len))
            return has_value ? cli_usage_error(cmd, "--%s takes no value, not '%s'", o->name, given)
                             : cli_usage_error(cmd, "unknown option '%s'", given);
    char matches[1024] = "";
    int n = 0, first_val = 0;
    for (const struct option *o = opts; o->name; o++)
        if (!strncmp(o->name, given + 2, (size_t)len) && (n == 0 || o->val != first_val)) {
            size_t used = strlen(matches);
            snprintf(matches + used, sizeof matches - used, "%s--%s", n ? ", " : "", o->name);
            if (n++ == 0) first_val = o->val;
        }
    if (n > 1) return cli_usage_error(cmd, "'%.*s' is ambiguous (%s)", len + 2, given, matches);
    if (n == 1 && has_value) return cli_usage_error(cmd, "%s takes no value, not '%s'", matches, given);
    return cli_usage_error(cmd, "unknown option '%.*s'", len + 2, given);
}

int cli_is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

int cli_int_option(const char *cmd, const char *opt, const char *text, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < lo || v > hi)
        return cli_usage_error(cmd, "%s takes a whole number in %ld..%ld, not '%s'", opt, lo, hi, text);
    *out = (int)v;
    return 0;
}

int cli_dtype_option(const char *cmd, const char *text, int *keep, DType *target) {
    *keep = !strcmp(text, "keep");
    if (*keep) return 0;
    if (!strcmp(text, "f32")) *target = DT_F32;
    else if (!strcmp(text, "f16")) *target = DT_F16;
    else if (!strcmp(text, "bf16")) *target = DT_BF16;
    else return cli_usage_error(cmd, "--dtype must be keep, f32, f16 or bf16, not '%s'", text);
    return 0;
}

int cli_u64_option(const char *cmd, const char *opt, const char *text, unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    /* strtoull skips every isspace() byte, then takes "-1" as 2^64-1: a '-' after any of them is refused */
    if (end == text || *end || errno || text[strspn(text, " \t\n\v\f\r")] == '-')
        return cli_usage_error(cmd, "%s takes a whole number >= 0, not '%s'", opt, text);
    *out = v;
    return 0;
}

int cli_double_option(const char *cmd, const char *opt, const char *text, double lo, int lo_open, double hi,
                      double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
        if (isinf(hi))
            return cli_usage_error(cmd, "%s takes a number %s %g, not '%s'", opt, lo_open ? ">" : ">=", lo, text);
        return cli_usage_error(cmd, "%s takes a number in %c%g, %g], not '%s'", opt, lo_open ? '(' : '[', lo, hi, text);
    }
    *out = v;
    return 0;
}

/* What was printed may not have reached a full disk or a closed pipe (`dfer table --format csv > tables.csv` on a
 * full disk ended with status 0 and a cut file; so did `dfer version > v.txt`): a success becomes status 1. */
static int stdout_written(int rc) {
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
        fprintf(stderr, "dfer: error: cannot write to standard output: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    log_set_level(log_level_from_env());
    if (argc < 2 || cli_is_help(argv[1]) || !strcmp(argv[1], "help")) {
        print_help();
        return stdout_written(argc < 2 ? 2 : 0);
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("dfer 0.1 (commit %s)\n", dfer_git_commit);
        print_cuda_status();
        return stdout_written(0);
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (!strcmp(argv[1], k_commands[i].name)) return stdout_written(k_commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "dfer: unknown command '%s' (see: dfer help)\n", argv[1]);
    return 2;
}
