/* Import of per-clip descriptions (text/descriptions.h): JSONL and TSV,
 * format detection, errors that name file:line, duplicate ids, lookup, and
 * the atomic JSONL writer (round trip). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "testlib.h"
#include "text/descriptions.h"

/* Parses text and expects an error containing every one of the fragments. */
static void expect_error(const char *name, const char *text, const char *frag1, const char *frag2) {
    Descriptions d;
    Err err = {{0}};
    int rc = descriptions_parse(name, text, strlen(text), DESC_FORMAT_AUTO, &d, &err);
    EXPECT(rc == -1 && strstr(err.msg, frag1) && (!frag2 || strstr(err.msg, frag2)),
           "%s: rc %d, message \"%s\", want \"%s\"%s%s", name, rc, err.msg, frag1, frag2 ? " and " : "",
           frag2 ? frag2 : "");
    descriptions_free(&d);
}

static void test_jsonl(void) {
    const char *text = "{\"clip\": \"00042\", \"text\": \"The brows rise.\", \"label\": 3}\n"
                       "\n"
                       "{\"clip\": 7, \"text\": \"Caf\\u00e9 \\\"quoted\\\"\\nline two\"}\r\n"
                       "  {\"text\": \"x\", \"clip\": \"b\"}  ";
    Descriptions d;
    Err err;
    EXPECT(descriptions_parse("a.jsonl", text, strlen(text), DESC_FORMAT_AUTO, &d, &err) == 0, "%s", err.msg);
    EXPECT(descriptions_count(&d) == 3, "count %d", descriptions_count(&d));
    const char *t = descriptions_find(&d, "00042");
    EXPECT(t && !strcmp(t, "The brows rise."), "00042 -> %s", t ? t : "(null)");
    /* a whole number is the clip number of DFEW or MAFW: their 5-digit id (as "7" it matched no clip) */
    t = descriptions_find(&d, "00007");
    EXPECT(t && !strcmp(t, "Caf\xc3\xa9 \"quoted\"\nline two"), "7 -> %s", t ? t : "(null)");
    EXPECT(descriptions_find(&d, "42") == NULL && descriptions_find(&d, "7") == NULL &&
               descriptions_find(&d, "") == NULL,
           "string ids are exact strings");
    EXPECT(!strcmp(descriptions_at(&d, 0)->clip, "00042") && descriptions_at(&d, 1)->line == 3 &&
               !strcmp(descriptions_at(&d, 2)->clip, "b") && descriptions_at(&d, 2)->line == 4,
           "file order and lines");
    descriptions_free(&d);
}

static void test_tsv(void) {
    const char *text = "# clip<TAB>text\nclip_1\tThe lips part.\r\nclip_2\tTabs\tstay in the text.\n\nclip_3\t\n";
    Descriptions d;
    Err err;
    EXPECT(descriptions_parse("x.tsv", text, strlen(text), DESC_FORMAT_AUTO, &d, &err) == 0, "%s", err.msg);
    EXPECT(descriptions_count(&d) == 3, "count %d", descriptions_count(&d));
    const char *t = descriptions_find(&d, "clip_1");
    EXPECT(t && !strcmp(t, "The lips part."), "clip_1 -> %s", t ? t : "(null)");
    t = descriptions_find(&d, "clip_2");
    EXPECT(t && !strcmp(t, "Tabs\tstay in the text."), "clip_2 -> %s", t ? t : "(null)");
    t = descriptions_find(&d, "clip_3");
    EXPECT(t && !t[0], "an empty text is allowed");
    descriptions_free(&d);
    /* no recognised extension: decided by the first non-blank character */
    EXPECT(descriptions_parse("noext", text + 16, strlen(text + 16), DESC_FORMAT_AUTO, &d, &err) == 0 &&
               descriptions_count(&d) == 3,
           "content-detected TSV: %s", err.msg);
    descriptions_free(&d);
    /* a byte-order mark is not part of the first id */
    const char *bom = "\xef\xbb\xbf" "c1\tThe brows rise.\n";
    EXPECT(descriptions_parse("bom.tsv", bom, strlen(bom), DESC_FORMAT_AUTO, &d, &err) == 0 &&
               descriptions_find(&d, "c1") != NULL,
           "a TSV file with a byte-order mark: %s", err.msg);
    descriptions_free(&d);
    const char *json = "\n {\"clip\": \"a\", \"text\": \"b\"}\n";
    EXPECT(descriptions_parse("noext", json, strlen(json), DESC_FORMAT_AUTO, &d, &err) == 0 &&
               descriptions_find(&d, "a") != NULL,
           "content-detected JSONL: %s", err.msg);
    descriptions_free(&d);
}

