/* Tables from result files: means and standard deviations over folds, missing
 * and failed jobs shown as such (never as zero), zero-shot and per-class tables;
 * the published numbers (--paper) under the rows of the same architecture only, and
 * their transcription against the papers' text. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "table_fixture.h"
#include "testlib.h"
#include "train/paper_results.h"
#include "train/table.h"

static void test_tables(void) {
    char dir[600];
    Err err;
    const char *jobs = "[{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":"
                       "\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,\"backbone\":"
                       "\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":3,\"backbone\":"
                       "\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":"
                       "\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\","
                       "\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"zeroshot\"}]";
    results_dir(dir, sizeof dir, "results", jobs);
    put(dir, "a",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":60,\"war\":70,"
        "\"classes\":[\"happiness\",\"sadness\"],\"recall\":[80,40]}");
    put(dir, "b",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,\"backbone\":\"tiny\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":64,\"war\":74,"
        "\"classes\":[\"happiness\",\"sadness\"],\"recall\":[90,38]}");
    put(dir, "c",
        "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,"
        "\"setting\":\"supervised\",\"status\":\"failed\",\"error\":\"bad path\"}");
    put(dir, "z",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\",\"fold\":1,"
        "\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"zeroshot\",\"status\":\"done\",\"uar\":30.5,\"war\":33}");
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    int fin, fail, exp;
    results_count(rs, &fin, &fail, &exp);
    EXPECT(fin == 3 && fail == 1 && exp == 5, "counts %d %d %d", fin, fail, exp);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_MARKDOWN, 0, f);
    fclose(f);
    EXPECT(strstr(buf, "62.00 ± 2.83 (2/3)") != NULL, "mean, std and partial count for finecliper: %s", buf);
    EXPECT(strstr(buf, "failed (1)") != NULL, "failed job shown as failed");
    EXPECT(strstr(buf, "| 85.00 | 39.00 |") != NULL, "per-class recall means");
    EXPECT(strstr(buf, "trained on MAFW") && strstr(buf, "30.50"), "zero-shot table");
    EXPECT(strstr(buf, "| 0.00") == NULL, "nothing missing is shown as zero");
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_LATEX, 0, f);
    fclose(f);
    EXPECT(strstr(buf, "\\begin{tabular}") && strstr(buf, "$\\pm$"), "LaTeX output");
    EXPECT(strstr(buf, "\\caption{Table 1: supervised results (backbone tiny). "),
           "the title, with the backbone, in the caption: %s", buf);
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_CSV, 0, f);
    fclose(f);
    EXPECT(strstr(buf, "\nmethod,DFEW UAR,DFEW UAR sd,DFEW UAR n,DFEW UAR expected,DFEW WAR,DFEW WAR sd,DFEW WAR n,"
                       "DFEW WAR expected\n") != NULL,
           "CSV header: %s", buf);
    /* a number a column: 62 ± 2.83 of 2 jobs, 3 expected (one missing); the failed job's row: no mean, 0 of 1;
     * per-class recall: 85 (80, 90) and 39 (40, 38) with their spread */
    EXPECT(strstr(buf, "\nfinecliper (low),62.00,2.83,2,3,72.00,2.83,2,3\n") != NULL, "CSV numbers: %s", buf);
    EXPECT(strstr(buf, "\ndfer_clip,,,0,1,,,0,1\n") != NULL, "CSV: a failed job's cell: %s", buf);
    EXPECT(strstr(buf, "\nfinecliper (low),85.00,7.07,2,3,39.00,1.41,2,3,62.00,") != NULL, "CSV per-class recall: %s",
           buf);
    free(buf);
    results_free(rs);
    EXPECT(results_load("/nonexistent-results", &rs, &err) != 0 && strstr(err.msg, "/nonexistent-results"),
           "missing directory named");
}

static char *markdown(const ResultSet *rs, int paper) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_MARKDOWN, paper, f);
    fclose(f);
    return buf;
}

