/* Rule-based refinement of fine-grained descriptions (FineCLIPER's high
 * level): descriptions written by an MLLM that was shown the label often name
 * the emotion ("... suggesting that she is happy"), which would leak the label
 * into the text branch. Refinement removes every sentence part that names or
 * implies an emotional state and keeps the facial-action content.
 *
 * The rules, per sentence (split at . ! ? followed by the end, or by
 * whitespace and anything but a lowercase letter, so "e.g. the" stays whole):
 *   1. split into clauses at , ; : and at the words "and", "while", "but",
 *      "whereas";
 *   2. an implication marker ("suggesting", "indicating", "which may suggest",
 *      "these changes convey", ...) cuts its clause there and drops the rest
 *      of the sentence; "showing"/"revealing" followed by a face part ("showing
 *      the teeth") is a description, not an implication, and stays;
 *   3. a clause containing a lexicon word (refine_has_emotion_word) is dropped;
 *      a fragment of one or two words joined to a dropped clause by a bare
 *      "and" ("a happy and relaxed face") goes with it;
 *   4. a sentence with no content word left is dropped; otherwise its
 *      whitespace, dangling or doubled punctuation and conjunctions are
 *      repaired and its first letter is capitalised; a kept part that ends with an abbreviation's period
 *      ("He is, e.g., angry." keeps "He is, e.g.") ends the sentence with it (no "e.g..").
 * A sentence in which nothing was removed is copied byte for byte, so a text
 * without emotion words comes out identical.
 *
 * The lexicon covers the 11 classes of data/classes.h with synonyms and
 * inflections, and "emotion(al)", "mood", "feeling(s)" when they name a state
 * ("feeling the ..." is touch, not a state). "smile" and "frown" are NOT in it:
 * they name facial actions (AU12, AU4), the very content the high level wants,
 * and the verbalizer uses neither. Matching is case-insensitive on word
 * boundaries (PCRE2, Unicode-aware). */
#ifndef DFER_TEXT_REFINE_H
#define DFER_TEXT_REFINE_H

#include <stddef.h>

typedef struct RefineReport {
    int sentences_removed; /* whole sentences dropped */
    int clauses_removed;   /* clauses (or clause tails cut at a marker) dropped, inside kept and dropped sentences */
    char words[256];       /* lexicon words found in removed parts, lowercase, ", "-separated, each once */
    char markers[128];     /* implication markers that cut a clause, same format */
    char removed[1024];    /* the removed fragments, " | "-separated, "..." when cut */
} RefineReport;

/* 1 when text contains a lexicon word (the first one is copied, lowercased,
 * into found when found != NULL and cap > 0), else 0. Thread-safe. */
int refine_has_emotion_word(const char *text, char *found, size_t cap);

/* Refines `in` into `out`. The output is never longer than the input, so
 * cap >= strlen(in) + 1 always suffices; returns -1 (out holds a truncated,
 * NUL-terminated prefix) when it does not fit, else the number of removed
 * clauses (0: out equals in byte for byte). rep may be NULL. Thread-safe. */
int refine_description(const char *in, char *out, size_t cap, RefineReport *rep);

#endif
