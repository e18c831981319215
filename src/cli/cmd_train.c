/* dfer train / dfer eval: one job, data-parallel over the ranks of the run. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/stop.h"
#include "io/json_file.h"
#include "mpi/dist.h"
#include "train/job_model.h"
#include "data/dataset.h" /* dataset_kind_known */
#include "train/matrix.h"  /* dataset_has_folds */
#include "train/trainer.h"

static void train_usage(void) {
    printf("usage: dfer train --config FILE --out DIR [--set section.key=value]... [--resume]\n"
           "       mpirun -np N dfer train ...   (data-parallel: the global batch is split over the ranks)\n\n"
           "Trains FineCLIPER or DFER-CLIP (model.method) on one dataset split and evaluates it on the test\n"
           "split after every epoch. DIR receives config.ini, metrics.jsonl, checkpoint.safetensors,\n"
           "best_model.safetensors, model.safetensors and result.json (UAR/WAR of the best and the last epoch).\n"
           "`dfer config --markdown` lists every key.\n\n"
           "  --resume               continue from DIR/checkpoint.safetensors (bitwise the same end result; when\n"
           "                         it is damaged, from the one before it, checkpoint.previous.safetensors);\n"
           "                         a configuration that changes what is trained (not paths, device,\n"
           "                         threads or batching) is refused: DIR/config.ini says what it was\n"
           "  --allow-config-change  resume with such a change all the same (the earlier config.ini is kept)\n"
           "  --gpu-mem GiB          the device memory a rank may use (train.gpu_mem, default 24; more than the\n"
           "                         2 GiB CUDA allowance): the planner picks micro-batch and recompute under it\n"
           "  --checkpoint-every N   also checkpoint every N steps (default: at the end of each epoch)\n"
           "  --stop-after N         stop after N steps of this call, checkpointing first (for tests)\n"
           "  --signal-after N       send this process SIGUSR1 after N steps (tests of preemption)\n\n"
           "On SIGUSR1 (Slurm's --signal before the time limit), SIGTERM or Ctrl-C the run finishes\n"
           "its step, checkpoints and exits with status 3; --resume continues it. A second Ctrl-C\n"
           "ends it at once (a second SIGTERM or SIGUSR1 does not: one may arrive twice).\n"
           "--resume on a finished run (result.json) has nothing to do, unless --allow-config-change.\n");
}

static int parse_config(int argc, char **argv, Config *cfg, const char **out, TrainOptions *to) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},        {"set", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},           {"resume", no_argument, 0, 'r'},
        {"checkpoint-every", required_argument, 0, 'k'},
        {"stop-after", required_argument, 0, 'x'},    {"signal-after", required_argument, 0, 'g'},
        {"allow-config-change", no_argument, 0, 'a'}, {"help", no_argument, 0, 'h'},
        {"gpu-mem", required_argument, 0, 'G'},       {0, 0, 0, 0}};
    config_defaults(cfg);
    Err err;
    int c;
    if (cli_config_files(argc, argv, ":h", opts, cfg) != 0) return 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': break;
        case 's':
            if (config_set(cfg, optarg, &err) != 0) return cli_fail(&err);
            break;
        case 'G': { /* --set train.gpu_mem=GiB by its issue's name */
            double gib;
            if (cli_double_option("train", "--gpu-mem", optarg, 2, 1, 1e6, &gib)) return 2;
            char set[64];
            snprintf(set, sizeof set, "train.gpu_mem=%.17g", gib);
            if (config_set(cfg, set, &err) != 0) return cli_fail(&err);
            break;
        }
        case 'o': *out = optarg; break;
        case 'r': to->resume = 1; break;
        case 'a': to->allow_config_change = 1; break;
        case 'k':
            if (cli_int_option("train", "--checkpoint-every", optarg, 1, INT_MAX, &to->checkpoint_every_steps))
                return 2;
            break;
        case 'x':
            if (cli_int_option("train", "--stop-after", optarg, 1, INT_MAX, &to->stop_after_steps)) return 2;
            break;
        case 'g':
            if (cli_int_option("train", "--signal-after", optarg, 1, INT_MAX, &to->signal_after_steps)) return 2;
            break;
        case 'h': train_usage(); return 0;
        default: return cli_option_error("train", c, argv, opts);
        }
    }
    if (optind < argc) return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!*out) return cli_usage_error("train", "--out DIR is required");
    return -1;
}

