/* Tables from result files: means and standard deviations over folds, missing
 * and failed jobs shown as such (never as zero), zero-shot and per-class tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "testlib.h"
#include "train/table.h"

static void put(const char *dir, const char *job, const char *json) {
    char path[800];
    Err err;
    snprintf(path, sizeof path, "%s/%s", dir, job);
    fs_mkdirs(path, &err);
    snprintf(path, sizeof path, "%s/%s/result.json", dir, job);
    fs_write_atomic(path, json, strlen(json), &err);
}

static void test_tables(void) {
    char dir[600];
    Err err;
    snprintf(dir, sizeof dir, "%s/results", test_tmpdir());
    fs_mkdirs(dir, &err);
    const char *jobs =
        "[{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":3,\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
        "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"supervised\"},"
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"zeroshot\"}]";
    char path[800];
    snprintf(path, sizeof path, "%s/jobs.json", dir);
    fs_write_atomic(path, jobs, strlen(jobs), &err);
    put(dir, "a", "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,"
                  "\"setting\":\"supervised\",\"status\":\"done\",\"uar\":60,\"war\":70,\"classes\":[\"happiness\",\"sadness\"],\"recall\":[80,40]}");
    put(dir, "b", "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,\"backbone\":\"tiny\",\"seed\":1,"
                  "\"setting\":\"supervised\",\"status\":\"done\",\"uar\":64,\"war\":74,\"classes\":[\"happiness\",\"sadness\"],\"recall\":[90,38]}");
    put(dir, "c", "{\"method\":\"dfer_clip\",\"variant\":\"\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"tiny\",\"seed\":1,"
                  "\"setting\":\"supervised\",\"status\":\"failed\",\"error\":\"bad path\"}");
    put(dir, "z", "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\",\"fold\":1,"
                  "\"backbone\":\"tiny\",\"seed\":1,\"setting\":\"zeroshot\",\"status\":\"done\",\"uar\":30.5,\"war\":33}");
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    int fin, fail, exp;
    results_count(rs, &fin, &fail, &exp);
    EXPECT(fin == 3 && fail == 1 && exp == 5, "counts %d %d %d", fin, fail, exp);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_MARKDOWN, f);
    fclose(f);
    EXPECT(strstr(buf, "62.00 ± 2.83 (2/3)") != NULL, "mean, std and partial count for finecliper: %s", buf);
    EXPECT(strstr(buf, "failed (1)") != NULL, "failed job shown as failed");
    EXPECT(strstr(buf, "| 85.00 | 39.00 |") != NULL, "per-class recall means");
    EXPECT(strstr(buf, "trained on MAFW") && strstr(buf, "30.50"), "zero-shot table");
    EXPECT(strstr(buf, "| 0.00") == NULL, "nothing missing is shown as zero");
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_LATEX, f);
    fclose(f);
    EXPECT(strstr(buf, "\\begin{tabular}") && strstr(buf, "$\\pm$"), "LaTeX output");
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    tables_write(rs, TABLE_CSV, f);
    fclose(f);
    EXPECT(strstr(buf, "method,DFEW UAR,DFEW WAR") != NULL, "CSV header: %s", buf);
    free(buf);
    results_free(rs);
    EXPECT(results_load("/nonexistent-results", &rs, &err) != 0 && strstr(err.msg, "/nonexistent-results"),
           "missing directory named");
}

int main(void) {
    TEST_RUN(test_tables);
    return test_summary();
}