static void test_paper_rows(void) {
    char dir[600];
    Err err;
    snprintf(dir, sizeof dir, "%s/results-paper", test_tmpdir());
    fs_mkdirs(dir, &err);
    const char *classes =
        "\"classes\":[\"happiness\",\"sadness\",\"neutral\",\"anger\",\"surprise\",\"disgust\",\"fear\"],"
        "\"recall\":[90,80,70,60,50,40,30]";
    char json[2048];
    /* FineCLIPER (low+mid) on B/16 and DFER-CLIP on B/32 (published), FineCLIPER (low) on B/32 (not) */
    const char *runs[][3] = {{"finecliper", "low+mid", "b16"}, {"dfer_clip", "", "b32"}, {"finecliper", "low", "b32"}};
    for (int i = 0; i < 3; i++) {
        snprintf(json, sizeof json,
                 "{\"method\":\"%s\",\"variant\":\"%s\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"%s\",\"seed\":1,"
                 "\"setting\":\"supervised\",\"status\":\"done\",\"uar\":50,\"war\":55,%s,\"clip_arch\":\"ViT-B/%s\"}",
                 runs[i][0], runs[i][1], runs[i][2], classes, runs[i][2] + 1);
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        put(dir, name, json);
    }
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *plain = markdown(rs, 0), *with = markdown(rs, 1);
    EXPECT(!strstr(plain, "paper"), "no published rows without --paper: %s", plain);
    /* Table 8 (two backbones): each run's row, then the published one where the architecture matches */
    EXPECT(strstr(with, "| finecliper (low+mid) @ b16 | 50.00 | 55.00 |\n| finecliper (low+mid), paper (ViT-B/16) | "
                        "64.89 | 75.05 |\n"),
           "FineCLIPER* on B/16 with Table 1's numbers: %s", with);
    EXPECT(strstr(with, "| dfer_clip @ b32 | 50.00 | 55.00 |\n| dfer_clip, paper (ViT-B/32) | 59.61 | 71.25 |\n"),
           "DFER-CLIP on B/32 with its Table 5: %s", with);
    EXPECT(!strstr(with, "finecliper (low), paper"),
           "no published row for FineCLIPER (low): it ran on B/32 only (the paper ran B/16): %s", with);
    EXPECT(strstr(with, "Rows marked paper"), "the caption says where the published rows come from");
    EXPECT(!strstr(with, "### Table 4"), "no Table 4 without a variant that leaves the frames out: %s", with);
    free(plain);
    free(with);
    results_free(rs);
    /* Table 1 and 2 on the reference backbone (B/16: the most jobs once two more FineCLIPER folds are there) */
    for (int fold = 2; fold <= 3; fold++) {
        snprintf(
            json, sizeof json,
            "{\"method\":\"finecliper\",\"variant\":\"low+mid\",\"dataset\":\"dfew\",\"fold\":%d,\"backbone\":\"b16\","
            "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":%d,\"war\":%d,%s,"
            "\"clip_arch\":\"ViT-B/16\"}",
            fold, 48 + 2 * fold, 53 + 2 * fold, classes);
        char name[16];
        snprintf(name, sizeof name, "f%d", fold);
        put(dir, name, json);
    }
    /* the middle level alone (Table 4's row; no per-class accuracy published) */
    snprintf(json, sizeof json,
             "{\"method\":\"finecliper\",\"variant\":\"mid\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
             "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":45,%s,"
             "\"clip_arch\":\"ViT-B/16\"}",
             classes);
    put(dir, "mid", json);
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    with = markdown(rs, 1);
    EXPECT(strstr(with, "| finecliper (mid) | 40.00 | 45.00 |\n| finecliper (mid), paper (ViT-B/16) | 61.91 | "
                        "72.62 |\n"),
           "Table 1 with Table 4's published row of the middle level alone: %s", with);
    EXPECT(strstr(with, "Table 4's middle and high level alone"), "the caption names Table 4: %s", with);
    /* Table 4 (a variant without the frames ran): the levels in the paper's order, low (dashes: it ran on B/32) and
     * mid with its published row */
    const char *t4 = strstr(with, "### Table 4: FineCLIPER's levels alone (backbone b16)");
    EXPECT(t4 && strstr(t4, "| finecliper (low) | — | — |\n| finecliper (mid) | 40.00 | 45.00 |\n"
                            "| finecliper (mid), paper (ViT-B/16) | 61.91 | 72.62 |\n"),
           "Table 4 with the middle level alone: %s", t4 ? t4 : with);
    /* Table 2: no per-class row for it (none published), and none under FineCLIPER (low), which ran on B/32 only:
     * its row on B/16 is dashes, as in Table 1 */
    EXPECT(!strstr(with, "| finecliper (mid), paper (ViT-B/16) | 9") && !strstr(with, "finecliper (low), paper"),
           "Table 2's published rows only under rows with results: %s", with);
    EXPECT(strstr(with, "Table 1: supervised results (backbone b16)") &&
               strstr(with, "| finecliper (low+mid) | 52.00 ± 2.00 (3) | 57.00 ± 2.00 (3) |\n"
                            "| finecliper (low+mid), paper (ViT-B/16) | 64.89 | 75.05 |\n"),
           "Table 1 with the published row: %s", with);
    EXPECT(strstr(with,
                  "| finecliper (low+mid), paper (ViT-B/16) | 92.86 | 83.88 | 76.10 | 83.56 | 64.69 | 13.02 | 38.13 | "
                  "64.89 | 75.05 |"),
           "Table 2 with the published per-class accuracy: %s", with);
    free(with);
    results_free(rs);
    /* results without clip_arch (before it was recorded) get no published rows */
    snprintf(json, sizeof json,
             "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
             "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":52,\"war\":57}");
    snprintf(dir, sizeof dir, "%s/results-old", test_tmpdir());
    put(dir, "old", json);
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    with = markdown(rs, 1);
    EXPECT(!strstr(with, "paper ("), "no architecture, no published row: %s", with);
    free(with);
    results_free(rs);
}

/* Zero-shot rows per kind of captions (result.json "captions"), and FineCLIPER Table 3's published
 * numbers under the row of the same training dataset and kind of captions on ViT-B/16. */
static void test_zero_shot_rows(void) {
    char dir[600], json[1024];
    Err err;
    /* the matrix lists 2 seeds of MAFW -> DFEW and one of DFEW -> FERV39k that has not run */
    const char *jobs = "[{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\","
                       "\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"zeroshot\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\","
                       "\"fold\":1,\"backbone\":\"b16\",\"seed\":2,\"setting\":\"zeroshot\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"eval_dataset\":"
                       "\"ferv39k\",\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"zeroshot\"}]";
    results_dir(dir, sizeof dir, "results-zeroshot", jobs);
    const char *kinds[2] = {"dataset", "descriptions"};
    for (int k = 0; k < 2; k++) {
        snprintf(
            json, sizeof json,
            "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\",\"fold\":1,"
            "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"zeroshot\",\"status\":\"done\",\"uar\":%d,\"war\":%d,"
            "\"captions\":\"%s\",\"clip_arch\":\"ViT-B/16\"}",
            30 + k, 40 + k, kinds[k]);
        char name[16];
        snprintf(name, sizeof name, "z%d", k);
        put(dir, name, json);
    }
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *plain = markdown(rs, 0), *with = markdown(rs, 1);
    /* one row per kind; the second seed, listed and not run, is missing under both */
    EXPECT(strstr(plain, "| finecliper (low), trained on MAFW (video captions) | 30.00 (1/2) | 40.00 (1/2) | — | — |\n"
                         "| finecliper (low), trained on MAFW (descriptions) | 31.00 (1/2) | 41.00 (1/2) | — | — |\n"
                         "| finecliper (low), trained on DFEW | — | — | missing (0/1) | missing (0/1) |\n"),
           "zero-shot rows per kind of captions: %s", plain);
    EXPECT(!strstr(plain, "paper"), "no published rows without --paper");
    /* --paper: Table 3's FineCLIPER-dagger rows, video caption and fine-grained caption, under ours */
    EXPECT(strstr(with, "| finecliper (low), trained on MAFW (video captions) | 30.00 (1/2) | 40.00 (1/2) | — | — |\n"
                        "| FineCLIPER†, paper (ViT-B/16) | 47.52 | 57.12 | 34.59 | 42.28 |\n"
                        "| finecliper (low), trained on MAFW (descriptions) | 31.00 (1/2) | 41.00 (1/2) | — | — |\n"
                        "| FineCLIPER†, paper (ViT-B/16) | 52.26 | 62.03 | 39.72 | 46.01 |\n"),
           "Table 3 with the published rows: %s", with);
    EXPECT(strstr(with, "FineCLIPER Table 3's FineCLIPER†"), "the caption names Table 3: %s", with);
    /* a run not yet done has no published row (nothing of ours to compare) */
    EXPECT(!strstr(with, "| finecliper (low), trained on DFEW | — | — | missing (0/1) | missing (0/1) |\n| FineCLIPER"),
           "no published row under a row with no results: %s", with);
    free(plain);
    free(with);
    results_free(rs);
    EXPECT(paper_zero_shot("finecliper (low)", "ViT-B/32", "mafw", "dataset", "dfew") == NULL,
           "no zero-shot numbers on B/32");
    EXPECT(paper_zero_shot("dfer_clip", "ViT-B/16", "mafw", "dataset", "dfew") == NULL, "none for DFER-CLIP");
    EXPECT(paper_zero_shot("finecliper (low)", "ViT-B/16", "dfew", "dataset", "ferv39k") == NULL,
           "DFEW has no video captions: no such row");
    EXPECT(paper_zero_shot("finecliper (low)", "ViT-B/16", "dfew", "descriptions", "mafw") == NULL,
           "the paper's '-' is left out");
}

