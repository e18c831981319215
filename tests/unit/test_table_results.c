/* Reading a matrix's results for the tables: jobs.json decides which folders count, a result.json that cannot be
 * read or holds no result is left out with a note, a copied job folder counts once, a zero-shot result scored on
 * fewer folds than it evaluated is said, and result.json files written before a change of what they hold read as
 * the new ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "table_fixture.h"
#include "testlib.h"
#include "train/table.h"

/* With jobs.json naming its jobs, only their folders count: an earlier matrix's folder (fold 3 of a matrix since cut
 * to folds 1-2) was averaged in silently; a result.json that cannot be read is left out with a note instead of
 * stopping every table. */
static void test_left_out(void) {
    char dir[600];
    const char *jobs = "[{\"job\":\"f1\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,"
                       "\"backbone\":\"b16\","
                       "\"seed\":1,\"setting\":\"supervised\"},"
                       "{\"job\":\"f2\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,"
                       "\"backbone\":\"b16\","
                       "\"seed\":1,\"setting\":\"supervised\"}]";
    results_dir(dir, sizeof dir, "results-left-out", jobs);
    put_job(dir, "f1", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    put(dir, "f2", "{\"method\": \"finecliper\", \"uar\": ");                                        /* cut short */
    put_job(dir, "f3", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 3, 80, NULL); /* not a job now */
    ResultSet *rs;
    Err err;
    EXPECT(results_load(dir, &rs, &err) == 0, "one unreadable result.json stops the tables: %s", err.msg);
    char *buf = tables_text(rs, TABLE_MARKDOWN, 0);
    EXPECT(strstr(buf, "| finecliper (low) | 50.00 (1/2) | 60.00 (1/2) |"), "only the listed, readable job counts: %s",
           buf);
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES), left = 0, unreadable = 0;
    for (int i = 0; i < n; i++) {
        left += strstr(notes[i], "1 result folder that jobs.json does not list") && strstr(notes[i], ": f3");
        unreadable += strstr(notes[i], "left out of the tables: ") && strstr(notes[i], "f2/result.json");
    }
    EXPECT(left == 1 && unreadable == 1, "notes name the folder left out and the unreadable file (%d notes: %s / %s)",
           n, n > 0 ? notes[0] : "", n > 1 ? notes[1] : "");
    EXPECT(strstr(buf, "Missing jobs are shown as missing") && !strstr(buf, "No jobs.json"), "jobs.json: %s", buf);
    free(buf);
    results_free(rs);
}

/* A result.json that is a folder (or unreadable): the note names the file and says why, not only "read error". */
static void test_unreadable_reason(void) {
    char dir[600], path[700];
    Err err;
    snprintf(dir, sizeof dir, "%s/results-unreadable-reason", test_tmpdir());
    put_job(dir, "f1", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    snprintf(path, sizeof path, "%s/f2/result.json", dir);
    EXPECT(fs_mkdirs(path, &err) == 0, "%s", err.msg); /* a folder where the file should be */
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES), named = 0;
    for (int i = 0; i < n; i++) named += strstr(notes[i], "f2/result.json") && strstr(notes[i], "Is a directory");
    EXPECT(named == 1, "a note names the folder result.json and the reason (%d notes: %s)", n, n ? notes[0] : "");
    results_free(rs);
    /* a status dfer does not write (a hand-edited file) is no finished result: left out with a note (it counted as
     * one, where dfer report left it out of its own counts) */
    put(dir, "f3",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":3,\"backbone\":\"b16\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"running\",\"uar\":90,\"war\":90}");
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *md = tables_text(rs, TABLE_MARKDOWN, 0);
    EXPECT(strstr(md, "| finecliper (low) | 50.00 | 60.00 |"), "the other status is not averaged in: %s", md);
    n = results_notes(rs, notes, RESULTS_MAX_NOTES), named = 0;
    int no_list = 0;
    for (int i = 0; i < n; i++) {
        named += strstr(notes[i], "f3/result.json") && strstr(notes[i], "\"running\"");
        no_list += strstr(notes[i], "no jobs.json") != NULL;
    }
    EXPECT(named == 1, "a note names the file and its status (%d notes: %s)", n, n ? notes[0] : "");
    /* no jobs.json: a fold that never finished is not known, which the caption and a note say (it said missing jobs
     * show as missing) */
    EXPECT(no_list == 1 && strstr(md, "No jobs.json") && !strstr(md, "Missing jobs are shown as missing"),
           "no jobs.json said: %s", md);
    free(md);
    results_free(rs);
}

/* A zero-shot result scored on 2 of the 3 folds it evaluated (one had no readable clip): counted, and a note says so
 * (the cell showed the 2-fold mean as any other); one scored on all its folds gets no note. */
