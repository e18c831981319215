#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/refine.h"

#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

#include "core/check.h"
#include "core/strbuf.h"

/* ---- lexicon ---------------------------------------------------------------------- */

/* One alternation per class (data/classes.h order), then the generic state
 * words. Inflections are spelled out rather than matched as prefixes so that
 * "madly" matches but "made" does not, and "content(ed)" but not "contents". */
static const char *const k_lexicon[] = {
    /* happiness */
    "happ(?:y|ier|iest|ily|iness)|joy(?:s|ful|fully|fulness|ous|ously|less)?|overjoyed|glad(?:ly|ness|der|dest)?|"
    "cheer(?:s|ed|ing|ful|fully|fulness|y|ier|iest|ily)?|delight(?:s|ed|edly|ing|ful|fully)?|pleased|pleasure|"
    "content(?:ed|edly|ment)?|elat(?:ed|ion)|amus(?:ed|edly|ement|ing)|merr(?:y|ily|iment)|jubila(?:nt|tion)|"
    "ecsta(?:tic|sy)|euphori(?:a|c)|excit(?:ed|edly|ement)|thrilled|glee(?:ful|fully)?|blissful(?:ly)?",
    /* sadness */
    "sad(?:ly|ness|der|dest|den|dens|dened|dening)?|sorrow(?:s|ful|fully)?|unhapp(?:y|ier|iest|ily|iness)|"
    "upset(?:s|ting)?|gloom(?:y|ily|iness)?|melanchol(?:y|ic)|tearful(?:ly|ness)?|grie(?:f|fs|ve|ves|ved|ving|vous)|"
    "despair(?:s|ed|ing|ingly)?|heartbroken|miser(?:able|ably|y)|deject(?:ed|edly|ion)|depress(?:ed|ing|ion)|downcast|"
    "mourn(?:s|ed|ing|ful|fully)?|cry|cries|cried|crying|weep(?:s|ing)?|wept|sob(?:s|bed|bing)?|glum(?:ly|ness)?|"
    "sullen(?:ly|ness)?|moros(?:e|ely|eness)|forlorn(?:ly)?|anguish(?:ed)?|distraught",
    /* neutral */
    "neutral(?:ity|ly)?|calm(?:ly|ness|ed)?|expressionless|impassive(?:ly)?|emotionless|unmoved|indifferen(?:t|tly|ce)",
    /* anger */
    "ang(?:er|ers|ered|ering|ry|rier|riest|rily)|furious(?:ly)?|fury|infuriat(?:e|es|ed|ing)|"
    "irritat(?:e|es|ed|ing|ion)|irritab(?:le|ly|ility)|annoy(?:s|ed|ing|ingly|ance)|mad|madly|rage|rages|raged|raging|"
    "enraged|"
    "outrag(?:e|ed|eous)|irate|livid|hostil(?:e|ity)|frustrat(?:e|es|ed|ing|ion|ions)|resent(?:s|ed|ful|fully|ment)|"
    "displeas(?:ed|ure)|indignan(?:t|tly|ce)|indignation|wrath(?:ful)?|seething|exasperat(?:e|es|ed|ing|ion)|"
    "hat(?:e|es|ed|ing|red|eful|efully)",
    /* surprise */
    "surpris(?:e|es|ed|edly|ing|ingly)|astonish(?:es|ed|ing|ingly|ment)|astound(?:ed|ing)|"
    "amaz(?:e|es|ed|ing|ingly|ement)|"
    "shock(?:s|ed|ing|ingly)?|startl(?:e|es|ed|ing)|stunned|dumbfounded|flabbergasted|aghast",
    /* disgust */
    "disgust(?:s|ed|ing|ingly|edly)?|appal(?:l|ls|led|ling|lingly)|repuls(?:ed|ion|ive)|revolt(?:ed|ing)|revulsion|"
    "nause(?:a|ated|ous)|sicken(?:s|ed|ing)|"
    "grossed\\s+out|loath(?:e|es|ed|ing)",
    /* fear */
    "afraid|fear(?:s|ed|ing|ful|fully|fulness)?|scar(?:e|es|ed|ing|y|ier|iest)|frighten(?:s|ed|ing|ingly)?|"
    "fright(?:ful)?|"
    "terrif(?:y|ies|ied|ying|yingly)|terror|panic(?:s|ked|king|ky)?|petrified|horrif(?:y|ies|ied|ying)|horror|"
    "dread(?:s|ed|ing|ful)?|alarmed",
    /* anxiety */
    "anxi(?:ous|ously|ety|eties)|worr(?:y|ies|ied|iedly|ying|isome)|nervous(?:ly|ness)?|apprehensi(?:ve|vely|on)|"
    "uneas(?:y|e|ily|iness)|distress(?:ed|ing)?|agitat(?:ed|ion)|fretful|jittery|stressed|stressful",
    /* contempt */
    "contempt(?:uous|uously)?|disdain(?:s|ed|ful|fully)?|scorn(?:s|ed|ful|fully)?|sneer(?:s|ed|ing|ingly)?|"
    "smug(?:ly|ness)?|"
    "derisi(?:ve|vely|on)|condescend(?:ing|ingly)|haught(?:y|ily|iness)|mock(?:s|ed|ing|ingly|ery)|"
    "sarcas(?:m|tic|tically)|arrogan(?:t|tly|ce)|dismissive(?:ly|ness)?",
    /* helplessness */
    "helpless(?:ly|ness)?|powerless(?:ly|ness)?|resign(?:ed|edly|ation)|hopeless(?:ly|ness)?|defeated|"
    "despondent(?:ly)?",
    /* disappointment */
    "disappoint(?:s|ed|edly|ing|ingly|ment|ments)?|lets?\\s+down|let-down|letdown|dismay(?:s|ed)?|"
    "dishearten(?:ed|ing)|crestfallen|disillusion(?:ed|ment)",
    /* the state itself; "feeling" only when it does not take a touched object */
    "emotion(?:s|al|ally)?|moods?|moody|feelings?(?!\\s+(?:the|his|her|their|its|a|an)\\b)",
};