/* A failed zero-shot job's result.json has no kind of captions: it counts in its method's row of the kind the
 * others recorded, and makes no row of its own (that row said "failed (1), missing (2/2)" of jobs that ran). */
static void test_zero_shot_failed(void) {
    char dir[600];
    const char *job =
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\",\"fold\":1,"
        "\"backbone\":\"b16\",\"setting\":\"zeroshot\",\"seed\":";
    char jobs[1024], json[1024];
    snprintf(jobs, sizeof jobs, "[%s1},%s2}]", job, job);
    results_dir(dir, sizeof dir, "results-zeroshot-failed", jobs);
    snprintf(json, sizeof json, "%s1,\"status\":\"done\",\"uar\":30,\"war\":40,\"captions\":\"dataset\"}", job);
    put(dir, "z1", json);
    snprintf(json, sizeof json, "%s2,\"status\":\"failed\",\"error\":\"x\"}", job);
    put(dir, "z2", json);
    ResultSet *rs;
    Err err;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *md = markdown(rs, 0);
    EXPECT(strstr(md, "| finecliper (low), trained on MAFW (video captions) | 30.00 (1/2, 1 failed) | "
                      "40.00 (1/2, 1 failed) |"),
           "the failed job in its method's row: %s", md);
    EXPECT(!strstr(md, "trained on MAFW |"), "no row of the failed job's own: %s", md);
    free(md);
    results_free(rs);
}

static char *format_tables(const char *dir, TableFormat format) {
    ResultSet *rs;
    Err err;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *buf = tables_text(rs, format, 1);
    results_free(rs);
    return buf;
}

/* Cells, columns and captions where results are uneven: a job alone, failed and missing jobs together,
 * per-class columns from the table's own jobs matched by class name, the reference backbone of each
 * setting, LaTeX markup in names. */
