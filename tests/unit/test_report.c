/* dfer report's reading of a results folder (report/runs.h) and the page it writes (report/report.h), on
 * hand-made result folders: partial and damaged inputs as a demanding user meets them. The end-to-end page
 * (a real matrix, escaping, Chromium) is tests/report.sh. */
#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* The one run of a results folder (rs to free), or NULL after a failed check. */
static const Run *load_one_run(const char *dir, RunSet *rs) {
    Err err;
    EXPECT(runs_load(dir, rs, &err) == 0, "%s", err.msg);
    if (rs->n == 1) return &rs->runs[0];
    EXPECT(0, "one run, not %d", rs->n);
    runs_free(rs);
    return NULL;
}

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
    const Run *r = load_one_run(dir, &rs);
    if (!r) return;
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

/* Numbers past their type's range were cast (undefined): a finished_unix of 1e300 is no time (the file's time stands
 * in, as for older results), and a step of 1e300 stops the curves at its line, named. */
static void test_numbers_out_of_range(void) {
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/results-out-of-range", test_tmpdir());
    put_file(dir, "j1", "result.json",
             "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
             "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":50,"
             "\"finished_unix\":1e300}");
    put_file(dir, "j1", "metrics.jsonl",
             "{\"type\":\"step\",\"epoch\":1,\"step\":2,\"loss\":2}\n"
             "{\"type\":\"step\",\"epoch\":1e300,\"step\":3,\"loss\":2}\n" /* no epoch of a curve: skipped */
             "{\"type\":\"step\",\"epoch\":2,\"step\":1e300,\"loss\":1}\n");
    RunSet rs;
    const Run *r = load_one_run(dir, &rs);
    if (!r) return;
    struct stat st;
    snprintf(path, sizeof path, "%s/j1/result.json", dir);
    EXPECT(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    EXPECT(r->finished == st.st_mtime, "finished at the file's time %lld, not %lld", (long long)st.st_mtime,
           (long long)r->finished);
    EXPECT(r->curves_error && strstr(r->curves_error, "metrics.jsonl:3: \"step\" is 1e+300"), "the line named: %s",
           r->curves_error ? r->curves_error : "(none)");
    EXPECT(r->curves.n == 1, "one epoch of curves (the line of epoch 2 is refused), not %d", r->curves.n);
    runs_free(&rs);
}

/* A page bigger than the memory left (a long command line shown on it, 64 MiB, under an address-space limit of
 * 40 MiB more than the child has: the tables take some 10 MiB): it was composed in an open_memstream whose buffer
 * could not grow, glibc flagged no error, and report_write renamed a page cut after 32 MiB into place. It must be
 * whole, or not written. */
static void test_page_whole_under_memory_limit(void) {
#if defined(__SANITIZE_ADDRESS__)
    printf("skipped: an address-space limit and AddressSanitizer's shadow memory do not mix\n");
    return;
#endif
    char dir[700], page[800];
    snprintf(dir, sizeof dir, "%s/results-memory-limit", test_tmpdir());
    put_file(dir, "j1", "result.json", k_result);
    snprintf(page, sizeof page, "%s/report.html", dir);
    const size_t command_bytes = (size_t)64 << 20;
    fflush(stdout);
    pid_t child = fork();
    EXPECT(child >= 0, "fork: %s", strerror(errno));
    if (child == 0) {
        char *command = xmalloc(command_bytes + 1);
        memset(command, 'a', command_bytes); /* written as it is (nothing to escape) */
        command[command_bytes] = '\0';
        size_t now = (size_t)proc_status_bytes("VmSize");
        struct rlimit limit = {now + ((size_t)40 << 20), now + ((size_t)40 << 20)};
        if (now == 0 || setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
        Err err;
        _exit(report_write(dir, page, command, 0, NULL, &err) == 0 ? 0 : 1); /* either way: never a half page */
    }
    int status = 0;
    EXPECT(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) <= 1,
           "the child ended with status %d", status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return; /* no page written: nothing cut to look at */
    char *html = NULL;
    size_t len = 0;
    Err err;
    EXPECT(fs_read_all(page, &html, &len, &err) == 0, "%s", err.msg);
    if (!html) return;
    EXPECT(len > command_bytes, "a page of %zu bytes holds the command of %zu", len, command_bytes);
    EXPECT(len >= 16 && !strcmp(html + len - 16, "</body>\n</html>\n"), "the page ends as a page does: ...%.40s",
           len > 40 ? html + len - 40 : html);
    free(html);
}

/* A page that the file system refuses part-way (a file-size limit: EFBIG, as a full disk's ENOSPC): an error that
 * names the page, and neither a page nor a temporary file left. */
static void test_page_write_refused(void) {
    char dir[700], page[800];
    snprintf(dir, sizeof dir, "%s/results-size-limit", test_tmpdir());
    put_file(dir, "j1", "result.json", k_result);
    snprintf(page, sizeof page, "%s/report.html", dir);
    fflush(stdout);
    pid_t child = fork();
    EXPECT(child >= 0, "fork: %s", strerror(errno));
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead of ending the process */
        struct rlimit limit = {4096, 4096};
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(3);
        Err err;
        int rc = report_write(dir, page, NULL, 0, NULL, &err);
        _exit(rc != 0 && strstr(err.msg, page) && strstr(err.msg, strerror(EFBIG)) ? 0 : 1);
    }
    int status = 0;
    EXPECT(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "report_write says the page could not be written, naming it and the reason (status %d)", status);
    EXPECT(!fs_exists(page), "no page written");
    char names[256];
    Err err;
    EXPECT(fs_remove_atomic_leftovers(dir, names, sizeof names, &err) == 0, "temporary files left: %s", names);
}

/* Whether the attribute value v (len bytes) of attribute name is sound: no "nan" or "inf" text, and, in a
 * coordinate or size, every number finite, short and within the page (a tick of 1e300 printed 301 digits). */
static int svg_attribute_sound(const char *name, size_t name_len, const char *v, size_t len, char *why, size_t n) {
    for (size_t i = 0; i + 3 <= len; i++)
        if (!strncasecmp(v + i, "nan", 3) || !strncasecmp(v + i, "inf", 3))
            return snprintf(why, n, "%.*s=\"%.*s\"", (int)name_len, name, (int)(len > 60 ? 60 : len), v), 0;
    static const char *const coordinates[] = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height",
                                              "d", "transform", "viewBox"};
    int coordinate = 0;
    for (size_t k = 0; k < sizeof coordinates / sizeof *coordinates; k++)
        coordinate |= strlen(coordinates[k]) == name_len && !strncmp(coordinates[k], name, name_len);
    if (!coordinate) return 1;
    for (size_t i = 0; i < len;) {
        if (!strchr("-.0123456789", v[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && strchr("-.0123456789", v[i])) i++;
        char number[32];
        double x = i - start < sizeof number ? (snprintf(number, sizeof number, "%.*s", (int)(i - start), v + start),
                                                strtod(number, NULL))
                                             : INFINITY;
        if (!(fabs(x) <= 1e5))
            return snprintf(why, n, "%.*s=\"%.*s\"", (int)name_len, name, (int)(len > 60 ? 60 : len), v), 0;
    }
    return 1;
}

/* A result.json and metrics.jsonl with numbers no chart can hold (a UAR and a recall of 1e300, a confusion count of
 * 1e300, losses of 1e308 and -1e308, fold and seed 1e300): the range of the losses overflowed to infinity, the
 * ticks were NaN (their count an out-of-range cast), 1e300 made ticks of 301 digits. Each chart is now whole with
 * finite coordinates, the values left out and counted in a note, fold and seed "?". */
static void test_huge_values_left_out_of_plots(void) {
    char dir[700], page[800];
    snprintf(dir, sizeof dir, "%s/results-huge", test_tmpdir());
    put_file(dir, "j1", "result.json",
             "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
             "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":1e300,\"war\":50,"
             "\"classes\":[\"happy\",\"sad\"],\"recall\":[1e300,50],"
             "\"best\":{\"epoch\":1e300,\"confusion\":[[1e300,1],[2,3]]}}");
    put_file(dir, "j1", "metrics.jsonl",
             "{\"type\":\"step\",\"epoch\":1,\"step\":2,\"loss\":1e308}\n"
             "{\"type\":\"eval\",\"epoch\":1,\"loss\":1e308,\"uar\":1e300,\"war\":40}\n"
             "{\"type\":\"step\",\"epoch\":2,\"step\":2,\"loss\":-1e308}\n"
             "{\"type\":\"eval\",\"epoch\":2,\"loss\":-1e308,\"uar\":30,\"war\":45}\n"
             "{\"type\":\"eval\",\"epoch\":3,\"loss\":0.5,\"uar\":35,\"war\":47}\n");
    put_file(dir, "j2", "result.json", k_result);
    /* no fold of the tables (they leave it out), but the page lists the job */
    put_file(dir, "j3", "result.json",
             "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1e300,\"backbone\":\"b16\","
             "\"seed\":-1e300,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":50}");
    snprintf(page, sizeof page, "%s/report.html", dir);
    Err err;
    EXPECT(report_write(dir, page, NULL, 0, NULL, &err) == 0, "%s", err.msg);
    char *html = NULL;
    size_t len = 0;
    EXPECT(fs_read_all(page, &html, &len, &err) == 0, "%s", err.msg);
    if (!html) return;
    int charts = 0, bad = 0;
    for (const char *svg = strstr(html, "<svg"); svg; svg = strstr(svg + 1, "<svg")) {
        const char *end = strstr(svg, "</svg>");
        EXPECT(end, "chart %d is closed", charts);
        if (!end) break;
        charts++;
        int opened = 0, closed = 0;
        for (const char *p = svg; p < end; p++) opened += *p == '<', closed += *p == '>';
        EXPECT(opened == closed, "chart %d: %d '<' and %d '>'", charts, opened, closed);
        for (const char *p = svg; p < end && bad < 5; p++) { /* every name="value" inside the chart's tags */
            if (p[0] != '=' || p[1] != '"') continue;
            const char *name = p;
            while (name > svg && (isalnum((unsigned char)name[-1]) || name[-1] == '-')) name--;
            const char *value = p + 2, *close = strchr(value, '"');
            if (!close || close > end) break;
            char why[160];
            if (!svg_attribute_sound(name, (size_t)(p - name), value, (size_t)(close - value), why, sizeof why)) {
                EXPECT(0, "chart %d: %s", charts, why);
                bad++;
            }
            p = close;
        }
        int digits = 0, longest = 0;
        for (const char *p = svg; p < end; p++) {
            digits = isdigit((unsigned char)*p) ? digits + 1 : 0;
            if (digits > longest) longest = digits;
        }
        EXPECT(longest < 20, "chart %d prints a number of %d digits", charts, longest);
    }
    EXPECT(charts == 4 + 1, "4 charts of j1 and a spread plot: %d", charts);
    EXPECT(strstr(html, "class=\"left-out\""), "a chart says that values were left out");
    EXPECT(strstr(html, ">4 values too large to plot left out<"), "the loss chart counts its 4 values left out");
    EXPECT(strstr(html, ">1 value too large to plot left out<"), "the UAR chart, the bars, the spread plot: 1 each");
    EXPECT(strstr(html, ", fold ?, backbone b16, seed ?, "), "j3's fold and seed are '?'");
    EXPECT(strstr(html, "<td class=\"num\">?</td><td>b16</td><td class=\"num\">?</td>"), "'?' in the summary too");
    free(html);
}

/* The page as text (NULL after a failed check; free it). */
static char *page_of(const char *dir) {
    char page[800];
    snprintf(page, sizeof page, "%s/report.html", dir);
    Err err;
    EXPECT(report_write(dir, page, NULL, 0, NULL, &err) == 0, "%s", err.msg);
    char *html = NULL;
    size_t len = 0;
    EXPECT(fs_read_all(page, &html, &len, &err) == 0, "%s", err.msg);
    return html;
}

/* Numbers out of their range in result.json and metrics.jsonl that the page prints as text, not in a chart (a UAR,
 * a fold's clips, seconds, parameters, an input's clips, a recall, an epoch of 1e300; a fold's WAR of -1): "%.2f"
 * of 1e300 printed 301 digits into the summary table and the job's line. Each is shown as missing, and the job's
 * section names it with its file and key, or its metrics.jsonl line. */
static void test_values_out_of_range_shown_missing(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/results-values-out-of-range", test_tmpdir());
    put_file(dir, "j1", "result.json",
             "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
             "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":1e300,\"war\":50,\"seconds\":1e300,"
             "\"classes\":[\"happy\",\"sad\"],\"recall\":[1e300,-1],\"trainable_parameters\":{\"total\":1e300},"
             "\"inputs\":{\"test_split\":{\"path\":\"/splits/test.csv\",\"sha256\":\"ab\",\"clips\":1e300}},"
             "\"best\":{\"epoch\":1e300,\"folds\":[{\"fold\":1,\"clips\":1e300,\"uar\":1e300,\"war\":40},"
             "{\"fold\":2,\"clips\":10,\"uar\":30,\"war\":-1}]}}");
    put_file(dir, "j1", "metrics.jsonl",
             "{\"type\":\"eval\",\"epoch\":1,\"loss\":1,\"uar\":30,\"war\":40}\n"
             "{\"type\":\"eval\",\"epoch\":2,\"loss\":1,\"uar\":1e300,\"war\":45}\n");
    put_file(dir, "j2", "result.json", k_result);
    char *html = page_of(dir);
    if (!html) return;
    int digits = 0, longest = 0;
    for (const char *p = html; *p; p++) {
        digits = isdigit((unsigned char)*p) ? digits + 1 : 0;
        if (digits > longest) longest = digits;
    }
    EXPECT(longest < 20, "the page prints a number of %d digits", longest);
    EXPECT(strstr(html, "done</span></td><td class=\"num\">—</td><td class=\"num\">50.00</td><td class=\"num\">—</td>"
                        "<td class=\"num\">—</td></tr>"),
           "j1's summary row: UAR, epoch and seconds missing, WAR 50.00");
    EXPECT(strstr(html, "<b>UAR —, WAR 50.00</b>"), "j1's line: its UAR missing");
    EXPECT(strstr(html, "<tr><td>1</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">40.00</td>"),
           "fold 1: clips and UAR missing");
    EXPECT(strstr(html, "<tr><td>2</td><td class=\"num\">10</td><td class=\"num\">30.00</td><td class=\"num\">—</td>"),
           "fold 2: its WAR of -1 missing");
    EXPECT(strstr(html, "/splits/test.csv (sha256 ab)"), "the test split's clips left out of its row");
    static const char *const named[] = {
        "/j1/result.json: &quot;uar&quot; is 1e+300, not a percentage in [0, 100]: shown as missing",
        "/j1/result.json: &quot;seconds&quot; is 1e+300, not a number from 0 to 1e15",
        "/j1/result.json: &quot;recall&quot;[0] is 1e+300, not a percentage in [0, 100] (nor -1: no test clip, never "
        "predicted): shown as missing",
        "/j1/result.json: &quot;trainable_parameters&quot;.&quot;total&quot; is 1e+300",
        "/j1/result.json: &quot;best&quot;.&quot;epoch&quot; is 1e+300",
        "/j1/result.json: &quot;best&quot;.&quot;folds&quot;[1].&quot;war&quot; is -1, not a percentage in [0, 100]",
        "/j1/result.json: &quot;inputs&quot;.&quot;test_split&quot;.&quot;clips&quot; is 1e+300",
        "/j1/metrics.jsonl:2: &quot;uar&quot; is 1e+300, not a percentage in [0, 100]: shown as missing"};
    for (size_t k = 0; k < sizeof named / sizeof *named; k++)
        EXPECT(strstr(html, named[k]), "the page names: %s", named[k]);
    EXPECT(!strstr(html, "&quot;recall&quot;[1]"), "a recall of -1 (no test clips) is no damage");
    free(html);
}

/* result.json counts best.epoch from 1 where it says so ("epoch_counted_from": 1, as the log and metrics.jsonl
 * count), from 0 where it was written before that key: the page shows epoch 3 for both. */
static void test_reported_epoch_numbering(void) {
    static const char *const results[2] = {
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":50,\"classes\":[\"a\",\"b\"],"
        "\"epoch_counted_from\":1,\"best\":{\"epoch\":3,\"confusion\":[[1,1],[2,3]]}}",
        "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":\"b16\","
        "\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":40,\"war\":50,\"classes\":[\"a\",\"b\"],"
        "\"best\":{\"epoch\":2,\"confusion\":[[1,1],[2,3]]}}"};
    for (int i = 0; i < 2; i++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/results-epoch-%d", test_tmpdir(), i);
        put_file(dir, "j1", "result.json", results[i]);
        char *html = page_of(dir);
        EXPECT(html && strstr(html, "Confusion matrix, epoch 3") && !strstr(html, "Confusion matrix, epoch 4") &&
                   !strstr(html, "Confusion matrix, epoch 2"),
               "%s: the best epoch shown as 3", i ? "counted from 0 (no key)" : "counted from 1");
        free(html);
    }
}

int main(void) {
    TEST_RUN(test_values_out_of_range_shown_missing);
    TEST_RUN(test_curves_stop_at_a_bad_line);
    TEST_RUN(test_title_cut_between_characters);
    TEST_RUN(test_page_whole_under_memory_limit);
    TEST_RUN(test_page_write_refused);
    TEST_RUN(test_numbers_out_of_range);
    TEST_RUN(test_huge_values_left_out_of_plots);
    TEST_RUN(test_reported_epoch_numbering);
    return test_summary();
}
