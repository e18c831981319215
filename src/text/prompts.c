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

/* In the project's class order (data/classes.h). */
static const char *const k_emoclip[11] = {
    "An expression of contentment and pleasure, with a smile and the corners of the mouth turned up, often "
    "accompanied by crinkling around the eyes. The face may appear relaxed and at ease",
    "An expression of sadness and sorrow, with a downturned mouth or frown, and sometimes tears or a tightness around "
    "the eyes. The face may appear physically withdrawn or resigned.",
    "An expression of calm and neutrality, with a neutral mouth and no particular indication of emotion. The eyebrows "
    "are usually not raised or furrowed",
    "A facial expression showing irritation and unrest, with a wrinkled forehead, narrowed eyes, and tight lips or a "
    "frown",
    "An expression of shock and astonishment, with wide-open eyes and raised eyebrows, sometimes accompanied by a gasp "
    "or an open mouth",
    "An expression of repulsion and displeasure, with a raised upper lip, a scrunched nose, and a downturned mouth",
    "An expression of tension and withdrawal, with wide-open eyes, raised eyebrows, and a slightly open mouth. The "
    "face may appear physically tense or frozen in fear",
    "An expression of disdain and superiority, with a slight smirk or sneer, often accompanied by a raised eyebrow or "
    "a lopsided smile",
    "An expression of worry and apprehension, with furrowed eyebrows and a tight mouth. The eyes may appear wide and "
    "darting, and the face may appear physically tense or worried",
    "An expression of defeat and resignation, with the eyes looking down and the mouth turned down. The eyebrows may "
    "be furrowed, and the face may appear resigned or resigned",
    "An expression of frustration and disillusionment, with a slight frown or drooping of the mouth. The eyebrows may "
    "be lowered or furrowed, and the face may appear physically drawn or tired",
};

const char *prompt_emoclip(int cls) { return cls >= 0 && cls < 11 ? k_emoclip[cls] : ""; }

/* Appends text to out[0..n) at *off; *off stays below n (snprintf returns the length it wanted: an off past n made
 * n - off wrap to a huge size). Returns 0 when it was cut. */
static int append(char *out, size_t n, size_t *off, const char *text) {
    if (*off + 1 >= n) return 0;
    int w = snprintf(out + *off, n - *off, "%s", text);
    if (w < 0 || *off + (size_t)w >= n) {
        *off = n - 1;
        return 0;
    }
    *off += (size_t)w;
    return 1;
}

void prompt_dfer_clip(const char *kind, int contexts, int middle, int cls, char *out, size_t n) {
    size_t off = 0;
    if (n) out[0] = 0;
    char text[512];
    if (!strcmp(kind, "name")) snprintf(text, sizeof text, "%s.", k_class_names[cls]);
    else if (!strcmp(kind, "name_with_context"))
        snprintf(text, sizeof text, "an expression of %s.", k_class_names[cls]);
    else if (!strcmp(kind, "photo_of_name")) snprintf(text, sizeof text, "a photo of %s.", k_class_names[cls]);
    else snprintf(text, sizeof text, "%s", k_descriptors[cls]);
    int before = middle ? contexts / 2 : contexts; /* CoOp's middle: the first half, the class text, the rest */
    for (int i = 0; i < before; i++)
        if (!append(out, n, &off, "X ")) return; /* cut: out holds a NUL-terminated prefix (or nothing when n is 0) */
    if (!append(out, n, &off, text)) return;
    for (int i = before; i < contexts; i++)
        if (!append(out, n, &off, " X")) return;
}
