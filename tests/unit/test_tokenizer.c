/* The CLIP tokenizer against the shared test vectors (every line of both
 * files), anchors, framing (padding and truncation at 77 and 248), HTML
 * entities, Unicode lowercasing, round trips and bad vocabulary files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "text/tokenizer.h"

static ClipTokenizer *g_tok;

static int ids_equal(const char *text, const char *expected) {
    int32_t *ids;
    int n;
    Err err;
    if (clip_tokenize(g_tok, text, &ids, &n, &err) != 0) return 0;
    char buf[8192];
    size_t off = 0;
    for (int i = 0; i < n && off < sizeof buf - 16; i++) off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d", i ? " " : "", ids[i]);
    free(ids);
    int same = !strcmp(buf, expected);
    if (!same) fprintf(stderr, "  [%s]\n    expected %s\n    got      %s\n", text, expected, buf);
    return same;
}

static void check_vector_file(const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/clip/%s", test_shared_dir(), name);
    FILE *f = fopen(path, "r");
    EXPECT(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[16384];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n') line[--len] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        n++;
        bad += !ids_equal(line, tab + 1);
    }
    fclose(f);
    EXPECT(n > 10 && bad == 0, "%s: %d of %d lines differ", name, bad, n);
    printf("  %s: %d lines, %d differ\n", name, n, bad);
}

static void test_vectors(void) {
    check_vector_file("tokenizer_vectors.tsv");
    check_vector_file("tokenizer_vectors_noftfy.tsv");
}

static void test_anchors_and_normalisation(void) {
    EXPECT(ids_equal("a photo of a cat", "49406 320 1125 539 320 2368 49407"), "anchor");
    EXPECT(ids_equal("don't stop 42 times", "49406 847 713 1691 275 273 1661 49407"), "anchor");
    EXPECT(ids_equal("", "49406 49407") && ids_equal(" \t\n ", "49406 49407"), "empty and whitespace-only");
    EXPECT(ids_equal("A   PHOTO\tof a\u00a0Cat", "49406 320 1125 539 320 2368 49407"), "whitespace runs and case");
    EXPECT(ids_equal("a photo of a cat<|endoftext|>", "49406 320 1125 539 320 2368 49407 49407"), "literal EOT");
    /* &amp;lt; unescapes twice to '<' */
    int32_t *a, *b;
    int na, nb;
    Err err;
    clip_tokenize(g_tok, "x &amp;lt; y", &a, &na, &err);
    clip_tokenize(g_tok, "x < y", &b, &nb, &err);
    EXPECT(na == nb && !memcmp(a, b, (size_t)na * sizeof *a), "double html unescape");
    free(a), free(b);
    clip_tokenize(g_tok, "\xc3\x89T\xc3\x89", &a, &na, &err); /* ÉTÉ */
    clip_tokenize(g_tok, "\xc3\xa9t\xc3\xa9", &b, &nb, &err); /* été */
    EXPECT(na == nb && !memcmp(a, b, (size_t)na * sizeof *a), "Unicode lowercasing");
    free(a), free(b);
    EXPECT(clip_tokenize(g_tok, "bad \xff utf8", &a, &na, &err) != 0 && strstr(err.msg, "UTF-8"), "invalid UTF-8 rejected");
}

static void test_framing(void) {
    char text[1024] = "";
    for (int i = 0; i < 100; i++) strcat(text, "cat ");
    int32_t out[248];
    Err err;
    EXPECT(clip_tokenize_padded(g_tok, text, 77, 0, out, &err) != 0 && strstr(err.msg, "102 tokens"),
           "too long without truncate: %s", err.msg);
    EXPECT(clip_tokenize_padded(g_tok, text, 77, 1, out, &err) == 0 && out[0] == CLIP_SOT && out[1] == 2368 &&
               out[75] == 2368 && out[76] == CLIP_EOT, "truncated to 77 ending with EOT");
    EXPECT(clip_tokenize_padded(g_tok, text, 248, 0, out, &err) == 0 && out[101] == CLIP_EOT && out[102] == 0 &&
               out[247] == 0, "fits 248 with zero padding");
    EXPECT(clip_tokenize_padded(g_tok, "a photo of a cat", 77, 0, out, &err) == 0 && out[6] == CLIP_EOT && out[7] == 0 &&
               out[76] == 0, "padding at 77");
}

static void test_detokenize(void) {
    int32_t *ids;
    int n;
    Err err;
    clip_tokenize(g_tok, "a person with an expression of happiness.", &ids, &n, &err);
    char *s = clip_detokenize(g_tok, ids + 1, n - 2);
    EXPECT(!strcmp(s, "a person with an expression of happiness . "), "round trip: '%s'", s);
    free(s);
    free(ids);
}

static void test_bad_vocabulary(void) {
    ClipTokenizer *t;
    Err err;
    EXPECT(clip_tokenizer_load("/nonexistent/vocab.txt.gz", &t, &err) != 0 && strstr(err.msg, "/nonexistent/vocab.txt.gz"),
           "missing file named: %s", err.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/short_vocab.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("#version: 0.2\ni n\nt h\n", f);
    fclose(f);
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, "2 merges") && strstr(err.msg, path),
           "truncated vocabulary: %s", err.msg);
}

int main(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/clip/%s", test_shared_dir(), CLIP_VOCAB_FILE);
    Err err;
    if (clip_tokenizer_load(path, &g_tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_vectors);
    TEST_RUN(test_anchors_and_normalisation);
    TEST_RUN(test_framing);
    TEST_RUN(test_detokenize);
    TEST_RUN(test_bad_vocabulary);
    clip_tokenizer_free(g_tok);
    return test_summary();
}