/* Implication markers. Participles cut their clause at the marker; relative
 * clauses ("which may suggest") at the relative word; finite verbs ("these
 * changes convey") drop their whole clause, whose subject is part of the claim. */
static const char *k_participle =
    "\\b(?:suggesting|indicating|implying|showing|conveying|expressing|reflecting|revealing|"
    "exposing|signall?ing|betraying|hinting)\\b";
static const char *k_relative =
    "\\b(?:which|that|this|these|it|they)\\s+(?:(?:may|might|could|can|would|seems?\\s+to|"
    "appears?\\s+to|tends?\\s+to)\\s+)?(?:suggest|indicat|impl[iy]|show|convey|express|reflect|"
    "reveal|signal|betray|hint)\\w*";
static const char *k_finite =
    "\\b(?:suggest(?:s|ed)?|indicat(?:e|es|ed)|impl(?:y|ies|ied)|convey(?:s|ed)?|express(?:es|ed)?|"
    "reflect(?:s|ed)?|reveal(?:s|ed)?|signal(?:s|led)?|betray(?:s|ed)?|hint(?:s|ed)?\\s+at)\\b";
/* "showing the teeth", "revealing the whites of the eyes": a face part after
 * show/reveal/expose is a description; matched anchored after the verb. */
static const char *k_face_part =
    "\\s+(?:(?:the|his|her|their|its|both|some|a|more|visible|upper|lower|top|bottom|front|"
    "white|deep|slight|small|faint|fine|few)\\s+){0,3}(?:teeth|tooth|tongue|gums?|lips?|mouth|"
    "forehead|eyes?|eyelids?|lids?|whites?|brows?|eyebrows?|cheeks?|chin|jaw|nose|nostrils?|"
    "wrinkles?|lines?|creases?|dimples?|face|skin)\\b";

