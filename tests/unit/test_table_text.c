/* The text of dfer table's files where names hold markup or control characters (a backbone or method name of
 * result.json with "<high>", a newline, a CR, a blank line): each format escapes markup its own way, tables.csv's
 * "# title" comment stays one line, and tables.tex's \caption holds no paragraph break and no character LaTeX
 * refuses. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "testlib.h"
#include "train/table.h"

/* The tables of a result set in format, composed in memory. */
static char *tables_text_of(const ResultSet *rs, TableFormat format) {
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    EXPECT(mem != NULL, "open_memstream");
    if (mem) {
        tables_write(rs, format, 0, mem);
        EXPECT(!ferror(mem) && fclose(mem) == 0, "the tables composed in memory");
    }
    return text ? text : calloc(1, 1);
}

/* The tables of one result (JSON text) in format. */
static char *tables_text(const char *result_json, TableFormat format) {
    cJSON *result = cJSON_Parse(result_json);
    EXPECT(result != NULL, "the test's JSON parses");
    ResultSet *rs = results_new();
    Err err;
    EXPECT(results_add(rs, result, "j1/result.json", &err) == 0, "%s", err.msg);
    char *text = tables_text_of(rs, format);
    results_free(rs);
    cJSON_Delete(result);
    return text;
}

/* A backbone "b16\n\nlarge\r\x01" (it names each table in its title) and a variant "a\rb". */
static const char k_result[] =
    "{\"method\":\"finecliper\",\"variant\":\"a\\rb\",\"dataset\":\"dfew\",\"fold\":1,\"backbone\":"
    "\"b16\\n\\nlarge\\r\\u0001\",\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",\"uar\":50,\"war\":60}";

/* Every line of tables.csv is a comment ("# ") or a row of 3 fields: a newline in the title made "large" a row. */
static void test_csv_comment_one_line(void) {
    char *csv = tables_text(k_result, TABLE_CSV);
    EXPECT(strstr(csv, "# Table 1: supervised results (backbone b16  large  )\n"), "the title on one line: %s", csv);
    int in_quotes = 0, line_start = 1, bad_lines = 0;
    for (const char *p = csv; *p; p++) {
        if (line_start && !in_quotes && *p != '#' && *p != '\n' && strncmp(p, "method", 6) &&
            strncmp(p, "finecliper", 10) && strncmp(p, "\"finecliper", 11))
            bad_lines++;
        line_start = 0;
        if (*p == '#' && !in_quotes) { /* a comment runs to the end of its line, with no control character */
            for (; *p && *p != '\n'; p++)
                if ((unsigned char)*p < 0x20) bad_lines++;
            if (!*p) break;
        }
        if (*p == '"') in_quotes = !in_quotes;
        if (*p == '\n' && !in_quotes) line_start = 1;
    }
    EXPECT(bad_lines == 0, "%d lines that are no comment or row: %s", bad_lines, csv);
    free(csv);
}

/* No control character but the line ends in tables.tex, and no blank line inside a \caption{...}. */
static void test_latex_no_control_characters(void) {
    char *tex = tables_text(k_result, TABLE_LATEX);
    int controls = 0;
    for (const char *p = tex; *p; p++) controls += (unsigned char)*p < 0x20 && *p != '\n';
    EXPECT(controls == 0, "%d control characters in the LaTeX: %s", controls, tex);
    const char *caption = strstr(tex, "\\caption{");
    EXPECT(caption != NULL, "a caption: %s", tex);
    for (; caption; caption = strstr(caption + 1, "\\caption{")) {
        const char *end = strstr(caption, "}\n\\begin{tabular}");
        EXPECT(end != NULL, "the caption ends before the tabular: %s", caption);
        if (!end) break;
        const char *blank = strstr(caption, "\n\n");
        EXPECT(!blank || blank > end, "no blank line (a paragraph break) in \\caption: %.*s", (int)(end - caption),
               caption);
        EXPECT(strstr(caption, "(backbone b16  large  )") && strstr(caption, "(backbone b16  large  )") < end,
               "the backbone in the caption, its control characters spaces: %.*s", (int)(end - caption), caption);
    }
    EXPECT(strstr(tex, "finecliper (a b) & 50.00 & 60.00"), "the variant's CR a space: %s", tex);
    free(tex);
}

/* A method named "mid & <high>": tables.md is rendered by GitHub, which takes "<high>" for an HTML tag and drops it
 * (and shows "&lt;" as "<"), so Markdown carries & < > as entities; LaTeX, HTML and CSV escape in their own way. */