int cmd_train(int argc, char **argv) {
    Config cfg;
    const char *out = NULL;
    TrainOptions to = {0};
    int rc = parse_config(argc, argv, &cfg, &out, &to);
    if (rc >= 0) return rc;
    char command[4096] = "dfer";
    for (int i = 0; i < argc; i++)
        snprintf(command + strlen(command), sizeof command - strlen(command), " %s", argv[i]);
    to.out_dir = out;
    to.command = command;
    Dist d;
    dist_init(&d, &argc, &argv);
    Group g;
    Err err;
    CollBackend coll;
    if (train_collectives(&cfg, &d, &coll, &err) != 0 || group_world(&d, coll, &g, &err) != 0) {
        dist_finalize(&d);
        return cli_fail(&err);
    }
    stop_signals_install();
    rc = train_run(&cfg, &to, &g, &err);
    /* the message first: a rank that failed alone can wait in MPI_Finalize for the others */
    int status = rc < 0 ? cli_fail(&err) : rc == DFER_EXIT_INTERRUPTED ? DFER_EXIT_INTERRUPTED : 0;
    group_free(&g);
    dist_finalize(&d);
    return status;
}

static void eval_usage(void) {
    printf("usage: dfer eval --run DIR [--dataset NAME --root DIR] [--folds LIST] [--best] [--predictions F.csv]\n\n"
           "Evaluates a trained run (its config.ini and model.safetensors) on the test split of its dataset,\n"
           "or of another one (--dataset/--root: cross-dataset evaluation), and prints UAR, WAR and\n"
           "per-class recall. A matrix's zero-shot job is evaluated on the dataset it was scored on (its\n"
           "result.json names it) unless --dataset/--root say otherwise.\n\n"
           "  --folds LIST        with --dataset, or for a zero-shot job: the test splits of these folds\n"
           "                      (\"1,2,3,4,5\"), each scored alone, UAR and WAR their mean (default: the\n"
           "                      run's data.eval_folds, which a matrix's zero-shot job has, else its data.fold)\n"
           "  --best              the run's best_model.safetensors (the epoch of the best WAR) instead\n"
           "  --predictions F     also write every test clip's class probabilities to F as CSV:\n"
           "                      clip,label,predicted,<one column per class>, in the split file's order\n"
           "                      (training writes the same for its last evaluation: DIR/predictions.csv)\n");
}

/* A matrix's zero-shot job was scored on another dataset's test splits: its result.json names them
 * ("setting": "zeroshot", "eval_dataset", "eval_root"; data.eval_folds is in its config.ini). 1 with them copied
 * out; 0 for any other run, or a job recorded before result.json kept eval_root (*dataset then set alone). */
static int zeroshot_target(const char *run, char *dataset, size_t dataset_n, char *root, size_t root_n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/result.json", run);
    cJSON *r = NULL;
    Err err;
    dataset[0] = root[0] = 0;
    if (!fs_exists(path) || json_read_file(path, &r, &err) != 0) return 0;
    int zeroshot = !strcmp(json_get_string(r, "setting", ""), "zeroshot");
    if (zeroshot) snprintf(dataset, dataset_n, "%s", json_get_string(r, "eval_dataset", ""));
    if (zeroshot) snprintf(root, root_n, "%s", json_get_string(r, "eval_root", ""));
    cJSON_Delete(r);
    return dataset[0] && root[0];
}

