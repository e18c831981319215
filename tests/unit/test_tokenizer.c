/* The CLIP tokenizer against the shared test vectors (every line of both
 * files), anchors, framing (padding and truncation at 77 and 248), HTML
 * entities, Unicode lowercasing, pre-tokenising quirks, concurrent use,
 * round trips, the vocabulary search and bad vocabulary files. Ids not from
 * clip.md or the vector files are what OpenAI's simple_tokenizer (without
 * ftfy, with Python 3.11 and regex 2022.10.31) returns. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unistr.h>
#include <zlib.h>

#include "core/fsutil.h"
#include "testlib.h"
#include "core/strbuf.h"
#include "text/tokenizer.h"

static ClipTokenizer *g_tok;

static int ids_equal(const char *text, const char *expected) {
    int32_t *ids;
    int n;
    Err err;
    if (clip_tokenize(g_tok, text, &ids, &n, &err) != 0) return 0;
    char buf[8192];
    size_t off = 0;
    for (int i = 0; i < n && off < sizeof buf - 16; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d", i ? " " : "", ids[i]);
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
    EXPECT(ids_equal("Hello, world!", "49406 3306 267 1002 256 49407"), "anchor");
    /* html entities, unescaped twice */
    EXPECT(ids_equal("fish &amp; chips", "49406 2759 261 8855 49407"), "&amp;");
    EXPECT(ids_equal("fish &amp;amp; chips", "49406 2759 261 8855 49407"), "&amp;amp; is unescaped twice");
    EXPECT(ids_equal("&amp;amp;amp;", "49406 261 6259 282 49407"), "only twice: '&amp;' remains");
    EXPECT(ids_equal("&lt;3", "49406 283 274 49407"), "&lt;3");
    EXPECT(ids_equal("&#39;x&#39;", "49406 262 343 262 49407"), "&#39;");
    /* non-ASCII lowercasing: İ -> i + U+0307, final sigma */
    EXPECT(ids_equal("\xc4\xb0", "49406 328 16384 49407"), "capital I with dot");
    EXPECT(ids_equal("HELLO WORLD \xce\x9f\xce\x94\xce\x9f\xce\xa3",
                     "49406 3306 1002 138 123 138 112 138 123 139 480 49407"), "final sigma");
    EXPECT(ids_equal("A\xce\xa3'B", "49406 64 139 481 262 321 49407"), "non-final sigma before an apostrophe");
    /* pre-tokenising quirks of the `regex` module: U+0345 matches nothing,
     * U+180E and U+001C are punctuation, not whitespace */
    EXPECT(ids_equal("a\xcd\x85" "b", "49406 320 321 49407"), "U+0345 dropped");
    EXPECT(ids_equal("a\xe1\xa0\x8e" "b", "49406 320 157 254 492 321 49407"), "U+180E is punctuation");
    EXPECT(ids_equal("a\x1c" "b", "49406 320 472 321 49407"), "U+001C is punctuation inside the text");
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
    EXPECT(clip_tokenize(g_tok, "bad \xff utf8", &a, &na, &err) != 0 && strstr(err.msg, "UTF-8"),
           "invalid UTF-8 rejected");
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
    EXPECT(clip_tokenize_padded(g_tok, "a photo of a cat", 77, 0, out, &err) == 0 && out[6] == CLIP_EOT &&
               out[7] == 0 && out[76] == 0,
           "padding at 77");
    /* the too-long message quotes the text's first 60 bytes: byte 60 is the middle of "\xc3\xa9" here, and the quote
     * must end before that character, not keep half of it (the message would not be UTF-8) */
    char long_text[128];
    memset(long_text, 'a', 59);
    snprintf(long_text + 59, sizeof long_text - 59, "\xc3\xa9 and more words");
    EXPECT(clip_tokenize_padded(g_tok, long_text, 2, 0, out, &err) != 0, "too long for a context of 2");
    EXPECT(u8_check((const uint8_t *)err.msg, strlen(err.msg)) == NULL, "the message is valid UTF-8: %s", err.msg);
    EXPECT(strstr(err.msg, "aaaaaaaaaa...\"") != NULL, "the quote ends before the cut character: %s", err.msg);
}

/* utf8_prefix (core/strbuf.h), which every quoting message uses: cuts before a 2-, 3- or 4-byte character that
 * straddles the limit, keeps one that ends at it, and a shorter text whole */