static void test_errors(void) {
    expect_error("bad.jsonl", "{\"clip\": \"a\", \"text\": \"x\"}\n{\"clip\": \"b\", \"text\": \"y\"\n", "bad.jsonl:2:",
                 "not valid JSON");
    expect_error("bad.jsonl", "{\"clip\": \"a\", \"text\": \"x\"} trailing\n", "bad.jsonl:1:", "after the JSON");
    expect_error("bad.jsonl", "[1, 2]\n", "bad.jsonl:1:", "not a JSON object");
    expect_error("bad.jsonl", "\n\n{\"text\": \"x\"}\n", "bad.jsonl:3:", "no \"clip\"");
    expect_error("bad.jsonl", "{\"clip\": \"a\"}\n", "bad.jsonl:1:", "no \"text\"");
    /* a repeated key: cJSON's lookup returns the first, so the line would silently name the first clip */
    expect_error("bad.jsonl", "{\"clip\": \"a\", \"text\": \"x\", \"clip\": \"b\"}\n", "bad.jsonl:1:",
                 "\"clip\" field is given more than once");
    expect_error("bad.jsonl", "{\"clip\": \"a\", \"text\": \"x\", \"text\": \"y\"}\n", "bad.jsonl:1:",
                 "\"text\" field is given more than once");
    expect_error("bad.jsonl", "{\"clip\": \"a\", \"text\": 5}\n", "bad.jsonl:1:", "\"text\" is not a string");
    expect_error("bad.jsonl", "{\"clip\": 1.5, \"text\": \"x\"}\n", "bad.jsonl:1:", "not a string or a whole number");
    expect_error("bad.jsonl", "{\"clip\": -3, \"text\": \"x\"}\n", "bad.jsonl:1:", "not a string or a whole number");
    expect_error("bad.jsonl", "{\"clip\": \"\", \"text\": \"x\"}\n", "bad.jsonl:1:", "empty");
    expect_error("bad.jsonl", "{\"clip\": \"a\", \"text\": \"ok \xff\"}\n", "bad.jsonl:1:", "UTF-8");
    expect_error(
        "dup.jsonl",
        "{\"clip\": \"a\", \"text\": \"x\"}\n{\"clip\": \"b\", \"text\": \"y\"}\n{\"clip\": \"a\", \"text\": \"z\"}\n",
        "dup.jsonl:3: duplicate clip id 'a'", "first on line 1");
    expect_error("dup.jsonl", "{\"clip\": 12, \"text\": \"x\"}\n{\"clip\": \"00012\", \"text\": \"y\"}\n",
                 "dup.jsonl:2:", "duplicate clip id '00012'");
    /* a NUL, escaped or raw, would cut the text at it (cJSON's strings end there) */
    expect_error("nul.jsonl",
                 "{\"clip\": \"a\", \"text\": \"x\"}\n{\"clip\": \"b\", \"text\": \"x\\u0000 she is happy\"}\n",
                 "nul.jsonl:2:", "NUL");
    {
        static const char raw[] = "{\"clip\": \"a\", \"text\": \"x\0 happy\"}\n";
        Descriptions d;
        Err err = {{0}};
        EXPECT(descriptions_parse("raw.jsonl", raw, sizeof raw - 1, DESC_FORMAT_JSONL, &d, &err) == -1 &&
                   strstr(err.msg, "raw.jsonl:1:") && strstr(err.msg, "NUL"),
               "a raw NUL byte: %s", err.msg);
        descriptions_free(&d);
        /* an escaped backslash before u0000 is text, not a NUL */
        const char *ok = "{\"clip\": \"a\", \"text\": \"C:\\\\u0000 path\"}\n";
        EXPECT(descriptions_parse("ok.jsonl", ok, strlen(ok), DESC_FORMAT_JSONL, &d, &err) == 0 &&
                   !strcmp(descriptions_find(&d, "a"), "C:\\u0000 path"),
               "an escaped backslash and u0000: %s", err.msg);
        descriptions_free(&d);
    }
    expect_error("bad.tsv", "a\tx\nno tab here\n", "bad.tsv:2:", "no tab");
    expect_error("bad.tsv", "\tx\n", "bad.tsv:1:", "empty clip id");
    expect_error("bad.tsv", "a\tx\nb\ty\na\tz\n", "bad.tsv:3: duplicate clip id 'a'", "first on line 1");
    Descriptions d;
    Err err;
    EXPECT(descriptions_load("/nonexistent/desc.jsonl", &d, &err) == -1 && strstr(err.msg, "/nonexistent/desc.jsonl"),
           "missing file: %s", err.msg);
    descriptions_free(&d);
    /* in-memory building: duplicates are found by descriptions_index */
    descriptions_init(&d);
    descriptions_add(&d, "x", "1", 0);
    descriptions_add(&d, "x", "2", 0);
    EXPECT(descriptions_index(&d, &err) == -1 && strstr(err.msg, "duplicate clip id 'x'"), "%s", err.msg);
    descriptions_free(&d);
}