static void test_markup_in_names(void) {
    const char *result = "{\"method\":\"mid & <high>\",\"variant\":\"a|b\",\"dataset\":\"dfew\",\"fold\":1,"
                         "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\","
                         "\"uar\":50,\"war\":60}";
    char *md = tables_text(result, TABLE_MARKDOWN), *tex = tables_text(result, TABLE_LATEX);
    char *html = tables_text(result, TABLE_HTML), *csv = tables_text(result, TABLE_CSV);
    EXPECT(strstr(md, "| mid &amp; &lt;high&gt; (a\\|b) | 50.00 | 60.00 |"), "Markdown: entities and \\|: %s", md);
    EXPECT(!strstr(md, "<high>") && !strstr(md, "& <"), "Markdown: no raw markup left: %s", md);
    EXPECT(strstr(tex, "mid \\& \\textless{}high\\textgreater{} (a\\textbar{}b) & 50.00 & 60.00"), "LaTeX: %s", tex);
    EXPECT(strstr(html, "<td>mid &amp; &lt;high&gt; (a|b)</td>"), "HTML: %s", html);
    EXPECT(strstr(csv, "\nmid & <high> (a|b),50.00,,1,1,60.00,,1,1\n"),
           "CSV: the name as it is (no comma or quote); one job: its mean, no sd: %s", csv);
    free(md);
    free(tex);
    free(html);
    free(csv);
}

/* The longest run of digits in s: "%.2f" of a UAR of 1e300 is 301 of them. */
static int longest_digit_run(const char *s) {
    int run = 0, longest = 0;
    for (; *s; s++) {
        run = *s >= '0' && *s <= '9' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    return longest;
}

/* Scores no run can have in hand-edited or damaged result.json files (a UAR of 1e300, a WAR of -5, a recall of
 * 1e999, read as infinity): each such result is left out of every format's tables (its job shows as missing), with a
 * note naming the file and the key; "%.2f" of 1e300 printed 301 digits into a cell. A recall of -1 (a class without
 * test clips) is no damage: j1 counts. */
static void test_scores_out_of_range(void) {
    static const char *const results[4][2] = {
        {"j1", "\"uar\":50,\"war\":60,\"classes\":[\"happy\",\"sad\"],\"recall\":[80,-1]"},
        {"j2", "\"uar\":1e300,\"war\":60"},
        {"j3", "\"uar\":50,\"war\":-5"},
        {"j4", "\"uar\":50,\"war\":60,\"classes\":[\"happy\",\"sad\"],\"recall\":[1e999,50]"}};
    char jobs_json[1200] = "[", text[600];
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text,
                 "%s{\"job\":\"%s\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\","
                 "\"fold\":%d,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"}",
                 i ? "," : "", results[i][0], i + 1);
        strcat(jobs_json, text);
    }
    strcat(jobs_json, "]");
    cJSON *jobs = cJSON_Parse(jobs_json);
    EXPECT(jobs != NULL, "the test's jobs.json parses");
    ResultSet *rs = results_new();
    results_add_expected(rs, jobs, "jobs.json");
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text,
                 "{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":%d,"
                 "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\",%s}",
                 i + 1, results[i][1]);
        cJSON *result = cJSON_Parse(text);
        EXPECT(result != NULL, "the test's %s/result.json parses", results[i][0]);
        char path[64];
        snprintf(path, sizeof path, "%s/result.json", results[i][0]);
        results_add_folder(rs, results[i][0], result, path, NULL);
        cJSON_Delete(result);
    }
    for (int f = TABLE_MARKDOWN; f <= TABLE_HTML; f++) {
        char *tables = tables_text_of(rs, (TableFormat)f);
        EXPECT(longest_digit_run(tables) < 12, "format %d: a number of %d digits: %.300s", f,
               longest_digit_run(tables), tables);
        if (f == TABLE_MARKDOWN)
            EXPECT(strstr(tables, "| finecliper (low) | 50.00 (1/4) | 60.00 (1/4) |"), "only j1 counts: %s", tables);
        free(tables);
    }
    static const char *const expected_notes[3] = {
        "j2/result.json: \"uar\" is 1e+300, not a percentage in [0, 100]",
        "j3/result.json: \"war\" is -5, not a percentage in [0, 100]",
        "j4/result.json: \"recall\"[0] is inf, not a percentage in [0, 100] (nor -1: no test clip, never predicted)"};
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES);
    for (int k = 0; k < 3; k++) {
        int found = 0;
        for (int i = 0; i < n; i++) found += strstr(notes[i], expected_notes[k]) != NULL;
        EXPECT(found == 1, "a note: %s (%d notes, the first: %s)", expected_notes[k], n, n ? notes[0] : "");
    }
    results_free(rs);
    cJSON_Delete(jobs);
}