enum { P_LEX, P_PART, P_REL, P_FIN, P_FACE, P_COUNT };
/* [0]: Unicode-aware (valid UTF-8), [1]: bytes, for text that is not valid
 * UTF-8 (PCRE2 in UTF mode refuses it; the loader rejects such files, but the
 * functions take any string). Compiled once, shared read-only by threads. */
static pcre2_code *g_pat[2][P_COUNT];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static pcre2_code *compile(const char *pat, int utf) {
    int ecode;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_CASELESS | (utf ? PCRE2_UTF | PCRE2_UCP : 0);
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ecode, &eoff, NULL);
    CHECK(c != NULL, "refine pattern does not compile (error %d at %zu)", ecode, (size_t)eoff);
    return c;
}

static void compile_all(void) {
    size_t len = 16;
    for (size_t i = 0; i < sizeof k_lexicon / sizeof k_lexicon[0]; i++) len += strlen(k_lexicon[i]) + 1;
    char *lex = xmalloc(len);
    size_t off = (size_t)snprintf(lex, len, "\\b(?:");
    for (size_t i = 0; i < sizeof k_lexicon / sizeof k_lexicon[0]; i++)
        off += (size_t)snprintf(lex + off, len - off, "%s%s", i ? "|" : "", k_lexicon[i]);
    snprintf(lex + off, len - off, ")\\b");
    const char *pats[P_COUNT] = {lex, k_participle, k_relative, k_finite, k_face_part};
    for (int u = 0; u < 2; u++)
        for (int p = 0; p < P_COUNT; p++) g_pat[u][p] = compile(pats[p], u == 0);
    free(lex);
}

/* First match of pattern p in s[0..n) from `from`; 1 with [*ms, *me), else 0. */
static int find(int p, const char *s, size_t n, size_t from, uint32_t opts, size_t *ms, size_t *me) {
    pthread_once(&g_once, compile_all);
    int bytes = u8_check((const uint8_t *)s, n) != NULL;
    pcre2_code *code = g_pat[bytes][p];
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    CHECK_PTR(md);
    int rc = pcre2_match(code, (PCRE2_SPTR)s, n, from, opts | (bytes ? 0 : PCRE2_NO_UTF_CHECK), md, NULL);
    CHECK(rc >= 0 || rc == PCRE2_ERROR_NOMATCH, "refine: pcre2_match failed (%d)", rc);
    if (rc >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        *ms = ov[0], *me = ov[1];
    }
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* Lowercased copy of s[0..n) with whitespace runs as one space. */
static void lower_copy(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char c = isspace((unsigned char)s[i]) ? ' ' : (char)tolower((unsigned char)s[i]);
        if (c == ' ' && o > 0 && out[o - 1] == ' ') continue;
        out[o++] = c;
    }
    if (cap) out[o] = 0;
}

int refine_has_emotion_word(const char *text, char *found, size_t cap) {
    size_t s, e, n = strlen(text);
    if (!find(P_LEX, text, n, 0, 0, &s, &e)) {
        if (found && cap) found[0] = 0;
        return 0;
    }
    if (found && cap) lower_copy(text + s, e - s, found, cap);
    return 1;
}

/* ---- report ----------------------------------------------------------------------- */

/* Adds word to a ", "-separated set held in list[cap] (dropped when full). */
static void set_add(char *list, size_t cap, const char *word) {
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += wl)
        if ((p == list || p[-1] == ' ') && (p[wl] == ',' || p[wl] == 0)) return;
    size_t len = strlen(list);
    if (len + wl + 3 > cap) return;
    snprintf(list + len, cap - len, "%s%s", len ? ", " : "", word);
}