static void test_uneven_results(void) {
    char dir[600];
    const char *dfew7 =
        "\"classes\":[\"happiness\",\"sadness\",\"neutral\",\"anger\",\"surprise\",\"disgust\",\"fear\"],"
        "\"recall\":[90,80,70,60,50,40,30]";
    /* the same classes listed in another order, one left out: matched by name, the missing one not a zero */
    const char *dfew6 = "\"classes\":[\"sadness\",\"happiness\",\"neutral\",\"anger\",\"surprise\",\"fear\"],"
                        "\"recall\":[60,70,50,40,30,10]";
    const char *mafw11 =
        "\"classes\":[\"happiness\",\"sadness\",\"neutral\",\"anger\",\"surprise\",\"disgust\",\"fear\","
        "\"contempt\",\"anxiety\",\"helplessness\",\"disappointment\"],\"recall\":[1,2,3,4,5,6,7,8,9,10,11]";
    const char *jobs = "[{\"method\":\"finecliper\",\"variant\":\"low+mid\",\"dataset\":\"dfew\",\"fold\":1,"
                       "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low+mid\",\"dataset\":\"dfew\",\"fold\":2,"
                       "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low+mid\",\"dataset\":\"dfew\",\"fold\":3,"
                       "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":"
                       "\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":2,\"backbone\":"
                       "\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":3,\"backbone\":"
                       "\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"eval_dataset\":\"mafw\","
                       "\"fold\":1,\"backbone\":\"b32\",\"seed\":1,\"setting\":\"zeroshot\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"eval_dataset\":\"mafw\","
                       "\"fold\":1,\"backbone\":\"b32\",\"seed\":2,\"setting\":\"zeroshot\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"eval_dataset\":\"mafw\","
                       "\"fold\":1,\"backbone\":\"b32\",\"seed\":3,\"setting\":\"zeroshot\"},"
                       "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"eval_dataset\":\"mafw\","
                       "\"fold\":1,\"backbone\":\"b32\",\"seed\":4,\"setting\":\"zeroshot\"}]";
    results_dir(dir, sizeof dir, "results-uneven", jobs);
    /* the zero-shot job's folder sorts first and evaluates 11 MAFW classes: not Table 2's columns */
    put_job(dir, "a-zeroshot", "finecliper", "low", "dfew", "mafw", "b32", "zeroshot", 1, 20, mafw11);
    put_job(dir, "f1", "finecliper", "low+mid", "dfew", "dfew", "b16", "supervised", 1, 50, dfew7);
    put_job(dir, "f2", "finecliper", "low+mid", "dfew", "dfew", "b16", "supervised", 2, 54, dfew6);
    put_job(dir, "d1", "dfer_clip", "", "dfew", "dfew", "b16", "supervised", 1, -1, NULL); /* failed; 2 and 3 missing */
    char *md = format_tables(dir, TABLE_MARKDOWN);
    /* Table 1 on b16 (6 supervised jobs) though b32 has 4 listed zero-shot jobs and one done */
    EXPECT(strstr(md, "Table 1: supervised results (backbone b16)"), "Table 1's backbone: %s", md);
    EXPECT(strstr(md, "Table 3: zero-shot results (backbone b32)"), "Table 3's backbone: %s", md);
    EXPECT(strstr(md, "| finecliper (low+mid) | 52.00 ± 2.83 (2/3) | 62.00 ± 2.83 (2/3) |"), "partial cell: %s", md);
    EXPECT(strstr(md, "| dfer_clip | failed (1), missing (2/3) | failed (1), missing (2/3) |"),
           "failed and missing: %s", md);
    EXPECT(strstr(md, "| finecliper (low), trained on DFEW | 20.00 (1/4) | 30.00 (1/4) |"),
           "one job of four, no spread: %s", md);
    /* Table 2: DFEW's 7 columns in f1's order; happiness (90, 70), sadness (80, 60), disgust only f1's 40 */
    EXPECT(strstr(md, "Table 2: per-class recall on DFEW (backbone b16)") &&
               strstr(md, "| method | happiness | sadness | neutral | anger | surprise | disgust | fear | UAR | WAR |"),
           "Table 2's columns are a supervised DFEW job's: %s", md);
    EXPECT(
        strstr(md,
               "| finecliper (low+mid) | 80.00 | 70.00 | 60.00 | 50.00 | 40.00 | 40.00 | 20.00 | 52.00 ± 2.83 (2/3) | "
               "62.00 ± 2.83 (2/3) |"),
        "per-class recall matched by name, a class a job lacks not counted as 0: %s", md);
    EXPECT(strstr(md, "| finecliper (low+mid), paper (ViT-B/16)") == NULL, "no architecture recorded, no paper row");
    EXPECT(!strstr(md, "| 0.00"), "nothing shown as zero: %s", md);
    free(md);
    /* a job whose folder sorts first evaluates MAFW with a class list of its own: --paper keeps DFEW's row */
    put_job(dir, "a-supervised-mafw", "finecliper", "low+mid", "mafw", "mafw", "b16", "supervised", 1, 30, mafw11);
    md = format_tables(dir, TABLE_MARKDOWN);
    EXPECT(strstr(md, "| method | happiness | sadness | neutral | anger | surprise | disgust | fear | UAR | WAR |"),
           "DFEW's Table 2 still has DFEW's 7 classes: %s", md);
    free(md);
    /* LaTeX: markup characters in a user's variant and backbone names are escaped */
    snprintf(dir, sizeof dir, "%s/results-latex", test_tmpdir());
    put_job(dir, "x", "finecliper", "{p} ~$^2 <x> 9% a\\\\b", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    char *tex = format_tables(dir, TABLE_LATEX);
    EXPECT(strstr(tex, "finecliper (\\{p\\} \\textasciitilde{}\\$\\textasciicircum{}2 \\textless{}x\\textgreater{} "
                       "9\\% a\\textbackslash{}b) & 50.00 & 60.00"),
           "LaTeX escapes: %s", tex);
    free(tex);
    /* Markdown: a '|', a newline and an invalid UTF-8 byte in a name stay inside their cell */
    snprintf(dir, sizeof dir, "%s/results-md", test_tmpdir());
    put_job(dir, "y", "finecliper", "a|b\nc\xff", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    md = format_tables(dir, TABLE_MARKDOWN);
    EXPECT(strstr(md, "| finecliper (a\\|b c\xEF\xBF\xBD) | 50.00 | 60.00 |"), "Markdown escapes: %s", md);
    free(md);
}

/* Splits a line at '|' (trimmed fields, at most max); returns the count. */
static int split_bars(char *line, char **fields, int max) {
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(line, "|", &save); tok && n < max; tok = strtok_r(NULL, "|", &save)) {
        while (*tok == ' ') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\n')) *--e = 0;
        fields[n++] = tok;
    }
    return n;
}

static int number(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == 0;
}

/* FineCLIPER's ablation tables (5, 6, 7 and 9): each row's marks (its first fields: the ding marks, the negative word,
 * the scale s) and its model as paper_results.c keys it. Each table's row of the paper's model (Table 1's FineCLIPER or
 * FineCLIPER*) must equal that model's published numbers. */
static const struct {
    int table;
    const char *marks, *key;
} k_ablation_rows[] = {
    {5, "\\ding55 | \\ding55 |", "finecliper (low)"},
    {5, "\\ding51 | \\ding55 |", "finecliper (low+mid) [mid_streams=parsing]"},
    {5, "\\ding55 | \\ding51 |", "finecliper (low+mid) [mid_streams=landmarks]"},
    {5, "\\ding51 | \\ding51 |", "finecliper (low+mid)"},
    {6, "\\ding55 | \\ding55 |", "finecliper (low) [text_adapters=false, video_adapters=false]"},
    {6, "\\ding51pos | \\ding55 |", "finecliper (low) [negative=none, video_adapters=false]"},
    {6, "\\ding51pos+neg | \\ding55 |", "finecliper (low) [video_adapters=false]"},
    {6, "\\ding55 | \\ding51 |", "finecliper (low) [text_adapters=false]"},
    {6, "\\ding51pos+neg | \\ding51 |", "finecliper (low)"},
    {7, "”less” |", "finecliper (low) [negative=less]"},
    {7, "”no” (Ours) |", "finecliper (low)"},
    {9, "0.3 |", "finecliper (low) [mlp_adapter_scale=0.3]"},
    {9, "0.5 |", "finecliper (low)"},
    {9, "0.7 |", "finecliper (low) [mlp_adapter_scale=0.7]"},
};

/* The ablation table a header line of finecliper.txt opens (its column names; Table 9's symbol was lost), else
 * `current`. */
static int ablation_table_opened(const char *line, int current) {
    if (strstr(line, "\\multirow2*Parsing | \\multirow2*Land. |")) return 5;
    if (strstr(line, "\\multirow2*Text | \\multirow2*Video |")) return 6;
    if (!strncmp(line, "Descriptor | UAR |", 18)) return 7;
    if (strstr(line, "\\multirow2* | DFEW |")) return 9;
    if (strstr(line, "\\multirow2*")) return 0; /* another table */
    return current;
}

/* A row of the ablation table `table` (its marks after the row colour): its published numbers against
 * paper_results.c; 1 where the line is one. */
static int check_ablation_row(int table, const char *line, const char *const datasets[3]) {
    const char *colour = strstr(line, "!10 ");
    if (!table || !colour) return 0;
    for (size_t k = 0; k < sizeof k_ablation_rows / sizeof k_ablation_rows[0]; k++) {
        size_t n = strlen(k_ablation_rows[k].marks);
        if (k_ablation_rows[k].table != table || strncmp(colour + 4, k_ablation_rows[k].marks, n)) continue;
        char rest[512], *fld[16];
        snprintf(rest, sizeof rest, "%s", colour + 4 + n);
        int f = split_bars(rest, fld, 16);
        EXPECT(f >= 6, "Table %d's row has %d fields: %s", table, f, line);
        for (int d = 0; d < 3 && f >= 6; d++) {
            double uar = 0, war = 0;
            EXPECT(number(fld[2 * d], &uar) && number(fld[1 + 2 * d], &war), "Table %d: %s", table, line);
            const PaperResult *p = paper_result(k_ablation_rows[k].key, "ViT-B/16", datasets[d]);
            EXPECT(p && p->uar == uar && p->war == war, "Table %d, %s on %s: the paper says %.2f / %.2f", table,
                   k_ablation_rows[k].key, datasets[d], uar, war);
        }
        return 1;
    }
    EXPECT(0, "Table %d: a row of marks not known: %s", table, line);
    return 1;
}

/* DFER-CLIP's Tables 1, 3, 4 and 5 (dfer_clip.txt, tab-separated): a row's first fields (Table 3's "w/o TM" or "w/ TM"
 * only on its group's first row in the text) and its model as paper_results.c keys it (Tables 1 and 3 share one). */
static const struct DferClipRow { int table; const char *marks, *key; } k_dfer_clip_rows[] = {
    {1, "4\t✗\t", "dfer_clip [temporal_layers=0, contexts=4]"}, {1, "8\t✗\t", "dfer_clip [temporal_layers=0]"},
    {1, "16\t✗\t", "dfer_clip [temporal_layers=0, contexts=16]"}, {1, "8\t1\t", "dfer_clip"},
    {1, "8\t2\t", "dfer_clip [temporal_layers=2]"}, {1, "8\t3\t", "dfer_clip [temporal_layers=3]"},
    {3, "w/o TM\ta photo of [Class]\t", "dfer_clip [temporal_layers=0, contexts=0, class_text=photo_of_name]"},
    {3, "w/o TM\tan expression of [Class]\t",
     "dfer_clip [temporal_layers=0, contexts=0, class_text=name_with_context]"},
    {3, "w/o TM\t[Learnable Prompt] [Class]\t", "dfer_clip [temporal_layers=0, class_text=name]"},
    {3, "w/o TM\t[Learnable Prompt] [Descriptors]\t", "dfer_clip [temporal_layers=0]"},
    {3, "w/ TM\t[Learnable Prompt] [Class]\t", "dfer_clip [class_text=name]"},
    {3, "w/ TM\t[Learnable Prompt] [Descriptors]\t", "dfer_clip"},
    {4, "Middle\t✗\t", "dfer_clip [context_position=middle, class_specific_contexts=false]"},
    {4, "Middle\t✓\t", "dfer_clip [context_position=middle]"},
    {4, "End\t✗\t", "dfer_clip [class_specific_contexts=false]"}, {4, "End\t✓\t", "dfer_clip"},
    {5, "DFER-CLIP (Ours)\t", "dfer_clip"},
};
enum { DFER_CLIP_ROWS = sizeof k_dfer_clip_rows / sizeof k_dfer_clip_rows[0] };

static void check_dfer_clip_transcription(const char *const datasets[3]) {
    char path[1024], line[4096], group[16] = "", row[4200];
    snprintf(path, sizeof path, "%s/papers/dfer_clip.txt", test_shared_dir());
    FILE *f = fopen(path, "r");
    EXPECT(f != NULL, "%s", path);
    int found[DFER_CLIP_ROWS] = {0};
    while (f && fgets(line, sizeof line, f)) {
        if (line[0] != '\t') /* a group's first row ("w/o TM"), or no group */
            snprintf(group, sizeof group, "%.*s", strncmp(line, "w/", 2) ? 0 : (int)strcspn(line, "\t"), line);
        snprintf(row, sizeof row, "%s%s", group, line[0] == '\t' ? line : line + strlen(group));
        const struct DferClipRow *e = k_dfer_clip_rows;
        while (e < k_dfer_clip_rows + DFER_CLIP_ROWS && strncmp(row, e->marks, strlen(e->marks))) e++;
        if (e == k_dfer_clip_rows + DFER_CLIP_ROWS) continue;
        double v[6];
        int n = sscanf(row + strlen(e->marks), "%lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
        EXPECT(n == 6, "DFER-CLIP Table %d's row has %d numbers: %s", e->table, n, line);
        for (int d = 0; d < 3 && n == 6; d++) {
            const PaperResult *r = paper_result(e->key, "ViT-B/32", datasets[d]);
            EXPECT(r && r->uar == v[2 * d] && r->war == v[2 * d + 1], "DFER-CLIP Table %d, %s on %s: the paper says "
                   "%.2f / %.2f", e->table, e->key, datasets[d], v[2 * d], v[2 * d + 1]);
        }
        found[e - k_dfer_clip_rows]++;
    }
    if (f) fclose(f);
    for (int k = 0; k < DFER_CLIP_ROWS; k++)
        EXPECT(found[k] == 1, "DFER-CLIP's row %s found %d times", k_dfer_clip_rows[k].key, found[k]);
}

/* paper_results.c against the papers' own text: FineCLIPER's Tables 1 to 9 (but Fig.-only ablations), DFER-CLIP's
 * Tables 1, 3, 4 and 5 (check_dfer_clip_transcription). */
static void test_paper_transcription(void) {
    static const char *const datasets[3] = {"dfew", "ferv39k", "mafw"};
    char path[1024];
    snprintf(path, sizeof path, "%s/papers/finecliper.txt", test_shared_dir());
    FILE *f = fopen(path, "r");
    EXPECT(f != NULL, "%s", path);
    if (!f) return;
    char line[4096];
    int table1 = 0, table2 = 0, table3 = 0;
    int table8 = 0, table4 = 0, ablation_table = 0, ablation_rows = 0;
    while (fgets(line, sizeof line, f)) {
        ablation_table = ablation_table_opened(line, ablation_table);
        if (check_ablation_row(ablation_table, line, datasets)) {
            ablation_rows++;
            continue;
        }
        /* Table 4: the levels alone | 3 x (UAR | WAR); its first and last rows are Table 1's low and full model */
        static const struct {
            const char *row, *variant;
        } k_levels[4] = {{"Low-level Only |", "low"},
                         {"Middle-level Only |", "mid"},
                         {"High-level Only |", "high"},
                         {"Low-Middle-High (Ours) |", "low+mid+high"}};
        int level = -1;
        for (int k = 0; k < 4; k++)
            if (strstr(line, k_levels[k].row)) level = k;
        if (level >= 0) {
            char *fld[16], method[64];
            int n = split_bars(strstr(line, k_levels[level].row) + strlen(k_levels[level].row), fld, 16);
            EXPECT(n >= 6, "Table 4's row has %d fields: %s", n, line);
            snprintf(method, sizeof method, "finecliper (%s)", k_levels[level].variant);
            for (int d = 0; d < 3 && n >= 6; d++) {
                double uar = 0, war = 0;
                EXPECT(number(fld[2 * d], &uar) && number(fld[1 + 2 * d], &war), "Table 4: %s", line);
                const PaperResult *p = paper_result(method, "ViT-B/16", datasets[d]);
                EXPECT(p && p->uar == uar && p->war == war, "Table 4, %s on %s: the paper says %.2f / %.2f", method,
                       datasets[d], uar, war);
            }
            table4++;
            continue;
        }
        if (!strncmp(line, "\\rowcolorcyan!10 CLIP-ViT-", 26) ||
            !strncmp(line, "\\hlineB1.5 \\rowcolorcyan!10 CLIP-ViT-", 37)) {
            /* Table 8: the full model per backbone | tunable parameters | 3 x (UAR | WAR) */
            char *fld[16], arch[32];
            int n = split_bars(strstr(line, "CLIP-ViT-"), fld, 16);
            EXPECT(n >= 8, "Table 8's row has %d fields: %s", n, line);
            if (n < 8) continue;
            snprintf(arch, sizeof arch, "%s", fld[0] + 5); /* after "CLIP-" */
            for (int d = 0; d < 3; d++) {
                double uar, war;
                number(fld[2 + 2 * d], &uar), number(fld[3 + 2 * d], &war);
                const PaperResult *p = paper_result("finecliper (low+mid+high)", arch, datasets[d]);
                EXPECT(p && p->uar == uar && p->war == war, "Table 8, %s on %s: the paper says %.2f / %.2f", arch,
                       datasets[d], uar, war);
            }
            table8++;
            continue;
        }
        char *name = strstr(line, "FineCLIPER"), *ours = strstr(line, " (Ours) |");
        if (!name || !ours || ours < name) continue;
        /* the variant's marks between the name and " (Ours)": none, ∗, †, ∗† */
        char marks[32];
        snprintf(marks, sizeof marks, "%.*s", (int)(ours - name - 10), name + 10);
        const char *variant = !strcmp(marks, "")     ? "low"
                              : !strcmp(marks, "∗")  ? "low+mid"
                              : !strcmp(marks, "†")  ? "low+high"
                              : !strcmp(marks, "∗†") ? "low+mid+high"
                                                     : NULL;
        EXPECT(variant != NULL, "unknown variant marks '%s'", marks);
        if (!variant) continue;
        char method[64];
        snprintf(method, sizeof method, "finecliper (%s)", variant);
        char *fld[16];
        int n = split_bars(ours + 8, fld, 16);
        double v[12];
        int numeric = 0;
        while (numeric < n && numeric < 12 && number(fld[numeric], &v[numeric])) numeric++;
        if (n >= 8 && !strcmp(fld[0], "CLIP-ViT-B/16") && !number(fld[1], &v[0])) {
            /* Table 3: backbone | "MAFW (video caption)" | 3 x (UAR | WAR), "-" where not published */
            EXPECT(!strcmp(variant, "low+high"), "Table 3's rows are FineCLIPER-dagger's (%s)", variant);
            char train[16], kind[32];
            EXPECT(sscanf(fld[1], "%15s (%31[^)])", train, kind) == 2, "pretraining '%s'", fld[1]);
            for (char *c = train; *c; c++) *c = (char)tolower((unsigned char)*c);
            const char *captions = !strcmp(kind, "video caption")          ? "dataset"
                                   : !strcmp(kind, "fine-grained caption") ? "descriptions"
                                                                           : "?";
            for (int d = 0; d < 3; d++) {
                double uar, war;
                const PaperZeroShot *z = paper_zero_shot("finecliper (low)", "ViT-B/16", train, captions, datasets[d]);
                if (number(fld[2 + 2 * d], &uar) && number(fld[3 + 2 * d], &war))
                    EXPECT(z && z->uar == uar && z->war == war, "zero-shot %s (%s) on %s: the paper says %.2f / %.2f",
                           train, kind, datasets[d], uar, war);
                else
                    EXPECT(!z && !strcmp(fld[2 + 2 * d], "-"),
                           "zero-shot %s (%s) on %s: not published, yet transcribed", train, kind, datasets[d]);
            }
            table3++;
        } else if (n >= 8 && !strcmp(fld[0], "CLIP-ViT-B/16") && number(fld[1], &v[0])) {
            /* Table 1: backbone | params | 3 x (UAR | WAR) */
            for (int d = 0; d < 3; d++) {
                double uar, war;
                number(fld[2 + 2 * d], &uar), number(fld[3 + 2 * d], &war);
                const PaperResult *p = paper_result(method, "ViT-B/16", datasets[d]);
                EXPECT(p && p->uar == uar && p->war == war, "%s on %s: the paper says %.2f / %.2f", method, datasets[d],
                       uar, war);
            }
            table1++;
        } else if (numeric >= 10) {
            /* Table 2: params | 7 classes | UAR | WAR (DFEW) */
            const PaperResult *p = paper_result(method, "ViT-B/16", "dfew");
            int same = p && p->n_recall == 7 && p->uar == v[8] && p->war == v[9];
            for (int k = 0; same && k < 7; k++) same = p->recall[k] == v[1 + k];
            EXPECT(same, "%s: DFEW per-class accuracy differs from Table 2", method);
            table2++;
        }
    }
    fclose(f);
    EXPECT(table1 == 4 && table2 == 4 && table3 == 4, "rows checked: Table 1 %d, Table 2 %d, Table 3 %d (4 each)",
           table1, table2, table3);
    EXPECT(table8 == 3, "Table 8's rows checked: %d (B/16, B/32, L/14)", table8);
    EXPECT(table4 == 4, "Table 4's rows checked: %d (low, middle, high, all)", table4);
    EXPECT(ablation_rows == (int)(sizeof k_ablation_rows / sizeof k_ablation_rows[0]),
           "Tables 5, 6, 7 and 9: %d rows checked of %zu", ablation_rows,
           sizeof k_ablation_rows / sizeof k_ablation_rows[0]);
    check_dfer_clip_transcription(datasets);
    EXPECT(paper_result("finecliper (low)", "ViT-B/16, Long-CLIP text (248 positions)", "mafw") != NULL,
           "an architecture with more after a comma matches");
    EXPECT(paper_result("finecliper (low)", "ViT-B/32", "dfew") == NULL, "no FineCLIPER numbers on B/32");
}

/* Method names past 40 characters (a matrix's ablation entries): the row shows the whole name, and a zero-shot
 * row finds its jobs (its key cut the name at 40, and the cut name matched no job: "missing"). */
static void test_long_method_names(void) {
    char dir[600];
    const char *name = "finecliper-ablation-without-landmarks-lr-0.001";
    const char *jobs =
        "[{\"method\":\"finecliper-ablation-without-landmarks-lr-0.001\",\"variant\":\"low\",\"dataset\":\"mafw\","
        "\"eval_dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"zeroshot\"},"
        "{\"method\":\"finecliper-ablation-without-landmarks-lr-0.001\",\"variant\":\"low\",\"dataset\":\"dfew\","
        "\"eval_dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"}]";
    results_dir(dir, sizeof dir, "results-long-names", jobs);
    put_job(dir, "z", name, "low", "mafw", "dfew", "b16", "zeroshot", 1, 25, NULL);
    put_job(dir, "s", name, "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    char *md = format_tables(dir, TABLE_MARKDOWN);
    EXPECT(strstr(md, "| finecliper-ablation-without-landmarks-lr-0.001 (low) | 50.00 | 60.00 |"),
           "a supervised row with the whole name: %s", md);
    EXPECT(strstr(md, "| finecliper-ablation-without-landmarks-lr-0.001 (low), trained on MAFW | 25.00 | 35.00 |"),
           "a zero-shot row with the whole name finds its job: %s", md);
    EXPECT(!strstr(md, "missing ("), "no job is missing: %s", md);
    free(md);
}

/* Backbones: a zero-shot job's backbone makes no Table 8 (it made one of dashes), and each zero-shot backbone gets
 * its rows in Table 3 (only one was shown). */
static void test_backbones_by_setting(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/results-backbones", test_tmpdir());
    put_job(dir, "s1", "finecliper", "low", "dfew", "dfew", "tiny", "supervised", 1, 50, NULL);
    put_job(dir, "z1", "finecliper", "low", "mafw", "dfew", "b32", "zeroshot", 1, 20, NULL);
    put_job(dir, "z2", "finecliper", "low", "mafw", "dfew", "b16", "zeroshot", 1, 24, NULL);
    char *md = format_tables(dir, TABLE_MARKDOWN);
    EXPECT(!strstr(md, "Table 8"), "one supervised backbone, no Table 8: %s", md);
    EXPECT(strstr(md, "| finecliper (low), trained on MAFW @ b32 | 20.00 | 30.00 |") &&
               strstr(md, "| finecliper (low), trained on MAFW @ b16 | 24.00 | 34.00 |"),
           "a Table 3 row per zero-shot backbone: %s", md);
    EXPECT(strstr(md, "evaluated on fold 1's test split"), "Table 3 says which test split: %s", md);
    free(md);
}

/* A job folder's name past 159 bytes (a long method and backbone name, a folder of dfer train's): jobs.json's id and
 * the folder's name were cut to 159 bytes, so a listed job was left out of the tables as "not listed", and without
 * jobs.json results_counted denied a result the tables counted (dfer report then said it was left out). */
static void test_long_job_folder(void) {
    char dir[600], name[220], jobs[1200];
    memset(name, 'x', 200);
    name[200] = '\0';
    snprintf(jobs, sizeof jobs,
             "[{\"job\":\"%s\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,"
             "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"}]",
             name);
    results_dir(dir, sizeof dir, "results-long-folder", jobs);
    put_job(dir, name, "finecliper", "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    ResultSet *rs;
    Err err;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *buf = tables_text(rs, TABLE_MARKDOWN, 0);
    EXPECT(strstr(buf, "| finecliper (low) | 50.00 | 60.00 |"), "the listed job counts: %s", buf);
    EXPECT(results_counted(rs, name), "results_counted says the tables count it");
    char notes[RESULTS_MAX_NOTES][1024];
    EXPECT(results_notes(rs, notes, RESULTS_MAX_NOTES) == 0, "no note (the first: %s)", notes[0]);
    free(buf);
    results_free(rs);
}

