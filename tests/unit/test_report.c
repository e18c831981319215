/* dfer report's reading of a results folder (report/runs.h) and the page it writes (report/report.h), on
 * hand-made result folders: partial and damaged inputs as a demanding user meets them. The end-to-end page
 * (a real matrix, escaping, Chromium) is tests/report.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "report/report.h"
#include "report/runs.h"
#include "testlib.h"

/* DIR/JOB/FILE = text (the folders made). */
static void put_file(const char *dir, const char *job, const char *file, const char *text) {
    char path[1200];
    Err err;
    snprintf(path, sizeof path, "%s/%s", dir, job);
    EXPECT(fs_mkdirs(path, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/%s/%s", dir, job, file);
    EXPECT(fs_write_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
}

static const char k_result[] = "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,"
                               "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\","
                               "\"uar\":40,\"war\":50}";

/* A malformed line in the middle of metrics.jsonl: the curves stop before it, so the epochs before it keep their
 * training loss (it was dropped for every epoch: the evaluations before the line stayed, the training loss did
 * not). Epoch 1: windows of 2 and 3 steps with losses 2 and 1 make (2*2 + 1*3) / 5 = 1.4. */
static void test_curves_stop_at_a_bad_line(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/results-bad-line", test_tmpdir());
    put_file(dir, "j1", "result.json", k_result);
    put_file(dir, "j1", "metrics.jsonl",
             "{\"type\":\"step\",\"epoch\":1,\"step\":2,\"loss\":2}\n"
             "{\"type\":\"step\",\"epoch\":1,\"step\":5,\"loss\":1}\n"
             "{\"type\":\"eval\",\"epoch\":1,\"loss\":1.5,\"uar\":30,\"war\":40}\n"
             "{\"type\":\"step\",\"epoch\":2,\"step\":2,\"loss\":0.5}\n"
             "{\"type\": \"step\", \"epoch\": 2, \"lo\n"
             "{\"type\":\"step\",\"epoch\":2,\"step\":5,\"loss\":0.25}\n"
             "{\"type\":\"eval\",\"epoch\":2,\"loss\":1.2,\"uar\":35,\"war\":45}\n");
    RunSet rs;
    Err err;
    EXPECT(runs_load(dir, &rs, &err) == 0, "%s", err.msg);
    if (rs.n != 1) {
        EXPECT(0, "one run, not %d", rs.n);
        runs_free(&rs);
        return;
    }
    const Run *r = &rs.runs[0];
    EXPECT(r->curves_error && strstr(r->curves_error, "metrics.jsonl:5"), "the bad line named: %s",
           r->curves_error ? r->curves_error : "(none)");
    EXPECT(r->curves.n == 2, "2 epochs of curves, not %d", r->curves.n);
    if (r->curves.n == 2) {
        EXPECT_NEAR(r->curves.train_loss[0], 1.4, 1e-12);
        EXPECT_NEAR(r->curves.test_loss[0], 1.5, 1e-12);
        EXPECT_NEAR(r->curves.train_loss[1], 0.5, 1e-12); /* the one window before the bad line */
        EXPECT(isnan(r->curves.uar[1]), "epoch 2's evaluation comes after the bad line: none, not %g",
               r->curves.uar[1]);
    }
    runs_free(&rs);
}

/* A backbone name past the 40 bytes a spread plot's title keeps, its characters 2 bytes each from an odd offset:
 * the cut falls between characters (it split one, and the page showed U+FFFD). */
static void test_title_cut_between_characters(void) {
    char dir[700], backbone[80] = "x", result[600], page[800];
    for (int i = 0; i < 30; i++) strcat(backbone, "\xc3\xa9"); /* e-acute */
    snprintf(dir, sizeof dir, "%s/results-utf8", test_tmpdir());
    snprintf(result, sizeof result,
             "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"%s\","
             "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":50}",
             backbone);
    put_file(dir, "j1", "result.json", result);
    snprintf(page, sizeof page, "%s/report.html", dir);
    Err err;
    ReportSummary summary;
    EXPECT(report_write(dir, page, NULL, 0, &summary, &err) == 0, "%s", err.msg);
    char *html = NULL;
    size_t len = 0;
    EXPECT(fs_read_all(page, &html, &len, &err) == 0, "%s", err.msg);
    if (!html) return;
    char title[120];
    snprintf(title, sizeof title, ">dfew, supervised, %.39s</text>", backbone); /* x and 19 characters: 39 bytes */
    EXPECT(strstr(html, title), "the spread plot's title cut between characters: %s", title);
    EXPECT(!strstr(html, "\xef\xbf\xbd"), "no U+FFFD in the page");
    free(html);
}

int main(void) {
    TEST_RUN(test_curves_stop_at_a_bad_line);
    TEST_RUN(test_title_cut_between_characters);
    return test_summary();
}