static void test_write_roundtrip(void) {
    Descriptions d;
    descriptions_init(&d);
    char id[32], text[64];
    for (int i = 999; i >= 0; i--) { /* reverse order: the lookup must not depend on it */
        snprintf(id, sizeof id, "clip%04d", i);
        snprintf(text, sizeof text, "Text %d with \"quotes\", a tab\there and \xc3\xa9.", i);
        descriptions_add(&d, id, text, 0);
    }
    Err err;
    EXPECT(descriptions_index(&d, &err) == 0, "%s", err.msg);
    descriptions_set_text(&d, 0, descriptions_at(&d, 0)->text); /* replacing a text by itself is safe */
    descriptions_set_text(&d, 1, "Replaced.");
    char path[600];
    snprintf(path, sizeof path, "%s/out.jsonl", test_tmpdir());
    EXPECT(descriptions_write_jsonl(path, &d, &err) == 0, "%s", err.msg);
    Descriptions back;
    EXPECT(descriptions_load(path, &back, &err) == 0, "%s", err.msg);
    EXPECT(descriptions_count(&back) == 1000, "count %d", descriptions_count(&back));
    int same = 1;
    for (int i = 0; i < 1000 && i < descriptions_count(&back); i++) {
        const Description *a = descriptions_at(&d, i), *b = descriptions_at(&back, i);
        same &= !strcmp(a->clip, b->clip) && !strcmp(a->text, b->text) && b->line == i + 1;
        same &= descriptions_find(&back, a->clip) == b->text;
    }
    EXPECT(same, "the written file reads back identically, in order");
    const char *t = descriptions_find(&back, "clip0998");
    EXPECT(t && !strcmp(t, "Replaced."), "clip0998 -> %s", t ? t : "(null)");
    EXPECT(descriptions_find(&back, "clip1000") == NULL, "absent id");
    /* nothing but the output in the directory: the temporary file was renamed */
    DIR *dir = opendir(test_tmpdir());
    int files = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) files += e->d_name[0] != '.';
    if (dir) closedir(dir);
    EXPECT(files == 1, "%d files in the output directory", files);
    /* an unwritable destination is an error naming it */
    EXPECT(descriptions_write_jsonl("/nonexistent/dir/out.jsonl", &d, &err) == -1 &&
               strstr(err.msg, "/nonexistent/dir"),
           "%s", err.msg);
    descriptions_free(&back);
    descriptions_free(&d);
    /* an empty set: an empty file, and an empty file loads as an empty set */
    descriptions_init(&d);
    EXPECT(descriptions_write_jsonl(path, &d, &err) == 0 && descriptions_load(path, &back, &err) == 0 &&
               descriptions_count(&back) == 0 && descriptions_find(&back, "x") == NULL,
           "empty: %s", err.msg);
    descriptions_free(&back);
    descriptions_free(&d);
}

/* A lone UTF-16 surrogate escape (an emoji cut in two): the message says so, not only "not valid JSON"; a pair is
 * text. A byte-order mark at the start of a line other than the first (two files joined): refused, naming file:line
 * (cJSON skipped it silently; in TSV it became part of the clip id). */
static void test_surrogates_and_marks(void) {
    expect_error("cut.jsonl", "{\"clip\": \"a\", \"text\": \"x\"}\n{\"clip\": \"b\", \"text\": \"so happy \\ud83d\"}\n",
                 "cut.jsonl:2: a lone UTF-16 surrogate \\ud83d", NULL);
    expect_error("cut.jsonl", "{\"clip\": \"b\", \"text\": \"\\uDE00 low first\"}\n",
                 "cut.jsonl:1: a lone UTF-16 surrogate \\uDE00", NULL);
    expect_error("cut.jsonl", "{\"clip\": \"b\", \"text\": \"\\ud83d\\u0041 high, then no low\"}\n",
                 "cut.jsonl:1: a lone UTF-16 surrogate \\ud83d", NULL);
    Descriptions d;
    Err err = {{0}};
    const char *pair = "\xef\xbb\xbf{\"clip\": \"a\", \"text\": \"grin \\ud83d\\ude00 and C:\\\\ud83d\"}\n";
    EXPECT(descriptions_parse("pair.jsonl", pair, strlen(pair), DESC_FORMAT_AUTO, &d, &err) == 0 &&
               !strcmp(descriptions_find(&d, "a"), "grin \xf0\x9f\x98\x80 and C:\\ud83d"),
           "a surrogate pair, an escaped backslash, a mark at the file's start: %s", err.msg);
    descriptions_free(&d);
    expect_error("joined.jsonl", "{\"clip\": \"a\", \"text\": \"x\"}\n\xef\xbb\xbf{\"clip\": \"b\", \"text\": \"y\"}\n",
                 "joined.jsonl:2: a UTF-8 byte-order mark at the start of the line", NULL);
    expect_error("joined.tsv", "a\tx\n\xef\xbb\xbf" "b\ty\n", "joined.tsv:2: a UTF-8 byte-order mark", NULL);
}

int main(void) {
    TEST_RUN(test_jsonl);
    TEST_RUN(test_tsv);
    TEST_RUN(test_errors);
    TEST_RUN(test_surrogates_and_marks);
    TEST_RUN(test_write_roundtrip);
    return test_summary();
}
