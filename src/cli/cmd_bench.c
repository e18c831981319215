/* dfer bench: training and evaluation throughput, the step's time split, peak
 * memory and model FLOPs utilisation of a model on a random CLIP, optionally
 * against the same model in PyTorch in the same invocation (src/train/bench.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "io/json_file.h"
#include "train/bench.h"
#include "train/config.h"
#include "train/trainer.h"

static void usage(void) {
    printf("usage: dfer bench [--device cpu|cuda|auto] [--arch ARCH] [--method finecliper|dfer_clip]\n"
           "                  [--variant V] [--frames T] [--batch B] [--steps N] [--warmup N] [--eval]\n"
           "                  [--threads N] [--precision f32|bf16] [--gpu-mem GiB] [--profile-steps N] [--json FILE]\n"
           "                  [--peer torch|torch-compile] [--out-results | --results-to FILE]\n"
           "                  [--set section.key=value]...\n\n"
           "Times training steps (forward, backward, all-reduce, update) and forward passes of a model built as\n"
           "`dfer train` builds it, on a random CLIP of a named architecture (no weights file) and a synthetic\n"
           "batch, and prints clips/s, the step's time split, peak memory, the model FLOPs of a step (counted\n"
           "from the architecture: forward, input gradients, trainable weight gradients) and the model FLOPs\n"
           "utilisation against the GPU's dense bf16 peak. Under mpirun the batch is split over the ranks.\n\n"
           "  --device D       cpu, cuda or auto (default auto)\n"
           "  --arch ARCH      CLIP preset: %s (also B/16, ViT-L/14; default tiny)\n"
           "  --method M       finecliper (default) or dfer_clip\n"
           "  --variant V      FineCLIPER: low (default), low+mid, low+high, low+mid+high; mid, high, mid+high\n"
           "                   (the levels without the frames)\n"
           "  --frames T       frames per clip (default 16)\n"
           "  --batch B        global batch in clips (default 8)\n"
           "  --steps N        timed steps (default 10); the figures are medians over them\n"
           "  --warmup N       untimed steps first (default 2)\n"
           "  --eval           also time evaluation at --eval-batch (forward only; the forward at the training\n"
           "                   batch is always timed)\n"
           "  --eval-batch B   evaluation batch (default: --batch)\n"
           "  --threads N      CPU threads per rank (0: all cores)\n"
           "  --precision P    the model's precision (model.dtype: f32, bf16 = mixed; default: bf16 on CUDA)\n"
           "  --classes C      classes (default 7, DFEW)\n"
           "  --desc-tokens N  high level: tokens of each synthetic description (default 128)\n"
           "  --seed N         seed of the random CLIP, parameters and batch (default 1)\n"
           "  --vocab FILE     CLIP vocabulary (default $DFER_VOCAB, then shared/clip beside or in the source tree)\n"
           "  --gpu-mem GiB    GPU memory per rank: the planner's cap for the micro-batch (train.gpu_mem, default 24)\n"
           "  --set k=v        any other configuration key (as `dfer train --set`); the keys the options above set\n"
           "                   (data.frames, train.batch, model.method, ...) are refused: use the option\n"
           "  --peak-tflops X  the device's dense bf16 peak, for a GPU the built-in table does not know\n"
           "  --peak-gbps X    the device memory's bandwidth in GB/s, likewise (the profile's bounds)\n"
           "  --profile-steps N  after the timed steps, N more with every op timed (events on the GPU's\n"
           "                   stream, the clock on the CPU): where a step's time goes, by op and by op and\n"
           "                   operand shapes, with each one's TFLOP/s or GB/s and, on a GPU whose peaks are\n"
           "                   known, how many times its least possible time it took (\"op_profile\" in --json)\n"
           "  --json FILE      write the figures as one JSON object (atomically)\n"
           "  --peer torch     also run tests/reference/bench_torch.py (eager PyTorch, SDPA attention, bf16\n"
           "                   autocast on CUDA, float32 on the CPU, no torch.compile) on the same device,\n"
           "                   model, frames and batch, and report the ratios; --peer torch-compile: the\n"
           "                   same through torch.compile (the compiled peer's figures; the record names it)\n"
           "  --python PY      the interpreter for the peer (default $DFER_PYTHON, /usr/bin/python3, python3)\n"
           "  --out-results    write results/bench/gpu_vs_pytorch.json in the source tree (CUDA with --peer)\n"
           "  --results-to F   the same record to F instead (a machine whose source tree does not come back)\n",
           clip_config_preset_names());
}

/* The upper bound of bench's counts (frames, batch, steps, seeds, ...): any sane value, never an int overflow. */
enum { BENCH_OPTION_MAX = 1000000000 };

