/* dfer table: the paper's tables from a matrix's results directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "train/table.h"

static void usage(void) {
    printf("usage: dfer table RESULTS_DIR [--format md|latex|csv] [--out DIR] [--paper]\n\n"
           "Reads every <job>/result.json under RESULTS_DIR (and jobs.json, the expanded matrix) and prints\n"
           "the paper's tables: supervised UAR/WAR per dataset (Table 1), per-class recall (Table 2),\n"
           "zero-shot (Table 3), FineCLIPER's ablations where the results hold one (Table 4: the levels\n"
           "alone; 5: the middle level's maps; 6: text and video adapters; 7: the negative descriptor;\n"
           "9: the MLP adapter's scale), DFER-CLIP's (its Tables 1, 3 and 4: contexts and temporal depth,\n"
           "prompts, the contexts' place) and backbone scaling (Table 8, when several backbones ran). A\n"
           "row is a method and variant, with in brackets what its jobs changed of the paper's model\n"
           "(result.json's ablation: \"finecliper (low) [negative=less]\") or the matrix's arm that\n"
           "trained it (\"finecliper (low) [less]\"; the ablation tables gather a model's arms). Cells are\n"
           "mean ± sample standard deviation (n - 1) over folds and seeds, with the number of jobs behind\n"
           "them (one job: its value alone); jobs that have not finished show as missing (where the\n"
           "folder holds jobs.json), failed ones as failed, never as zero. The CSV format is one block\n"
           "per table, each after a '# title' line, and numbers only: a cell's mean, sd, jobs (n) and\n"
           "the matrix's jobs for it (expected) in columns of their own.\n\n"
           "  --format F   md (default), latex or csv, printed on stdout\n"
           "  --out DIR    also write tables.md, tables.tex and tables.csv into DIR (atomically)\n"
           "  --paper      under each row, the published numbers for the same method, variant, dataset and\n"
           "               backbone architecture where a paper has them (FineCLIPER Tables 1-7 and 9 on ViT-B/16\n"
           "               and Table 8's full model on ViT-B/32 and L/14, DFER-CLIP Tables 1 and 3-5 on ViT-B/32;\n"
           "               the architecture comes from each result.json); zero-shot rows: the paper's FineCLIPER†\n"
           "               under each FineCLIPER variant of the same training dataset and captions: MAFW's\n"
           "               video captions (data.captions = dataset) or the descriptions (the paper's\n"
           "               fine-grained captions; docs/method.md)\n");
}

int cmd_table(int argc, char **argv) {
    static const struct option opts[] = {{"format", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
                                         {"paper", no_argument, 0, 'p'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *format = "md", *out = NULL;
    int paper = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'f') format = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'p') paper = 1;
        else if (c == 'h') return usage(), 0;
        else return cli_option_error("table", c, argv, opts);
    }
    if (optind != argc - 1) return cli_usage_error("table", "give exactly one RESULTS_DIR");
    TableFormat f;
    if (!strcmp(format, "md")) f = TABLE_MARKDOWN;
    else if (!strcmp(format, "latex")) f = TABLE_LATEX;
    else if (!strcmp(format, "csv")) f = TABLE_CSV;
    else return cli_usage_error("table", "--format must be md, latex or csv, not '%s'", format);
    Err err;
    ResultSet *rs;
    if (results_load(argv[optind], &rs, &err) != 0) return cli_fail(&err);
    int finished, failed, expected;
    results_count(rs, &finished, &failed, &expected);
    /* on stderr: stdout holds the tables alone (`--format csv > tables.csv` is CSV) */
    fprintf(stderr, "results in %s: %d finished, %d failed, %d jobs in the matrix\n", argv[optind], finished, failed,
            expected);
    char notes[RESULTS_MAX_NOTES][1024];
    int n_notes = results_notes(rs, notes, RESULTS_MAX_NOTES);
    for (int i = 0; i < n_notes; i++) fprintf(stderr, "note: %s\n", notes[i]);
    if (!tables_write(rs, f, paper, stdout) && paper) /* else --paper reads as if it did nothing */
        fprintf(stderr, "note: --paper: no published numbers for these results (the papers report FineCLIPER on "
                        "ViT-B/16 (zero-shot too), its full model on ViT-B/32 and ViT-L/14, DFER-CLIP on ViT-B/32, "
                        "on DFEW, FERV39k and MAFW; result.json's clip_arch names each result's backbone)\n");
    int rc = 0;
    if (out && tables_write_files(rs, out, paper, &err) != 0) rc = cli_fail(&err);
    results_free(rs);
    return rc;
}
