/* dfer matrix: run an experiment matrix over the ranks of this job. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/stop.h"
#include "train/runner.h"

static void usage(void) {
    printf("usage: mpirun -np N dfer matrix MATRIX.ini [--results DIR]\n"
           "       srun --mpi=pmix dfer matrix MATRIX.ini          (inside sbatch; see jobs/)\n"
           "       dfer matrix --list|--check MATRIX.ini\n"
           "       dfer matrix --status MATRIX.ini [--results DIR] [--json]\n\n"
           "Expands the matrix (methods x datasets x folds x backbones x seeds x settings) into jobs with\n"
           "stable ids, splits the ranks into groups of matrix.ranks_per_job, and lets each group take the\n"
           "next unfinished job until none is left. Every job writes DIR/<job>/result.json; starting the\n"
           "same matrix again skips finished jobs and resumes the others from their checkpoints. At the\n"
           "end the tables are printed and written to DIR/tables.{md,tex,csv}. Several runs of one matrix\n"
           "on one DIR share its jobs: a job a live run holds (DIR/<job>/running.lock) is skipped, and\n"
           "the locks of runs that are gone are taken over: a process gone on this host, a Slurm job that\n"
           "has ended (squeue), another host's run without a heartbeat for matrix.stale_lock_minutes (10).\n\n"
           "  --results DIR   where the jobs go (default results/<matrix name>)\n"
           "  --list          print the jobs and whether each one's configuration is valid (\"ok\"),\n"
           "                  waits for a feature not built yet, or has an error; runs nothing\n"
           "  --check         --list, and each job's inputs opened as its start would (split files, the\n"
           "                  weights' header, the vocabulary, descriptions, landmark tracks): a job that\n"
           "                  would fail at its start is named (\"MISSING\"; with weights that cannot be read,\n"
           "                  the descriptions and tracks it lacks too, \"; also: ...\") before the matrix is\n"
           "                  submitted, and one whose ranks would not fit train.gpu_mem on a GPU (\"NOFIT\", the\n"
           "                  planner's count; train.device cuda or auto). Exit status 1 when any job has\n"
           "                  an error, a missing input or no fit\n"
           "  --status        print each job's state from DIR, while the matrix runs or after: done (UAR,\n"
           "                  WAR, time), failed (its error), started (epoch, step, last evaluation,\n"
           "                  checkpoint, when it last wrote) or pending; then the work left, estimated\n"
           "                  from the finished jobs' times. Reads only; needs no MPI\n"
           "  --json          with --status: the same as JSON, for scripts\n"
           "  --allow-config-change  resume started jobs whose configuration changed in what it trains\n"
           "                  (refused otherwise: such a job fails, naming the keys; see dfer train --help)\n\n"
           "On SIGUSR1, SIGTERM or Ctrl-C every group checkpoints its job at the next step and the\n"
           "command exits with status 3; running it again resumes (jobs/slurm/dfer.sbatch requeues).\n");
}

int cmd_matrix(int argc, char **argv) {
    static const struct option opts[] = {{"results", required_argument, 0, 'r'}, {"list", no_argument, 0, 'l'},
                                         {"check", no_argument, 0, 'c'},
                                         {"status", no_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
                                         {"allow-config-change", no_argument, 0, 'a'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *results = NULL;
    int list = 0, check = 0, status = 0, json = 0, allow_config_change = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'r') results = optarg;
        else if (c == 'l') list = 1;
        else if (c == 'c') check = 1;
        else if (c == 's') status = 1;
        else if (c == 'j') json = 1;
        else if (c == 'a') allow_config_change = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("matrix", c, argv, opts);
    }
    if (argc - optind != 1) return cli_usage_error("matrix", "give one MATRIX.ini");
    if (list + check + status > 1)
        return cli_usage_error("matrix", "--list, --check and --status are three commands; give one");
    if (json && !status) return cli_usage_error("matrix", "--json goes with --status");
    if (status) {
        Err err;
        return matrix_status(argv[optind], results, json, stdout, &err) ? cli_fail(&err) : 0;
    }
    if (list || check) {
        Err err;
        return matrix_list(argv[optind], check, stdout, &err) ? cli_fail(&err) : 0;
    }
    char command[4096] = "dfer";
    for (int i = 0; i < argc; i++)
        snprintf(command + strlen(command), sizeof command - strlen(command), " %s", argv[i]);
    RunnerOptions ro = {.matrix_path = argv[optind], .results_dir = results, .command = command,
                        .allow_config_change = allow_config_change};
    Dist d;
    dist_init(&d, &argc, &argv);
    Err err;
    int failed = 0;
    stop_signals_install();
    int rc = matrix_run(&ro, &d, &failed, &err);
    int rank = d.rank;
    dist_finalize(&d);
    if (rc == DFER_EXIT_INTERRUPTED) return DFER_EXIT_INTERRUPTED;
    if (rc != 0) return cli_fail(&err);
    if (failed && rank == 0)
        fprintf(stderr, "dfer matrix: %d job%s failed (their result.json or the log above says why)\n", failed,
                failed > 1 ? "s" : "");
    return failed ? 1 : 0;
}