static const char *default_python(void) {
    const char *e = getenv("DFER_PYTHON");
    if (e && *e) return e;
    if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
    return "python3";
}

int cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"device", required_argument, 0, 'd'},  {"arch", required_argument, 0, 'a'},
        {"method", required_argument, 0, 'm'},  {"variant", required_argument, 0, 'v'},
        {"frames", required_argument, 0, 'f'},  {"batch", required_argument, 0, 'b'},
        {"steps", required_argument, 0, 's'},   {"warmup", required_argument, 0, 'w'},
        {"eval", no_argument, 0, 'e'},          {"eval-batch", required_argument, 0, 'E'},
        {"threads", required_argument, 0, 't'}, {"precision", required_argument, 0, 'p'},
        {"classes", required_argument, 0, 'c'}, {"desc-tokens", required_argument, 0, 'D'},
        {"seed", required_argument, 0, 'S'},    {"vocab", required_argument, 0, 'V'},
        {"set", required_argument, 0, 'k'},     {"peak-tflops", required_argument, 0, 'P'},
        {"peak-gbps", required_argument, 0, 'G'}, {"gpu-mem", required_argument, 0, 'M'},
        {"profile-steps", required_argument, 0, 'X'}, {"json", required_argument, 0, 'j'},
        {"peer", required_argument, 0, 'r'},
        {"python", required_argument, 0, 'y'},  {"out-results", no_argument, 0, 'o'},
        {"results-to", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    BenchOptions o;
    bench_options_default(&o);
    const char *json = NULL, *peer = NULL, *python = default_python(), *results_to = NULL;
    int out_results = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'd': o.device = optarg; break;
        case 'a': o.arch = optarg; break;
        case 'm': o.method = !strcmp(optarg, "dfer-clip") ? "dfer_clip" : optarg; break;
        case 'v': o.variant = optarg; break;
        case 'f': rc = cli_int_option("bench", "--frames", optarg, 1, BENCH_OPTION_MAX, &o.frames); break;
        case 'b': rc = cli_int_option("bench", "--batch", optarg, 1, BENCH_OPTION_MAX, &o.batch); break;
        case 's': rc = cli_int_option("bench", "--steps", optarg, 1, BENCH_OPTION_MAX, &o.steps); break;
        case 'w': rc = cli_int_option("bench", "--warmup", optarg, 0, BENCH_OPTION_MAX, &o.warmup); break;
        case 'e': o.eval = 1; break;
        case 'E': rc = cli_int_option("bench", "--eval-batch", optarg, 1, BENCH_OPTION_MAX, &o.eval_batch); break;
        case 't': rc = cli_int_option("bench", "--threads", optarg, 0, BENCH_OPTION_MAX, &o.threads); break;
        case 'p': o.precision = optarg; break;
        case 'c': rc = cli_int_option("bench", "--classes", optarg, 2, BENCH_OPTION_MAX, &o.classes); break;
        case 'D': rc = cli_int_option("bench", "--desc-tokens", optarg, 3, BENCH_OPTION_MAX, &o.desc_tokens); break;
        case 'S': rc = cli_int_option("bench", "--seed", optarg, 0, BENCH_OPTION_MAX, &o.seed); break;
        case 'V': o.vocab = optarg; break;
        case 'k': {
            if (o.n_sets == BENCH_MAX_SETS) return cli_usage_error("bench", "at most %d --set options", BENCH_MAX_SETS);
            const char *key, *option = bench_owned_key(optarg, &key);
            if (option)
                return cli_usage_error("bench", "--set %s: bench sets %s from its own option (its batch, FLOP count "
                                                "and report follow the option): use %s",
                                       optarg, key, option);
            o.sets[o.n_sets++] = optarg;
            break;
        }
        case 'M': rc = cli_double_option("bench", "--gpu-mem", optarg, 0, 1, INFINITY, &o.gpu_mem); break;
        case 'P':
            rc = cli_double_option("bench", "--peak-tflops", optarg, 0, 1, INFINITY, &o.peak_tflops);
            break;
        case 'G':
            rc = cli_double_option("bench", "--peak-gbps", optarg, 0, 1, INFINITY, &o.peak_gbps);
            break;
        case 'X': rc = cli_int_option("bench", "--profile-steps", optarg, 0, BENCH_OPTION_MAX, &o.profile_steps); break;
        case 'j': json = optarg; break;
        case 'r': peer = optarg; break;
        case 'y': python = optarg; break;
        case 'o': out_results = 1; break;
        case 'R': out_results = 1, results_to = optarg; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("bench", c, argv, opts);
        }
        if (rc) return rc;
    }
    if (optind < argc) return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (peer && strcmp(peer, "torch") && strcmp(peer, "torch-compile"))
        return cli_usage_error("bench", "--peer %s: the peer is torch (eager) or torch-compile", peer);
    o.peer_compile = peer && !strcmp(peer, "torch-compile");
    if (strcmp(o.device, "cpu") && strcmp(o.device, "cuda") && strcmp(o.device, "auto"))
        return cli_usage_error("bench", "--device %s: expected cpu, cuda or auto", o.device);
    for (int i = 0; o.gpu_mem > 0 && i < o.n_sets; i++)
        if (!strncmp(o.sets[i], "train.gpu_mem=", 14))
            return cli_usage_error("bench", "--gpu-mem and --set %s both set the cap: give one", o.sets[i]);
    if (out_results && !peer) return cli_usage_error("bench", "--out-results records the comparison: add --peer torch");
    char command[4096] = "dfer";
    for (int i = 0; i < argc; i++)
        snprintf(command + strlen(command), sizeof command - strlen(command), " %s", argv[i]);

    Err err;
    if (bench_check_device(o.device, &err) != 0) return cli_fail(&err);
    Dist d;
    dist_init(&d, &argc, &argv);
    Config dc; /* only where the run goes: one GPU per local rank, NCCL between GPUs */
    config_defaults(&dc);
    snprintf(dc.device, sizeof dc.device, "%s", o.device);
    CollBackend coll;
    Group g;
    if (train_collectives(&dc, &d, &coll, &err) != 0 || group_world(&d, coll, &g, &err) != 0) {
        dist_finalize(&d);
        return cli_fail(&err);
    }
    int lead = g.rank == 0, rc = 0;
    if (peer && g.size > 1) {
        rc = cli_usage_error("bench", "--peer torch runs in a single process: run without mpirun");
        goto done;
    }
    cJSON *r = bench_run(&o, &g, &err);
    if (!r) {
        rc = cli_fail(&err);
        goto done;
    }
    int cuda = !strcmp(cJSON_GetObjectItemCaseSensitive(r, "device_kind")->valuestring, "cuda");
    if (out_results && !cuda && lead) {
        fprintf(stderr, "dfer bench: --out-results records GPU figures; this run was on the CPU: nothing written\n");
        out_results = 0;
    }
    if (lead) {
        if (peer) {
            fprintf(stderr, "dfer bench: running the PyTorch peer (%s tests/reference/bench_torch.py)\n", python);
            cJSON *p = bench_run_peer(&o, r, python, &err);
            /* a peer that fails (or built another model) costs its comparison, not dfer's own figures: they are
             * printed and written with the peer's error, and the exit status is 1; no results record */
            if (!p || bench_add_peer(r, p, bench_peer_name(&o), &err) != 0) {
                rc = cli_fail(&err);
                cJSON_AddStringToObject(r, "peer_error", err.msg);
                out_results = 0;
            }
            cJSON_Delete(p);
        }
        cJSON_AddStringToObject(r, "command", command);
        char commit[64];
        int dirty;
        bench_source_commit(commit, sizeof commit, &dirty);
        cJSON_AddStringToObject(r, "commit", commit);
        bench_print(r, stdout);
        if (json && json_write_atomic(json, r, &err) != 0) rc = cli_fail(&err);
        else if (json && rc != 0) fprintf(stderr, "dfer bench: wrote %s (dfer's figures, without the peer's)\n", json);
        if (rc == 0 && out_results) {
            char path[4096];
            snprintf(path, sizeof path, "%s/results/bench", DFER_SOURCE_DIR);
            cJSON *rec = bench_results_record(r, command);
            if (!results_to && fs_mkdirs(path, &err) != 0) rc = cli_fail(&err);
            if (results_to) snprintf(path, sizeof path, "%s", results_to);
            else snprintf(path, sizeof path, "%s/results/bench/gpu_vs_pytorch.json", DFER_SOURCE_DIR);
            if (rc == 0 && json_write_atomic(path, rec, &err) != 0) rc = cli_fail(&err);
            if (rc == 0) printf("wrote %s\n", path);
            cJSON_Delete(rec);
        }
    }
    cJSON_Delete(r);
done:
    group_free(&g);
    dist_finalize(&d);
    return rc;
}
