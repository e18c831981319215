/* Fuzz target: the CLIP tokenizer on arbitrary bytes (invalid UTF-8 included). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"

static ClipTokenizer *g_tok;
static int g_tried;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tried) {
        g_tried = 1;
        const char *dir = getenv("DFER_SHARED_DIR");
        char path[4096];
        snprintf(path, sizeof path, "%s/clip/%s", dir ? dir : "../shared", CLIP_VOCAB_FILE);
        Err err;
        if (clip_tokenizer_load(path, &g_tok, &err) != 0) fprintf(stderr, "fuzz_tokenizer: %s (skipping)\n", err.msg);
    }
    if (!g_tok || size > 4096) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    int32_t *ids, out[77];
    int n;
    Err err;
    if (clip_tokenize(g_tok, text, &ids, &n, &err) == 0) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= CLIP_VOCAB_SIZE) abort(); /* every id must be in the vocabulary */
        char *back = clip_detokenize(g_tok, ids, n);
        free(back);
        free(ids);
    }
    clip_tokenize_padded(g_tok, text, 77, 1, out, &err);
    free(text);
    return 0;
}