/* Table 8 of a big matrix: every method x backbone row (12 x 12 = 144 rows lost their last 16 at a fixed 128
 * without a word); past the table's limit (33 x 32 = 1056 jobs of jobs.json, none run yet) the caption says it is
 * cut. */
static void test_many_rows(void) {
    char dir[600], name[64], method[32], backbone[32];
    snprintf(dir, sizeof dir, "%s/results-many-rows", test_tmpdir());
    for (int m = 0; m < 12; m++)
        for (int b = 0; b < 12; b++) {
            snprintf(name, sizeof name, "m%02d-b%02d", m, b);
            snprintf(method, sizeof method, "method%02d", m);
            snprintf(backbone, sizeof backbone, "bb%02d", b);
            put_job(dir, name, method, "", "dfew", "dfew", backbone, "supervised", 1, 40 + b * 0.5, NULL);
        }
    char *md = format_tables(dir, TABLE_MARKDOWN);
    const char *t8 = strstr(md, "### Table 8");
    int rows = 0;
    for (const char *p = t8 ? strstr(t8, "|---") : NULL; p && (p = strstr(p, "\n| method")); p++) rows++;
    EXPECT(rows == 144, "Table 8 has %d of its 144 rows", rows);
    EXPECT(strstr(md, "| method11 @ bb11 | 45.50 | 55.50 |"), "the last row is there");
    EXPECT(!strstr(md, "Cut at"), "no table is cut");
    free(md);
    /* the matrix's jobs make rows before they run ("missing"): 1056 rows from jobs.json alone */
    size_t cap = 33 * 32 * 160, len = 0;
    char *jobs = xmalloc(cap);
    len += (size_t)snprintf(jobs + len, cap - len, "[");
    for (int m = 0; m < 33; m++)
        for (int b = 0; b < 32; b++)
            len +=
                (size_t)snprintf(jobs + len, cap - len,
                                 "%s{\"method\":\"method%02d\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"bb%02d\","
                                 "\"seed\":1,\"setting\":\"supervised\"}",
                                 m || b ? "," : "", m, b);
    snprintf(jobs + len, cap - len, "]");
    results_dir(dir, sizeof dir, "results-too-many-rows", jobs);
    free(jobs);
    md = format_tables(dir, TABLE_MARKDOWN);
    t8 = strstr(md, "### Table 8");
    rows = 0;
    for (const char *p = t8 ? strstr(t8, "|---") : NULL; p && (p = strstr(p, "\n| method")); p++) rows++;
    EXPECT(rows == 1024, "Table 8 holds 1024 of its 1056 rows, not %d", rows);
    EXPECT(t8 && strstr(t8, "Cut at 1024 rows: the rows after them are not shown."), "its caption says it is cut");
    free(md);
}