static void test_partial_folds(void) {
    char dir[600];
    Err err;
    snprintf(dir, sizeof dir, "%s/results-partial", test_tmpdir());
    static const char *const fmt =
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"dfew\",\"fold\":1,"
        "\"backbone\":\"b16\",\"seed\":%d,\"setting\":\"zeroshot\",\"status\":\"done\",\"uar\":20,\"war\":25,"
        "\"best\":{\"uar\":20,\"war\":25,\"folds_scored\":%d,\"folds\":[{\"fold\":1},{\"fold\":2},{\"fold\":3}]}}";
    char json[1024];
    snprintf(json, sizeof json, fmt, 1, 2);
    put(dir, "zs1", json);
    snprintf(json, sizeof json, fmt, 2, 3);
    put(dir, "zs2", json);
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES), partial = 0;
    for (int i = 0; i < n; i++)
        partial += strstr(notes[i], "1 result scored on fewer of the folds") &&
                   strstr(notes[i], "zs1 (2 of 3 folds)") && !strstr(notes[i], "zs2");
    int fin, failed, expected;
    results_count(rs, &fin, &failed, &expected);
    EXPECT(partial == 1 && fin == 2, "a note names the result of 2 of 3 folds alone, both counted (%d notes: %s)", n,
           n ? notes[0] : "");
    results_free(rs);
}

/* A result.json written before 2026-12-07 gave a class without test clips that the model predicted the recall -1,
 * as one never predicted; read now as the 0 its UAR counted (best.confusion's column says it was predicted), so
 * Table 2 averages old and new results alike; a class neither present nor predicted still has no recall. */
static void test_old_recall(void) {
    char dir[600];
    Err err;
    snprintf(dir, sizeof dir, "%s/results-old-recall", test_tmpdir());
    /* 3 classes: anger predicted twice with no clip of it; fear neither */
    put(dir, "old",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":30,\"war\":45,"
        "\"classes\":[\"happiness\",\"anger\",\"fear\"],\"recall\":[90,-1,-1],"
        "\"best\":{\"confusion\":[[9,1,0],[0,0,0],[0,0,0]]},\"x\":0}");
    put(dir, "new",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,\"backbone\":\"b16\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":50,"
        "\"classes\":[\"happiness\",\"anger\",\"fear\"],\"recall\":[70,20,-1]}");
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *md = tables_text(rs, TABLE_MARKDOWN, 0);
    EXPECT(strstr(md, "| finecliper (low) | 80.00 | 10.00 | — | 35.00 ± 7.07 (2) |"),
           "anger: the old -1 read as its 0, (0 + 20) / 2; fear none: %s", md);
    free(md);
    results_free(rs);
}

/* Without jobs.json every folder counts, but a copied job folder (the same job twice) only once, with a note; the
 * tables count what results_counted says. */
static void test_repeated_job(void) {
    char dir[600], path[700];
    Err err;
    snprintf(dir, sizeof dir, "%s/results-repeated", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    put_job(dir, "f1", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    put_job(dir, "f2", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 2, 54, NULL);
    put_job(dir, "f1 (copy)", "finecliper", "low", "dfew", "dfew", "b16", "supervised", 1, 50, NULL);
    snprintf(path, sizeof path, "%s/jobs.json", dir);
    EXPECT(!fs_exists(path), "no jobs.json");
    ResultSet *rs;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    char *buf = tables_text(rs, TABLE_MARKDOWN, 0);
    EXPECT(strstr(buf, "| finecliper (low) | 52.00 ± 2.83 (2) | 62.00 ± 2.83 (2) |"), "the copy counts once: %s", buf);
    EXPECT(results_counted(rs, "f1") && results_counted(rs, "f2") && !results_counted(rs, "f1 (copy)"),
           "counted folders");
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES), named = 0;
    for (int i = 0; i < n; i++)
        named += strstr(notes[i], "1 result of a job already counted") && strstr(notes[i], "f1 (copy) (the job of f1)");
    EXPECT(named == 1, "a note names the copy (%d notes: %s)", n, n ? notes[0] : "");
    free(buf);
    results_free(rs);
    /* a plain dfer train run (no setting, no backbone) fits no table: said in a note, not silently dropped */
    put(dir, "plain", "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"status\":\"done\","
                      "\"uar\":40,\"war\":50}");
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    n = results_notes(rs, notes, RESULTS_MAX_NOTES), named = 0;
    for (int i = 0; i < n; i++)
        named += strstr(notes[i], "1 result without a matrix setting") && strstr(notes[i], ": plain");
    EXPECT(named == 1, "a note names the run of dfer train (%d notes: %s)", n, n ? notes[0] : "");
    results_free(rs);
}

int main(void) {
    TEST_RUN(test_left_out);
    TEST_RUN(test_unreadable_reason);
    TEST_RUN(test_partial_folds);
    TEST_RUN(test_old_recall);
    TEST_RUN(test_repeated_job);
    return test_summary();
}
