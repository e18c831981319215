/* dfer refine: removes emotion words and implied states from per-clip
 * descriptions (text/refine.h), so that FineCLIPER's high level does not see
 * the label through the text. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "text/descriptions.h"
#include "text/refine.h"

static void usage(void) {
    printf("usage: dfer refine [--report] IN OUT.jsonl\n\n"
           "Reads per-clip descriptions (JSONL lines {\"clip\": ID, \"text\": ...} or TSV lines ID<TAB>text),\n"
           "removes every sentence part that names or implies an emotion, and writes OUT as JSONL in the\n"
           "input's order, atomically (OUT may be IN when IN is JSONL; a .tsv or .txt OUT is refused: it would\n"
           "be read back as TSV).\n\n"
           "Rules: clauses (split at , ; : and, while, but) that contain a word of the emotion lexicon (the 11\n"
           "classes, their synonyms and inflections, \"emotion\", \"mood\", \"feeling\") are dropped; a clause\n"
           "introduced by \"suggesting\", \"indicating\", \"which may suggest\", \"these changes convey\" and the\n"
           "like is cut there together with the rest of its sentence; a sentence left without content is\n"
           "dropped; punctuation and capitals are repaired. A text without any of these is copied unchanged.\n\n"
           "  --report   for each changed clip, what was removed and why (on stderr)\n\n"
           "A summary (clips, changed clips, sentences and clauses removed, the words found) goes to stderr.\n"
           "Exit status: 0 ok; 1 unreadable or malformed input (the message names file:line) or OUT not\n"
           "writable; 2 usage error.\n");
}

/* Counts of the lexicon words found over all clips, for the summary. */
typedef struct WordCount {
    char word[64];
    int n;
} WordCount;

typedef struct WordCounts {
    WordCount *v;
    int n, cap;
} WordCounts;

static void count_words(WordCounts *wc, const char *list) {
    for (const char *p = list; *p;) {
        const char *e = strstr(p, ", ");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)len, p);
        int i = 0;
        while (i < wc->n && strcmp(wc->v[i].word, w)) i++;
        if (i == wc->n) {
            if (wc->n == wc->cap) {
                wc->cap = wc->cap ? 2 * wc->cap : 32;
                wc->v = xrealloc(wc->v, (size_t)wc->cap * sizeof *wc->v);
            }
            snprintf(wc->v[wc->n].word, sizeof wc->v[0].word, "%s", w);
            wc->v[wc->n++].n = 0;
        }
        wc->v[i].n++;
        p += len;
        if (*p) p += 2;
    }
}

static int by_count(const void *a, const void *b) {
    const WordCount *x = a, *y = b;
    return x->n != y->n ? y->n - x->n : strcmp(x->word, y->word);
}

int cmd_refine(int argc, char **argv) {
    static const struct option opts[] = {{"report", no_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int report = 0;
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'r': report = 1; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("refine", o, argv, opts);
        }
    }
    if (argc - optind != 2) return cli_usage_error("refine", "expected IN and OUT, got %d argument(s)", argc - optind);
    const char *in = argv[optind], *out = argv[optind + 1];
    Err err;
    if (descriptions_jsonl_name_check(out, &err) != 0) return cli_usage_error("refine", "%s", err.msg);
    Descriptions d;
    if (descriptions_load(in, &d, &err)) {
        descriptions_free(&d);
        return cli_fail(&err);
    }
    int changed = 0, sentences = 0, clauses = 0, emptied = 0;
    WordCounts wc = {0};
    size_t cap = 0;
    char *buf = NULL;
    for (int i = 0; i < descriptions_count(&d); i++) {
        const Description *e = descriptions_at(&d, i);
        size_t need = strlen(e->text) + 1; /* refinement never lengthens a text */
        if (need > cap) buf = xrealloc(buf, cap = need);
        RefineReport rep;
        int r = refine_description(e->text, buf, cap, &rep);
        CHECK(r >= 0, "refined text of clip %s longer than its input", e->clip);
        if (r == 0) continue;
        changed++;
        sentences += rep.sentences_removed;
        clauses += rep.clauses_removed;
        emptied += buf[0] == 0;
        count_words(&wc, rep.words);
        if (report)
            fprintf(stderr, "%s (line %d): %d sentence(s), %d clause(s) removed; words: %s; markers: %s; removed: %s\n",
                    e->clip, e->line, rep.sentences_removed, rep.clauses_removed, rep.words[0] ? rep.words : "-",
                    rep.markers[0] ? rep.markers : "-", rep.removed);
        descriptions_set_text(&d, i, buf);
    }
    free(buf);
    int rc = descriptions_write_jsonl(out, &d, &err);
    if (rc == 0) {
        fprintf(stderr, "refine: %d clips, %d changed, %d sentences and %d clauses removed, %d left empty -> %s\n",
                descriptions_count(&d), changed, sentences, clauses, emptied, out);
        if (wc.n) {
            qsort(wc.v, (size_t)wc.n, sizeof *wc.v, by_count);
            fprintf(stderr, "refine: words removed (clips):");
            for (int i = 0; i < wc.n; i++) fprintf(stderr, "%s %s (%d)", i ? "," : "", wc.v[i].word, wc.v[i].n);
            fprintf(stderr, "\n");
        }
        if (emptied)
            fprintf(stderr, "refine: warning: %d clip(s) had nothing but emotion content and now have an empty text\n",
                    emptied);
    }
    free(wc.v);
    descriptions_free(&d);
    return rc ? cli_fail(&err) : 0;
}