static void report_removed(RefineReport *rep, const char *s, size_t n) {
    if (!rep) return;
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return;
    for (size_t from = 0, ms, me; from < n && find(P_LEX, s, n, from, 0, &ms, &me); from = me) {
        char w[64];
        lower_copy(s + ms, me - ms, w, sizeof w);
        set_add(rep->words, sizeof rep->words, w);
    }
    size_t len = strlen(rep->removed), cap = sizeof rep->removed;
    if (len >= 3 && !strcmp(rep->removed + len - 3, "...")) return; /* already full */
    const char *sep = len ? " | " : "";
    if (len + strlen(sep) + n + 4 > cap) {
        snprintf(rep->removed + len, cap - len, "%s...", len + 6 < cap ? sep : "");
        return;
    }
    snprintf(rep->removed + len, cap - len, "%s%.*s", sep, (int)n, s);
}

/* ---- clauses ---------------------------------------------------------------------- */

typedef struct Clause {
    size_t lead, bs, be; /* lead..bs: the delimiter before the body (",", " and ", ", but "); bs..be: the body */
    int bare;            /* joined by a conjunction without punctuation ("x and y") */
    int drop;            /* 1 dropped; 0 kept (be may have been cut at a marker) */
} Clause;

/* Case-insensitive word w at s[i] with word boundaries, followed by a space;
 * returns its length, else 0. */
static size_t word_at(const char *s, size_t n, size_t i, const char *w) {
    size_t wl = strlen(w);
    if (i + wl >= n || strncasecmp(s + i, w, wl) || !isspace((unsigned char)s[i + wl])) return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '-')) return 0;
    return wl;
}

static size_t conjunction_at(const char *s, size_t n, size_t i, int after_punct) {
    static const char *const bare[] = {"and", "while", "but", "whereas"};
    static const char *const punct[] = {"and", "while", "but", "whereas", "yet", "so", "or"};
    const char *const *ws = after_punct ? punct : bare;
    int count = after_punct ? 7 : 4;
    for (int k = 0; k < count; k++) {
        size_t l = word_at(s, n, i, ws[k]);
        if (l) return l;
    }
    return 0;
}

/* Splits s[0..n) into clauses; returns the count (clauses has room for n + 1). */
static int split_clauses(const char *s, size_t n, Clause *c) {
    int k = 0;
    c[0] = (Clause){0, 0, 0, 0, 0};
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int bare = 0;
        if (s[i] == ',' || s[i] == ';' || s[i] == ':') {
            if (s[i] == ',' && i > 0 && i + 1 < n && isdigit((unsigned char)s[i - 1]) &&
                isdigit((unsigned char)s[i + 1])) {
                i++;
                continue; /* 1,000 */
            }
            j = i + 1;
            while (j < n && isspace((unsigned char)s[j])) j++;
            size_t l = conjunction_at(s, n, j, 1);
            if (l) {
                j += l;
                while (j < n && isspace((unsigned char)s[j])) j++;
            }
        } else if (isspace((unsigned char)s[i])) {
            size_t w = i;
            while (w < n && isspace((unsigned char)s[w])) w++;
            size_t l = conjunction_at(s, n, w, 0);
            if (!l || w == 0) {
                i = w > i ? w : i + 1;
                continue;
            }
            j = w + l;
            while (j < n && isspace((unsigned char)s[j])) j++;
            bare = 1;
        } else {
            i++;
            continue;
        }
        c[k].be = i;
        k++;
        c[k] = (Clause){i, j, n, bare, 0};
        i = j;
    }
    c[k].be = n;
    return k + 1;
}

/* Earliest implication cut in body s[0..n): returns 1 with *cut (where the kept
 * part ends) and the marker text, else 0. */
