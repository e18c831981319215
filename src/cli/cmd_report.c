/* dfer report: one self-contained HTML page from a matrix's results directory. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/report.h"

static void usage(void) {
    printf("usage: dfer report RESULTS_DIR [-o report.html] [--paper]\n\n"
           "Reads every <job>/result.json, metrics.jsonl and config.ini under RESULTS_DIR (and jobs.json,\n"
           "the expanded matrix) and writes one HTML page: the paper's tables (as dfer table prints them),\n"
           "the spread of UAR and WAR over folds and seeds, and per job the learning curves, the confusion\n"
           "matrix as a heat map, per-class recall, provenance (commit, command, host, time) and config.\n"
           "Failed jobs show their error; jobs of the matrix without a result are listed as missing.\n"
           "The page is self-contained (inline CSS and SVG, no scripts, fonts or images from the network)\n"
           "and written atomically.\n\n"
           "  -o, --out FILE   the page to write (default RESULTS_DIR/report.html)\n"
           "  --paper          the tables carry the published numbers under our rows (see dfer table --help)\n");
}

int cmd_report(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'}, {"paper", no_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int paper = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'p') paper = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("report", c, argv, opts);
    }
    if (optind != argc - 1) return cli_usage_error("report", "give exactly one RESULTS_DIR");
    const char *dir = argv[optind];
    char default_out[4096], command[4096] = "dfer";
    if (!out) {
        snprintf(default_out, sizeof default_out, "%s/report.html", dir);
        out = default_out;
    }
    for (int i = 0; i < argc; i++)
        snprintf(command + strlen(command), sizeof command - strlen(command), " %s", argv[i]);
    Err err;
    ReportSummary s;
    if (report_write(dir, out, command, paper, &s, &err) != 0) return cli_fail(&err);
    printf("wrote %s (%zu bytes): %d jobs, %d done, %d failed, %d missing", out, s.bytes, s.jobs, s.done, s.failed,
           s.missing);
    if (s.other) printf(", %d in another state", s.other);
    if (s.unreadable) printf(", %d with a result.json that cannot be read (see the page)", s.unreadable);
    printf("\n");
    return 0;
}
