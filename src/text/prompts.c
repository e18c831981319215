#include "text/prompts.h"

#include <stdio.h>
#include <string.h>

#include "data/dataset.h"

static const char *k_descriptors[DFER_MAX_CLASSES] = {
    "a smiling mouth, raised cheeks, wrinkled eyes, and arched eyebrows.",
    "tears, a downward turned mouth, drooping upper eyelids, and a wrinkled forehead.",
    "relaxed facial muscles, a straight mouth, a smooth forehead, and unremarkable eyebrows.",
    "furrowed eyebrows, narrow eyes, tightened lips, and flared nostrils.",
    "widened eyes, an open mouth, raised eyebrows, and a frozen expression.",
    "a wrinkled nose, lowered eyebrows, a tightened mouth, and narrow eyes.",
    "raised eyebrows, parted lips, a furrowed brow, and a retracted chin.",
    "one side of its mouth raised, one eyebrow lower and one raised, narrowed eyes, and a raised chin.",
    "a tensed forehead, tightly pressed lips, pupil dilation, and tensed facial muscles.",
    "drooping eyebrows, a downward gaze, a downturned mouth, and lacking expression.",
    "a downturned mouth, lowered eyebrows, narrowed eyes, and a sighing face.",
};

static void replace_class(const char *tpl, const char *word, char *out, size_t n) {
    const char *at = strstr(tpl, "{class}");
    if (!at) {
        snprintf(out, n, "%s %s", tpl, word);
        return;
    }
    snprintf(out, n, "%.*s%s%s", (int)(at - tpl), tpl, word, at + 7);
}

void prompt_positive(const char *tpl, int cls, char *out, size_t n) { replace_class(tpl, k_class_names[cls], out, n); }

void prompt_negative(const char *tpl, const char *negation, int cls, char *out, size_t n) {
    char word[96];
    snprintf(word, sizeof word, "%s %s", negation, k_class_names[cls]);
    replace_class(tpl, word, out, n);
}

void prompt_dfer_clip(const char *kind, int contexts, int cls, char *out, size_t n) {
    size_t off = 0;
    for (int i = 0; i < contexts && off < n; i++) off += (size_t)snprintf(out + off, n - off, "X ");
    if (!strcmp(kind, "name")) snprintf(out + off, n - off, "%s.", k_class_names[cls]);
    else if (!strcmp(kind, "name_with_context")) snprintf(out + off, n - off, "an expression of %s.", k_class_names[cls]);
    else snprintf(out + off, n - off, "%s", k_descriptors[cls]);
}