static int find_marker(const char *s, size_t n, size_t *cut, char *marker, size_t mcap) {
    size_t best = (size_t)-1, best_s = 0, best_e = 0, rel_s = 0, rel_e = 0;
    for (int p = P_PART; p <= P_FIN; p++) {
        for (size_t from = 0, ms, me; from < n && find(p, s, n, from, 0, &ms, &me); from = me) {
            if (p == P_FIN && ms >= rel_s && me <= rel_e) continue; /* the verb of "which suggests": cut at "which" */
            char low[64];
            lower_copy(s + ms, me - ms, low, sizeof low);
            size_t fs, fe;
            int physical = (strstr(low, "show") || strstr(low, "reveal") || strstr(low, "expos")) &&
                           find(P_FACE, s, n, me, PCRE2_ANCHORED, &fs, &fe);
            if (physical) continue;
            size_t c = p == P_FIN ? 0 : ms;
            if (c < best) best = c, best_s = ms, best_e = me;
            if (p == P_REL) rel_s = ms, rel_e = me;
            break;
        }
    }
    if (best == (size_t)-1) return 0;
    *cut = best;
    lower_copy(s + best_s, best_e - best_s, marker, mcap);
    return 1;
}

/* ---- repair ----------------------------------------------------------------------- */

static int is_stopword(const char *w, size_t n) {
    static const char *const k[] = {
        "the", "a", "an", "and", "or", "but", "while", "whereas", "yet", "so", "also", "then", "overall", "this",
        "these", "that", "those", "which", "it", "its", "they", "their", "he", "she", "his", "her", "him", "person",
        "subject", "man", "woman", "face", "expression", "very", "quite", "rather", "clearly", "slightly", "somewhat",
        "more", "less", "is", "are", "was", "were", "be", "been", "being", "look", "looks", "looked", "appear",
        "appears", "appeared", "seem", "seems", "seemed", "feel", "feels", "felt", "as", "if", "of", "in", "on", "at",
        "to", "with", "by", "for", "from", "than", "there", "here", "now", "again", "even", "still", "just", "only",
        "all", "some", "general", "perhaps", "maybe", "possibly", "likely", "probably", "generally", "thus", "hence",
        "therefore", "whole", "sense", "sign", "signs", "hint", "state", "kind", "sort", "bit", "little", "one", "s",
        /* when, not what: "Initially, the brows are raised in surprise." left "Initially." */
        "initially", "finally", "eventually", "later", "first", "afterwards", "meanwhile", "suddenly", "gradually",
        "briefly", "momentarily", "soon", "subsequently"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strlen(k[i]) == n && !strncasecmp(w, k[i], n)) return 1;
    return 0;
}

/* A word that is not a function word: a remnant like "Overall the person" has none. */
static int has_content(const char *s) {
    for (const char *p = s; *p;) {
        if (!isalpha((unsigned char)*p) && (unsigned char)*p < 0x80) {
            p++;
            continue;
        }
        const char *w = p;
        while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80 || *p == '-')) p++;
        if (!is_stopword(w, (size_t)(p - w))) return 1;
    }
    return 0;
}

static int ends_with_word(const char *s, size_t n, const char *w) {
    size_t wl = strlen(w);
    return n >= wl && !strncasecmp(s + n - wl, w, wl) && (n == wl || s[n - wl - 1] == ' ');
}

/* Whitespace to single spaces, no space before punctuation, no doubled or
 * dangling delimiters or conjunctions, first letter capitalised. In place. */
static void repair(char *s) {
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        char ch = isspace((unsigned char)s[i]) ? ' ' : s[i];
        if (ch == ' ' && (o == 0 || s[o - 1] == ' ')) continue;
        if (strchr(",;:", ch)) {
            while (o > 0 && s[o - 1] == ' ') o--;
            if (o == 0 || strchr(",;:", s[o - 1])) continue; /* leading or doubled */
        }
        s[o++] = ch;
    }
    s[o] = 0;
    static const char *const tails[] = {"and", "but", "while", "whereas", "or", "yet", "so"};
    for (int changed = 1; changed;) {
        changed = 0;
        while (o > 0 && (s[o - 1] == ' ' || strchr(",;:", s[o - 1]))) o--, changed = 1;
        for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++)
            if (ends_with_word(s, o, tails[k])) o -= strlen(tails[k]), changed = 1;
        s[o] = 0;
    }
    size_t start = 0;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
            size_t l = word_at(s + start, o - start, 0, tails[k]);
            if (l) start += l + 1, changed = 1;
        }
    }
    if (start) memmove(s, s + start, o - start + 1);
    if (s[0] && islower((unsigned char)s[0])) s[0] = (char)toupper((unsigned char)s[0]);
}

