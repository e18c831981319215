/* The `dfer` subcommands. Each takes (argc, argv) with argv[0] = the
 * subcommand name, prints its own --help, and returns the process exit code
 * (0 success, 1 bad input or failure, 2 usage error). */
#ifndef DFER_CLI_H
#define DFER_CLI_H

#include <getopt.h>

#include "core/check.h"
#include "core/tensor.h"
#include "train/config.h"

int cmd_tokenize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_prep(int argc, char **argv);
int cmd_matrix(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_refine(int argc, char **argv);
int cmd_describe(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_plan(int argc, char **argv);

/* Prints "dfer: error: <msg>" to stderr and returns 1. */
int cli_fail(const Err *err);
/* The run configuration of a command with --config FILE (short code 'c') and --set: defaults are the
 * caller's, then every --config file in order, here; the caller's getopt loop then applies each --set in
 * order (and skips 'c'), so files come first whatever the order on the command line. getopt's own rules
 * throughout (--config=FILE, abbreviations such as --conf), so no spelling is ignored. Returns 0, or 1
 * with the error printed (a file that is missing or wrong). */
int cli_config_files(int argc, char **argv, const char *optstring, const struct option *opts, Config *cfg);
/* Prints a usage error with a pointer to --help, returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error of an option getopt_long did not take (returns 2): c is what it returned, ':' for a value missing at
 * the end of the line (the command's optstring starts with ':', so getopt prints nothing of its own) or '?'; the
 * message names the option as given: "--out needs a value" (it said "requires an argument", then "unknown option"),
 * "unknown option '--bogus'", "'--c' is ambiguous (--config, --checkpoint-every)", "--json takes no value". */
int cli_option_error(const char *cmd, int c, char **argv, const struct option *opts);
/* True when a is -h or --help. */
int cli_is_help(const char *a);
/* An option's value as a number: the whole text, in [lo, hi] (for doubles lo excluded when lo_open; u64: any
 * value >= 0), into *out; else a usage error naming the option, the range and the text (atoi took "10k" as 10
 * and "abc" as 0). Return 0, or 2 (the usage error's exit status). */
int cli_int_option(const char *cmd, const char *opt, const char *text, long lo, long hi, int *out);
int cli_u64_option(const char *cmd, const char *opt, const char *text, unsigned long long *out);
int cli_double_option(const char *cmd, const char *opt, const char *text, double lo, int lo_open, double hi,
                      double *out);
/* `--dtype keep|f32|f16|bf16` (dfer convert, dfer export): *keep = 1 for keep (each tensor's dtype as stored), else
 * *target; 0, or a usage error (2) naming the words. */
int cli_dtype_option(const char *cmd, const char *text, int *keep, DType *target);

#endif
