/* Fuzz target: the per-clip description files (JSONL and TSV) and the
 * refinement of whatever text they yield: parse or fail cleanly, and a refined
 * text is never longer than its input and holds no lexicon word. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/descriptions.h"
#include "text/refine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    DescFormat formats[2] = {DESC_FORMAT_JSONL, DESC_FORMAT_TSV};
    for (int f = 0; f < 2; f++) {
        Descriptions d;
        Err err;
        if (descriptions_parse("fuzz", (const char *)data, size, formats[f], &d, &err) == 0) {
            for (int i = 0; i < descriptions_count(&d); i++) {
                const Description *e = descriptions_at(&d, i);
                if (descriptions_find(&d, e->clip) == NULL) abort(); /* every id is found */
                size_t n = strlen(e->text) + 1;
                char *out = malloc(n);
                RefineReport rep;
                if (refine_description(e->text, out, n, &rep) >= 0) {
                    char word[64];
                    if (strlen(out) > strlen(e->text) || refine_has_emotion_word(out, word, sizeof word)) abort();
                }
                free(out);
            }
        }
        descriptions_free(&d);
    }
    return 0;
}