/* ---- sentences -------------------------------------------------------------------- */

/* Refines one sentence body s[0..n) into out (a fresh string); returns the
 * number of removed clauses; *keep = 0 when nothing with content is left. */
static int refine_clauses(const char *s, size_t n, StrBuf *out, int *keep, RefineReport *rep) {
    Clause *c = xmalloc((n + 2) * sizeof *c);
    int k = split_clauses(s, n, c), removed = 0;
    for (int i = 0; i < k; i++) {
        size_t cut;
        char marker[64];
        if (find_marker(s + c[i].bs, c[i].be - c[i].bs, &cut, marker, sizeof marker)) {
            if (rep) set_add(rep->markers, sizeof rep->markers, marker);
            report_removed(rep, s + c[i].bs + cut, n - c[i].bs - cut);
            for (int j = i + 1; j < k; j++) c[j].drop = 1;
            removed += k - i; /* the cut tail and every later clause */
            c[i].be = c[i].bs + cut;
            while (c[i].be > c[i].bs && isspace((unsigned char)s[c[i].be - 1])) c[i].be--;
            char *rest = xmalloc(c[i].be - c[i].bs + 1);
            memcpy(rest, s + c[i].bs, c[i].be - c[i].bs);
            rest[c[i].be - c[i].bs] = 0;
            if (!has_content(rest)) c[i].drop = 1, report_removed(rep, rest, strlen(rest));
            free(rest);
            k = i + 1;
        }
    }
    for (int i = 0; i < k; i++) {
        if (c[i].drop) continue;
        char *body = xmalloc(c[i].be - c[i].bs + 1);
        memcpy(body, s + c[i].bs, c[i].be - c[i].bs);
        body[c[i].be - c[i].bs] = 0;
        int lex = refine_has_emotion_word(body, NULL, 0);
        /* "a happy and relaxed face": a few words tied by a bare "and" to a
         * dropped clause share its subject or noun and make no sense alone */
        int fragment = 0;
        if (!lex && c[i].bare && i > 0 && c[i - 1].drop) {
            int words = 0;
            for (const char *p = body; *p; p++)
                if (!isspace((unsigned char)*p) && (p == body || isspace((unsigned char)p[-1]))) words++;
            fragment = words <= 2;
        }
        if (lex || fragment) {
            c[i].drop = 1;
            removed++;
            report_removed(rep, body, strlen(body));
        }
        free(body);
    }
    StrBuf b = {0};
    strbuf_add(&b, "", 0);
    int first = 1;
    for (int i = 0; i < k; i++) {
        if (c[i].drop) continue;
        if (!first) strbuf_add(&b, s + c[i].lead, c[i].bs - c[i].lead);
        strbuf_add(&b, s + c[i].bs, c[i].be - c[i].bs);
        first = 0;
    }
    free(c);
    repair(b.p);
    *keep = has_content(b.p);
    if (*keep) strbuf_add(out, b.p, strlen(b.p));
    free(b.p);
    return removed;
}

/* The same, after a parenthesis that holds an implication marker or an emotion word ("(indicating fear)", "(a
 * happy look)") went whole: cut at its marker, it left "The eyes widen (." and lost the clause after it. */