/* Zero-shot rows of long method and backbone names: each row's name whole, backbone included (cut at 128 bytes, the
 * two rows below read the same and their backbones were lost). */
static void test_long_row_names(void) {
    char dir[600];
    const char *method = "finecliper-ablation-without-landmarks-lr-0.001";
    const char *bb[2] = {"vit-b16-openclip-laion2b-s34b-finetuned-ablation-aaaa",
                         "vit-b16-openclip-laion2b-s34b-finetuned-ablation-bbbb"};
    snprintf(dir, sizeof dir, "%s/results-long-rows", test_tmpdir());
    for (int b = 0; b < 2; b++)
        put_job(dir, bb[b], method, "low+mid", "mafw", "dfew", bb[b], "zeroshot", 1, 20 + 5 * b, NULL);
    char *md = format_tables(dir, TABLE_MARKDOWN);
    for (int b = 0; b < 2; b++) {
        char row[400];
        snprintf(row, sizeof row, "| %s (low+mid), trained on MAFW @ %s | %.2f | %.2f |", method, bb[b], 20.0 + 5 * b,
                 30.0 + 5 * b);
        EXPECT(strstr(md, row), "the row %s in %s", row, md);
    }
    free(md);
}

/* A fold or seed past int's range (1e300; 1e999 reads as infinity) was cast to int, which is undefined: the result
 * is left out with a note naming its file and the key, and so is such a job of jobs.json. */