static void test_utf8_prefix(void) {
    EXPECT(utf8_prefix("abc", 10) == 3 && utf8_prefix("abc", 3) == 3 && utf8_prefix("abc", 2) == 2, "ASCII");
    EXPECT(utf8_prefix("ab\xc3\xa9", 3) == 2 && utf8_prefix("ab\xc3\xa9", 4) == 4, "2-byte e-acute");
    EXPECT(utf8_prefix("a\xe2\x82\xac!", 2) == 1 && utf8_prefix("a\xe2\x82\xac!", 3) == 1 &&
               utf8_prefix("a\xe2\x82\xac!", 4) == 4, "3-byte euro sign");
    EXPECT(utf8_prefix("\xf0\x9f\x98\x80x", 3) == 0 && utf8_prefix("\xf0\x9f\x98\x80x", 4) == 4, "4-byte emoji");
    EXPECT(utf8_prefix("", 5) == 0 && utf8_prefix("abc", 0) == 0, "empty text, no room");
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
    EXPECT(clip_tokenizer_load("/nonexistent/vocab.txt.gz", &t, &err) != 0 &&
               strstr(err.msg, "/nonexistent/vocab.txt.gz"),
           "missing file named: %s", err.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/short_vocab.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("#version: 0.2\ni n\nt h\n", f);
    fclose(f);
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, "2 merges") && strstr(err.msg, path),
           "truncated vocabulary: %s", err.msg);
    f = fopen(path, "w");
    fputs("#version: 0.2\ni n\nthree symbols here\n", f);
    fclose(f);
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, "line 3") && strstr(err.msg, path),
           "malformed merge line: %s", err.msg);
    /* the right number of merges, but one joins a symbol nothing produces */
    f = fopen(path, "w");
    fputs("#version: 0.2\n", f);
    for (int i = 0; i < 48893; i++) fputs("a b\n", f);
    fputs("a QQ\n", f);
    fclose(f);
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, "line 48895") && strstr(err.msg, "'QQ'"),
           "unknown symbol: %s", err.msg);
    /* a gzip header followed by garbage: zlib reports the corruption */
    snprintf(path, sizeof path, "%s/corrupt_vocab.txt.gz", test_tmpdir());
    f = fopen(path, "wb");
    static const unsigned char corrupt[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03, 0xff, 0xff, 0x12, 0x34, 0x56,
                                            0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33};
    fwrite(corrupt, 1, sizeof corrupt, f);
    fclose(f);
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, path), "corrupt .gz: %s", err.msg);
}

/* A file far bigger than any vocabulary (a checkpoint given by mistake) is refused by its size before it is read
 * (it was read whole, up to ~2 GB, then called corrupt), and a small .gz that decompresses past 64 MiB stops
 * there. The big file is sparse: 100 MiB that take no disk. */
static void test_vocabulary_too_big(void) {
    ClipTokenizer *t = NULL;
    Err err = {{0}};
    char path[600], want[128];
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", test_tmpdir());
    FILE *f = fopen(path, "wb");
    EXPECT(f && ftruncate(fileno(f), (off_t)100 << 20) == 0, "a sparse file of 100 MiB at %s", path);
    if (f) fclose(f);
    snprintf(want, sizeof want, ": %lld bytes, too big for a CLIP vocabulary", (long long)100 << 20);
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, path) && strstr(err.msg, want),
           "a 100 MiB file refused by its size, named: %s", err.msg);
    snprintf(path, sizeof path, "%s/bomb_vocab.txt.gz", test_tmpdir());
    gzFile gz = gzopen(path, "wb9");
    EXPECT(gz != NULL, "cannot write %s", path);
    if (!gz) return;
    static char zeros[1 << 20];
    for (int i = 0; i < 65; i++) EXPECT(gzwrite(gz, zeros, sizeof zeros) == (int)sizeof zeros, "gzwrite");
    EXPECT(gzclose(gz) == Z_OK, "gzclose");
    EXPECT(clip_tokenizer_load(path, &t, &err) != 0 && strstr(err.msg, path) &&
               strstr(err.msg, "more than 64 MiB once decompressed"),
           "65 MiB decompressed refused: %s", err.msg);
    /* a folder: said so, not "corrupt" */
    EXPECT(clip_tokenizer_load(test_tmpdir(), &t, &err) != 0 && strstr(err.msg, "a folder, not a CLIP vocabulary"),
           "a folder: %s", err.msg);
}

/* Several threads tokenizing the same texts at once get the serial ids. */
typedef struct ThreadJob {
    const char *const *texts;
    int n_texts;
    int32_t (*expected)[77];
    int mismatches;
} ThreadJob;

static void *tokenize_many(void *arg) {
    ThreadJob *job = arg;
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < job->n_texts; i++) {
            int32_t got[77];
            Err err;
            if (clip_tokenize_padded(g_tok, job->texts[i], 77, 1, got, &err) != 0 ||
                memcmp(got, job->expected[i], sizeof got))
                job->mismatches++;
        }
    return NULL;
}

static void test_threads(void) {
    static const char *const texts[] = {"A person with an expression of happiness.",
                                        "supercalifragilisticexpialidocious", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                        "e-mail: foo.bar@example.com", "zzzzzzzz qqqqq xxxx",
                                        "caf\xc3\xa9 \xc3\xbc" "ber"};
    enum { N_TEXTS = sizeof texts / sizeof texts[0], N_THREADS = 4 };
    int32_t expected[N_TEXTS][77];
    Err err;
    for (int i = 0; i < N_TEXTS; i++)
        EXPECT(clip_tokenize_padded(g_tok, texts[i], 77, 1, expected[i], &err) == 0, "serial");
    pthread_t threads[N_THREADS];
    ThreadJob jobs[N_THREADS];
    for (int k = 0; k < N_THREADS; k++) {
        jobs[k] = (ThreadJob){texts, N_TEXTS, expected, 0};
        EXPECT(pthread_create(&threads[k], NULL, tokenize_many, &jobs[k]) == 0, "pthread_create");
    }
    for (int k = 0; k < N_THREADS; k++) {
        pthread_join(threads[k], NULL);
        EXPECT(jobs[k].mismatches == 0, "thread %d: %d texts differ from the serial ids", k, jobs[k].mismatches);
    }
}