static int refine_sentence(const char *s, size_t n, StrBuf *out, int *keep, RefineReport *rep) {
    char *t = xmalloc(n + 1);
    size_t m = 0;
    int removed = 0;
    for (size_t i = 0; i < n;) {
        const char *close = s[i] == '(' ? memchr(s + i + 1, ')', n - i - 1) : NULL;
        if (close) {
            size_t inner = (size_t)(close - (s + i + 1)), cut;
            char *body = xmalloc(inner + 1), marker[64];
            memcpy(body, s + i + 1, inner);
            body[inner] = 0;
            int claim = find_marker(body, inner, &cut, marker, sizeof marker) || refine_has_emotion_word(body, NULL, 0);
            if (claim) {
                if (rep && find_marker(body, inner, &cut, marker, sizeof marker))
                    set_add(rep->markers, sizeof rep->markers, marker);
                report_removed(rep, body, inner);
                removed++;
                while (m > 0 && t[m - 1] == ' ') m--; /* the space before it too */
                i = (size_t)(close - s) + 1;
                free(body);
                continue;
            }
            free(body);
        }
        t[m++] = s[i++];
    }
    t[m] = 0;
    removed += refine_clauses(t, m, out, keep, rep);
    free(t);
    return removed;
}

int refine_description(const char *in, char *out, size_t cap, RefineReport *rep) {
    if (rep) memset(rep, 0, sizeof *rep);
    size_t n = strlen(in), i = 0;
    StrBuf o = {0};
    strbuf_add(&o, "", 0);
    while (i < n && isspace((unsigned char)in[i])) i++;
    strbuf_add(&o, in, i); /* leading whitespace */
    int removed = 0;
    const char *tail_ws = in + n;
    while (i < n) {
        /* sentence end: a run of . ! ? (and closing quotes) followed by the end,
         * or by whitespace and anything but a lowercase letter ("e.g. the") */
        size_t start = i, body_end = n, term_end = n, next = n;
        for (size_t j = i; j < n; j++) {
            if (!strchr(".!?", in[j])) continue;
            size_t t = j;
            while (t < n && strchr(".!?", in[t])) t++;
            size_t q = t;
            while (q < n && strchr("\"')]", in[q])) q++;
            if (q < n && !isspace((unsigned char)in[q])) {
                j = t - 1;
                continue;
            }
            size_t w = q;
            while (w < n && isspace((unsigned char)in[w])) w++;
            if (w < n && islower((unsigned char)in[w])) {
                j = t - 1;
                continue;
            }
            body_end = j, term_end = q, next = w;
            break;
        }
        if (body_end == n) { /* last sentence without a terminal mark */
            while (body_end > start && isspace((unsigned char)in[body_end - 1])) body_end--;
            term_end = body_end;
        }
        if (next == n) tail_ws = in + term_end;
        int keep = 1;
        StrBuf sent = {0};
        strbuf_add(&sent, "", 0);
        int r = refine_sentence(in + start, body_end - start, &sent, &keep, rep);
        if (r == 0) {
            strbuf_add(&o, in + start, next - start); /* untouched: byte for byte */
        } else {
            removed += r;
            if (keep) {
                strbuf_add(&o, sent.p, sent.n);
                /* what is kept may end with an abbreviation's period ("He is, e.g., angry." keeps "He is, e.g."):
                 * that period ends the sentence, as written by hand; the sentence's own made "e.g.." */
                size_t term = body_end;
                if (sent.n > 0 && sent.p[sent.n - 1] == '.' && in[term] == '.') term++;
                strbuf_add(&o, in + term, next - term);
            } else if (rep) {
                rep->sentences_removed++;
            }
        }
        free(sent.p);
        i = next;
    }
    if (rep) rep->clauses_removed = removed;
    if (removed) { /* the text's own ending (a newline, say) after the last kept sentence */
        while (o.n > 0 && isspace((unsigned char)o.p[o.n - 1])) o.n--;
        o.p[o.n] = 0;
        if (o.n) strbuf_add(&o, tail_ws, strlen(tail_ws));
    }
    int rc = removed;
    if (o.n + 1 > cap) rc = -1;
    if (cap) snprintf(out, cap, "%s", o.p);
    free(o.p);
    return rc;
}