/* --folds LIST: the run's data.eval_folds replaced, checked as the configuration checks it */
static int eval_folds_option(Config *cfg, const char *assignment, Err *err) {
    if (config_set(cfg, assignment, err) != 0 || config_validate_settings(cfg, err) != 0)
        return err_prefix(err, "--folds: ");
    return 0;
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"run", required_argument, 0, 'r'},         {"dataset", required_argument, 0, 'd'},
        {"root", required_argument, 0, 'o'},        {"best", no_argument, 0, 'b'},
        {"predictions", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'},
        {"folds", required_argument, 0, 'f'},       {0, 0, 0, 0}};
    const char *run = NULL, *dataset = NULL, *root = NULL, *predictions = NULL, *folds = NULL;
    int best = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'r') run = optarg;
        else if (c == 'd') dataset = optarg;
        else if (c == 'o') root = optarg;
        else if (c == 'b') best = 1;
        else if (c == 'p') predictions = optarg;
        else if (c == 'f') folds = optarg;
        else if (c == 'h') return eval_usage(), 0;
        else return cli_option_error("eval", c, argv, opts);
    }
    if (!run) return cli_usage_error("eval", "--run DIR is required");
    char target[64] = "", target_root[4096];
    int zeroshot_default = !dataset && zeroshot_target(run, target, sizeof target, target_root, sizeof target_root);
    if (zeroshot_default) /* what the job was scored on, not its training set; --root alone: that dataset moved */
        dataset = target, root = root ? root : target_root;
    if (dataset && !dataset_kind_known(dataset))
        return cli_usage_error("eval", "--dataset: unknown dataset '%s' (dfew, ferv39k, mafw, list)", dataset);
    if (folds && !dataset)
        return cli_usage_error("eval",
                               "--folds needs --dataset: a run's own dataset is tested on its data.fold's split "
                               "(its other folds' test clips are in its training split)");
    if (folds && !dataset_has_folds(dataset))
        return cli_usage_error("eval", "--folds: %s has no folds (one test split)", dataset);
    if ((dataset != NULL) != (root != NULL)) /* the run's root holds its own dataset's layout, not another's */
        return cli_usage_error("eval", "%s needs %s: the dataset and the folder it is in go together",
                               dataset ? "--dataset" : "--root", dataset ? "--root DIR" : "--dataset NAME");
    /* the run's configuration, read once, before MPI: --folds on its own training dataset is a usage error */
    Err err;
    Config cfg;
    int have_cfg = job_run_config(run, &cfg, &err) == 0;
    if (folds && have_cfg && !strcmp(cfg.dataset, dataset))
        return cli_usage_error("eval", "--folds: %s is the run's own dataset, tested on its data.fold's split (its "
                                       "other folds' test clips are in its training split)", dataset);
    Dist d;
    dist_init(&d, &argc, &argv);
    if (zeroshot_default)
        log0_info("%s is a zero-shot job, scored on %s (%s): evaluating that (--dataset and --root choose another)",
                  run, dataset, root);
    else if (!dataset && target[0])
        log0_warn("%s is a zero-shot job scored on %s, but its result.json predates the record of where that dataset "
                  "is: this evaluates its training dataset's test split; give --dataset %s --root DIR for the job's "
                  "score", run, target, target);
    Group g = {0};
    /* On CUDA each rank takes its own GPU (local rank), as in training; evaluation's
     * collectives (counts, losses) are host values, so the group stays on MPI. */
    CollBackend device_coll;
    char assignment[600];
    snprintf(assignment, sizeof assignment, "data.eval_folds=%s", folds ? folds : "");
    int rc = have_cfg &&
                     (!folds || eval_folds_option(&cfg, assignment, &err) == 0) &&
                     train_collectives(&cfg, &d, &device_coll, &err) == 0 &&
                     group_world(&d, COLL_MPI, &g, &err) == 0
                 ? eval_run(run, &cfg, dataset, root, best, predictions, &g, &err)
                 : -1;
    int status = rc ? cli_fail(&err) : 0; /* before MPI_Finalize, which a rank that failed alone can wait in */
    group_free(&g);
    dist_finalize(&d);
    return status;
}