static void test_numbers_out_of_range(void) {
    char dir[600];
    const char *jobs = "[{\"job\":\"f1\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\","
                       "\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"job\":\"f2\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\","
                       "\"fold\":2,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"job\":\"f3\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\","
                       "\"fold\":1e300,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"}]";
    results_dir(dir, sizeof dir, "results-out-of-range", jobs);
    put_job(dir, "f1", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    put(dir, "f2", "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,"
                   "\"backbone\":\"b16\",\"seed\":1e999,\"setting\":\"supervised\",\"status\":\"done\","
                   "\"uar\":70,\"war\":80}");
    ResultSet *rs;
    Err err;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *buf = tables_text(rs, TABLE_MARKDOWN, 0);
    EXPECT(strstr(buf, "| finecliper (low) | 50.00 (1/2) | 60.00 (1/2) |"), "only f1 counts, of 2 jobs: %s", buf);
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES), seed = 0, fold = 0;
    for (int i = 0; i < n; i++) {
        seed += strstr(notes[i], "f2/result.json: \"seed\" is inf, not a whole number in int's range") != NULL;
        fold += strstr(notes[i], "jobs.json: job 3 (f3): \"fold\" is 1e+300, not a whole number in int's range") !=
                NULL;
    }
    EXPECT(seed == 1 && fold == 1, "notes name the files and keys (%d notes: %s / %s)", n, n > 0 ? notes[0] : "",
           n > 1 ? notes[1] : "");
    free(buf);
    results_free(rs);
}

int main(void) {
    TEST_RUN(test_backbones_by_setting);
    TEST_RUN(test_tables);
    TEST_RUN(test_paper_rows);
    TEST_RUN(test_zero_shot_rows);
    TEST_RUN(test_zero_shot_failed);
    TEST_RUN(test_uneven_results);
    TEST_RUN(test_paper_transcription);
    TEST_RUN(test_long_method_names);
    TEST_RUN(test_long_job_folder);
    TEST_RUN(test_many_rows);
    TEST_RUN(test_long_row_names);
    TEST_RUN(test_numbers_out_of_range);
    return test_summary();
}