static void test_vocab_beside(void) {
    char dir[700], ckpt[800], vocab[800], found[1024];
    snprintf(dir, sizeof dir, "%s/ckpt_dir", test_tmpdir());
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "mkdir %s", dir);
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    FILE *f = fopen(ckpt, "w");
    fclose(f);
    EXPECT(clip_vocab_find_beside(ckpt, found, sizeof found) != 0, "no vocabulary yet");
    snprintf(vocab, sizeof vocab, "%s/%s", dir, CLIP_VOCAB_FILE);
    f = fopen(vocab, "w");
    fclose(f);
    EXPECT(clip_vocab_find_beside(ckpt, found, sizeof found) == 0 && !strcmp(found, vocab), "beside a file: %s", found);
    EXPECT(clip_vocab_find_beside(dir, found, sizeof found) == 0 && !strcmp(found, vocab), "inside a directory: %s",
           found);
    EXPECT(clip_vocab_find_beside(ckpt, found, 8) != 0, "a too-short output buffer is a miss, not a truncated path");
}

/* Hugging Face's merges.txt (its "#version: 0.2" line, then the merges) made from the OpenAI file: found
 * beside a checkpoint where the OpenAI file is not (which wins when both are there), and every vector
 * tokenizes to the same ids through it. */
static void test_hf_merges(void) {
    char src[600], dir[700], merges[800], found[1024];
    snprintf(src, sizeof src, "%s/clip/%s", test_shared_dir(), CLIP_VOCAB_FILE);
    snprintf(dir, sizeof dir, "%s/hf_dir", test_tmpdir());
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "mkdir %s", dir);
    snprintf(merges, sizeof merges, "%s/%s", dir, CLIP_HF_MERGES_FILE);
    gzFile in = gzopen(src, "rb");
    FILE *out = fopen(merges, "w");
    EXPECT(in && out, "open %s and %s", src, merges);
    if (!in || !out) return;
    char line[4096];
    int lines = 0;
    fputs("#version: 0.2\n", out);
    while (gzgets(in, line, sizeof line) && lines <= 48894)
        if (lines++ > 0) fputs(line, out); /* the OpenAI file's line 0 is its own header */
    gzclose(in);
    fclose(out);
    char model[800];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    FILE *f = fopen(model, "w");
    if (f) fclose(f);
    EXPECT(clip_vocab_find_beside(dir, found, sizeof found) == 0 && !strcmp(found, merges), "merges.txt found: %s",
           found);
    EXPECT(clip_vocab_resolve(NULL, model, "model.vocab", found, sizeof found, &err) == 0 && !strcmp(found, merges),
           "resolved beside the weights: %s", found);
    ClipTokenizer *hf;
    EXPECT(clip_tokenizer_load(merges, &hf, &err) == 0, "%s", err.msg);
    ClipTokenizer *openai = g_tok;
    g_tok = hf;
    check_vector_file("tokenizer_vectors.tsv");
    check_vector_file("tokenizer_vectors_noftfy.tsv");
    g_tok = openai;
    clip_tokenizer_free(hf);
    char both[800];
    snprintf(both, sizeof both, "%s/%s", dir, CLIP_VOCAB_FILE);
    f = fopen(both, "w");
    if (f) fclose(f);
    EXPECT(clip_vocab_find_beside(dir, found, sizeof found) == 0 && !strcmp(found, both), "the OpenAI file first");
    EXPECT(clip_vocab_resolve("given.txt", model, "model.vocab", found, sizeof found, &err) == 0 &&
               !strcmp(found, "given.txt"), "a given vocabulary wins");
    unsetenv("DFER_VOCAB"); /* the last place searched: unset, nothing is found */
    EXPECT(clip_vocab_resolve(NULL, "/nonexistent/w.safetensors", "--vocab", found, sizeof found, &err) != 0,
           "none found");
    EXPECT(strstr(err.msg, "--vocab") && strstr(err.msg, "merges.txt") && strstr(err.msg, "/nonexistent/w.safetensors"),
           "the error names the option, both files and the weights: %s", err.msg);
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
    TEST_RUN(test_utf8_prefix);
    TEST_RUN(test_detokenize);
    TEST_RUN(test_bad_vocabulary);
    TEST_RUN(test_vocabulary_too_big);
    TEST_RUN(test_threads);
    TEST_RUN(test_vocab_beside);
    TEST_RUN(test_hf_merges);
    clip_tokenizer_free(g_tok);
    return test_summary();
}