/* Names with invalid UTF-8 (result.json as a damaged or hand-edited file holds them: a stray byte 0xFF, a sequence cut
 * short, a UTF-16 surrogate, an overlong '/'): every format is valid UTF-8 (libunistring's u8_check, not the code's
 * own check), each invalid byte U+FFFD; tables.tex carried the bytes and pdflatex (inputenc utf8) stopped at them,
 * tables.csv too. */
static void test_invalid_utf8_replaced(void) {
    static const char result[] =
        "{\"method\":\"fine\xff" "cliper\",\"variant\":\"lo\xc3\",\"dataset\":\"dfew\",\"fold\":1,"
        "\"backbone\":\"b\xed\xa0\x80/\xc0\xaf\",\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\","
        "\"uar\":50,\"war\":60,\"classes\":[\"hap\xfepy\",\"sad\"],\"recall\":[80,20]}";
    static const char *const format_names[4] = {"Markdown", "LaTeX", "CSV", "HTML"};
    const char *fffd = "\xef\xbf\xbd";
    char method[64], backbone[64], class_name[32];
    snprintf(method, sizeof method, "fine%scliper (lo%s)", fffd, fffd);
    snprintf(backbone, sizeof backbone, "b%s%s%s/%s%s", fffd, fffd, fffd, fffd, fffd); /* a byte, a U+FFFD */
    snprintf(class_name, sizeof class_name, "hap%spy", fffd);
    for (int f = TABLE_MARKDOWN; f <= TABLE_HTML; f++) {
        char *tables = tables_text(result, (TableFormat)f);
        const uint8_t *invalid = u8_check((const uint8_t *)tables, strlen(tables));
        EXPECT(!invalid, "%s: invalid UTF-8 at byte %td: %.60s", format_names[f],
               invalid ? invalid - (const uint8_t *)tables : 0, invalid ? (const char *)invalid : "");
        EXPECT(strstr(tables, method), "%s: the method with U+FFFD for its bad bytes: %s", format_names[f], tables);
        EXPECT(strstr(tables, backbone), "%s: the backbone, each bad byte U+FFFD: %s", format_names[f], tables);
        EXPECT(strstr(tables, class_name), "%s: the class name in Table 2: %s", format_names[f], tables);
        free(tables);
    }
}

/* The notes `dfer table` prints on stderr name job folders and backbones: an escape sequence, a C1 control (U+009B,
 * which a UTF-8 terminal may take as CSI), a newline or an invalid byte in those names reached the terminal. Every
 * such byte becomes '?'; the rest of the name, a valid U+00E9 among it, stays. */
static void test_notes_printable(void) {
    static const char folder[] = "f\x1b[31mred\xc2\x9b" "2J\nnext\xff" "caf\xc3\xa9";
    static const char shown[] = "f?[31mred??2J?next?caf\xc3\xa9";
    cJSON *jobs = cJSON_Parse("[{\"job\":\"j1\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\","
                              "\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\"}]");
    EXPECT(jobs != NULL, "the test's jobs.json parses");
    ResultSet *rs = results_new();
    results_add_expected(rs, jobs, "jobs.json");
    cJSON *result = cJSON_Parse("{\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"dfew\",\"fold\":2,"
                                "\"backbone\":\"b16\",\"seed\":1,\"setting\":\"supervised\",\"status\":\"done\","
                                "\"uar\":50,\"war\":60}");
    char path[128];
    snprintf(path, sizeof path, "%s/result.json", folder);
    results_add_folder(rs, folder, result, path, NULL); /* not a job of jobs.json: left out, with a note */
    char notes[RESULTS_MAX_NOTES][1024];
    int n = results_notes(rs, notes, RESULTS_MAX_NOTES), named = 0;
    for (int i = 0; i < n; i++) {
        named += strstr(notes[i], shown) != NULL;
        for (const unsigned char *c = (const unsigned char *)notes[i]; *c; c++)
            EXPECT(*c >= 0x20 && *c != 0x7f && !(c[0] == 0xc2 && c[1] >= 0x80 && c[1] < 0xa0) && *c != 0xff,
                   "note %d: byte 0x%02x at %td: %s", i, *c, (const char *)c - notes[i], notes[i]);
    }
    EXPECT(named == 1, "a note names the folder left out as %s (%d notes, the first: %s)", shown, n,
           n ? notes[0] : "");
    results_free(rs);
    cJSON_Delete(result);
    cJSON_Delete(jobs);
}

int main(void) {
    TEST_RUN(test_invalid_utf8_replaced);
    TEST_RUN(test_scores_out_of_range);
    TEST_RUN(test_markup_in_names);
    TEST_RUN(test_csv_comment_one_line);
    TEST_RUN(test_latex_no_control_characters);
    TEST_RUN(test_notes_printable);
    return test_summary();
}
