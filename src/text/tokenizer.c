#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/tokenizer.h"

#include <errno.h>
#include <libgen.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unicase.h>
#include <unistr.h>
#include <zlib.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/strbuf.h"
#include "text/normalize.h"

#define N_MERGES 48894

/* Merge table: (left id, right id) -> rank, in an open-addressed hash. The merged
 * token of rank r has id 512 + r. */
typedef struct MergeSlot {
    uint64_t key;   /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;   /* as Python's bpe_ranks: a repeated pair keeps its last rank */
    int32_t result; /* id of the merged string (the encoder's last id for a repeated string) */
} MergeSlot;

struct ClipTokenizer {
    char **token_text;      /* id -> its symbol string (mapped bytes, "</w>" suffix) */
    MergeSlot *merges;
    uint32_t merge_mask;
    int byte_id[256];       /* byte -> id of its single-character symbol */
    unsigned char id_byte[256]; /* inverse for ids 0..255 */
    pcre2_code *pattern;
};

/* ---- vocabulary --------------------------------------------------------------- */

/* bytes_to_unicode: printable bytes keep their code point; the other 68 map to
 * U+0100.. in increasing byte order. The 256 base ids follow that list. */
static void byte_table(int byte_id[256], unsigned char id_byte[256], uint32_t byte_char[256]) {
    int order[256], n = 0;
    char printable[256] = {0};
    for (int b = 33; b <= 126; b++) printable[b] = 1;
    for (int b = 161; b <= 172; b++) printable[b] = 1;
    for (int b = 174; b <= 255; b++) printable[b] = 1;
    for (int b = 0; b < 256; b++)
        if (printable[b]) order[n++] = b, byte_char[b] = (uint32_t)b;
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!printable[b]) order[n++] = b, byte_char[b] = 256u + (uint32_t)extra++;
    for (int i = 0; i < 256; i++) byte_id[order[i]] = i, id_byte[i] = (unsigned char)order[i];
}

static char *utf8_of(uint32_t c) {
    char *s = xmalloc(5);
    int len = u8_uctomb((uint8_t *)s, c, 4);
    s[len > 0 ? len : 0] = 0;
    return s;
}

/* string -> id lookup used while building the merge table */
typedef struct StrMap {
    const char **keys;
    int *vals;
    uint32_t mask;
} StrMap;

static uint64_t fnv(const char *s) { return fnv1a_text(FNV1A_BASIS, s); }

static void strmap_put(StrMap *m, const char *k, int v) {
    uint32_t h = (uint32_t)fnv(k) & m->mask;
    while (m->keys[h] && strcmp(m->keys[h], k)) h = (h + 1) & m->mask;
    m->keys[h] = k;
    m->vals[h] = v;
}

static int strmap_get(const StrMap *m, const char *k) {
    uint32_t h = (uint32_t)fnv(k) & m->mask;
    while (m->keys[h]) {
        if (!strcmp(m->keys[h], k)) return m->vals[h];
        h = (h + 1) & m->mask;
    }
    return -1;
}

static uint64_t pair_key(int a, int b) { return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1; }

static const MergeSlot *merge_find(const ClipTokenizer *t, int a, int b) {
    uint64_t k = pair_key(a, b);
    uint32_t h = (uint32_t)(k * 0x9E3779B97F4A7C15ull >> 32) & t->merge_mask;
    while (t->merges[h].key) {
        if (t->merges[h].key == k) return &t->merges[h];
        h = (h + 1) & t->merge_mask;
    }
    return NULL;
}

/* The slot of pair (a, b), claimed if the pair is new. */
static MergeSlot *merge_slot(ClipTokenizer *t, int a, int b) {
    uint64_t k = pair_key(a, b);
    uint32_t h = (uint32_t)(k * 0x9E3779B97F4A7C15ull >> 32) & t->merge_mask;
    while (t->merges[h].key && t->merges[h].key != k) h = (h + 1) & t->merge_mask;
    t->merges[h].key = k;
    return &t->merges[h];
}

/* The real files are small: bpe_simple_vocab_16e6.txt.gz is 1.3 MB (3.2 MB decompressed), merges.txt 0.5 MB. A
 * multi-GB file given as the vocabulary by mistake (a checkpoint) was read whole, up to ~2 GB, before it was refused
 * as corrupt; it is refused by its size, and a gzip stream that decompresses past the limit stops there. */
#define VOCAB_MAX_BYTES ((size_t)64 << 20)

static int read_vocab(const char *path, char **text, size_t *len, Err *err) {
    struct stat st;
    if (stat(path, &st) != 0) return err_set(err, "%s: cannot open the CLIP vocabulary: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return err_set(err, "%s: a folder, not a CLIP vocabulary (give the path of %s)", path, CLIP_VOCAB_FILE);
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > VOCAB_MAX_BYTES)
        return err_set(err, "%s: %lld bytes, too big for a CLIP vocabulary (%s is 1.3 MB, %s 0.5 MB; at most %zu MiB): "
                            "is it the right file?", path, (long long)st.st_size, CLIP_VOCAB_FILE, CLIP_HF_MERGES_FILE,
                       VOCAB_MAX_BYTES >> 20);
    gzFile f = gzopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open the CLIP vocabulary: %s", path, strerror(errno));
    size_t cap = 1 << 21, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > VOCAB_MAX_BYTES) { /* a byte read past the limit: the stream holds more */
                gzclose(f);
                free(buf);
                return err_set(err, "%s: more than %zu MiB once decompressed, too big for a CLIP vocabulary: is it the "
                                    "right file?", path, VOCAB_MAX_BYTES >> 20);
            }
            cap = cap * 2 > VOCAB_MAX_BYTES ? VOCAB_MAX_BYTES + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            int e;
            const char *m = gzerror(f, &e);
            err_set(err, "%s: corrupt vocabulary file: %s", path, m);
            gzclose(f);
            free(buf);
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* zlib reports a gzip stream cut short (a partial download) only here: gzread just stops */
    if (gzclose(f) == Z_BUF_ERROR) {
        free(buf);
        return err_set(err, "%s: truncated: the compressed vocabulary ends early (%zu bytes read); download it again",
                       path, n);
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

int clip_tokenizer_load(const char *vocab_path, ClipTokenizer **out, Err *err) {
    char *text = NULL;
    size_t len = 0;
    if (read_vocab(vocab_path, &text, &len, err) != 0) return -1;
    ClipTokenizer *t = xcalloc(1, sizeof *t);
    t->token_text = xcalloc(CLIP_VOCAB_SIZE, sizeof(char *));
    uint32_t byte_char[256];
    byte_table(t->byte_id, t->id_byte, byte_char);
    for (int i = 0; i < 256; i++) {
        char *s = utf8_of(byte_char[t->id_byte[i]]);
        t->token_text[i] = s;
        char *w = xmalloc(strlen(s) + 5);
        sprintf(w, "%s</w>", s);
        t->token_text[256 + i] = w;
    }
    t->merge_mask = (1u << 17) - 1;
    t->merges = xcalloc(t->merge_mask + 1, sizeof(MergeSlot));
    StrMap sm = {xcalloc(1u << 17, sizeof(char *)), xcalloc(1u << 17, sizeof(int)), (1u << 17) - 1};
    for (int i = 0; i < 512; i++) strmap_put(&sm, t->token_text[i], i);
    /* Pass 1: line 0 is the version header; lines 1..48894 are the merges in rank
     * order. Each merged string gets id 512 + rank (a repeated string ends up
     * with its last id, as in Python's dict(zip(vocab, range))). The two
     * symbols of each line are kept NUL-terminated in `text` for pass 2. */
    const char **left = xcalloc(N_MERGES, sizeof(char *)), **right = xcalloc(N_MERGES, sizeof(char *));
    char *line = strchr(text, '\n');
    int rank = 0, rc = 0;
    while (line && rank < N_MERGES) {
        line++;
        char *next = strchr(line, '\n');
        char *end = next ? next : line + strlen(line);
        if (end > line && end[-1] == '\r') end--; /* tolerate CRLF files */
        if (end == line) break; /* the file ends early: reported below by the merge count */
        char *space = memchr(line, ' ', (size_t)(end - line));
        if (!space || space == line || space + 1 >= end || memchr(space + 1, ' ', (size_t)(end - space - 1))) {
            rc = err_set(err, "%s: line %d is not a merge pair", vocab_path, rank + 2);
            break;
        }
        *space = 0;
        *end = 0;
        left[rank] = line;
        right[rank] = space + 1;
        char *merged = xmalloc((size_t)(end - line));
        sprintf(merged, "%s%s", line, space + 1);
        t->token_text[512 + rank] = merged;
        strmap_put(&sm, merged, 512 + rank);
        line = next;
        rank++;
    }
    if (rc == 0 && rank != N_MERGES)
        rc = err_set(err, "%s: %d merges found, the CLIP vocabulary has %d (truncated or wrong file?)", vocab_path,
                     rank, N_MERGES);
    /* Pass 2: pair of symbol ids -> rank (a repeated pair keeps its last rank,
     * as dict(zip(merges, range)) does) and the id of the merged string. A
     * symbol that no byte or merge produces would make the merge unreachable;
     * the real file has none, so it marks a corrupt file. */
    for (int r = 0; rc == 0 && r < N_MERGES; r++) {
        int a = strmap_get(&sm, left[r]), b = strmap_get(&sm, right[r]);
        if (a < 0 || b < 0) {
            rc = err_set(err, "%s: merge on line %d uses the unknown symbol '%s'", vocab_path, r + 2,
                         a < 0 ? left[r] : right[r]);
            break;
        }
        MergeSlot *slot = merge_slot(t, a, b);
        slot->rank = r;
        slot->result = strmap_get(&sm, t->token_text[512 + r]);
    }
    free(left);
    free(right);
    free(sm.keys);
    free(sm.vals);
    free(text);
    t->token_text[CLIP_SOT] = xstrdup("<|startoftext|>");
    t->token_text[CLIP_EOT] = xstrdup("<|endoftext|>");
    if (rc == 0) {
        int ecode;
        PCRE2_SIZE eoff;
        /* CLIP's pattern, `regex` module with IGNORECASE:
         *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
         * with two changes that make PCRE2 agree with it (checked over all code points):
         *  - `\s` becomes a plain space: normalisation has already turned every
         *    White_Space run into one space, and PCRE2's `\s` would also match
         *    U+180E, which `regex` treats as punctuation;
         *  - U+0345 (combining ypogegrammeni) is left out of the punctuation class:
         *    under IGNORECASE `regex` counts its case partner iota as a letter for the
         *    negated class but not for [\p{L}], so the character matches nothing and
         *    is dropped, like whitespace. */
        const char *pat = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|"
                          "[^ \\x{345}\\p{L}\\p{N}]+";
        t->pattern = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS,
                                   &ecode, &eoff, NULL);
        if (!t->pattern) rc = err_set(err, "internal: the pre-tokenising pattern does not compile (%d)", ecode);
    }
    if (rc != 0) {
        clip_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void clip_tokenizer_free(ClipTokenizer *t) {
    if (!t) return;
    for (int i = 0; i < CLIP_VOCAB_SIZE; i++) free(t->token_text[i]);
    free(t->token_text);
    free(t->merges);
    if (t->pattern) pcre2_code_free(t->pattern);
    free(t);
}

/* ---- BPE ------------------------------------------------------------------------- */

typedef struct Ids {
    int32_t *v;
    int n, cap;
} Ids;

static void ids_push(Ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? 2 * ids->cap : 64;
        ids->v = xrealloc(ids->v, (size_t)ids->cap * sizeof *ids->v);
    }
    ids->v[ids->n++] = id;
}

static void bpe(const ClipTokenizer *t, const uint8_t *bytes, size_t n, Ids *out) {
    int32_t stack_syms[64], *sym = n <= 64 ? stack_syms : xmalloc(n * sizeof(int32_t));
    int count = (int)n;
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[bytes[i]];
    sym[count - 1] += 256; /* the last symbol carries </w> */
    while (count > 1) {
        int best = -1, best_rank = INT32_MAX;
        const MergeSlot *chosen = NULL;
        for (int i = 0; i + 1 < count; i++) {
            const MergeSlot *m = merge_find(t, sym[i], sym[i + 1]);
            if (m && m->rank < best_rank) best_rank = m->rank, best = i, chosen = m;
        }
        if (best < 0) break;
        /* merge every non-overlapping occurrence of that pair, left to right */
        int a = sym[best], b = sym[best + 1], w = 0;
        for (int i = 0; i < count;) {
            if (i + 1 < count && sym[i] == a && sym[i + 1] == b) {
                sym[w++] = chosen->result;
                i += 2;
            } else {
                sym[w++] = sym[i++];
            }
        }
        count = w;
    }
    for (int i = 0; i < count; i++) ids_push(out, sym[i]);
    if (sym != stack_syms) free(sym);
}

int clip_tokenize(const ClipTokenizer *t, const char *text, int32_t **ids_out, int *n_out, Err *err) {
    char *normal = clip_normalize(text, err);
    if (!normal) return -1;
    const uint8_t *subject = (const uint8_t *)normal;
    size_t subject_len = strlen(normal);
    Ids ids = {0};
    ids_push(&ids, CLIP_SOT);
    /* match data per call: the compiled pattern is shared read-only between threads */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->pattern, NULL);
    CHECK_PTR(md);
    PCRE2_SIZE at = 0;
    int rc = 0;
    while (at < subject_len) {
        /* the text is valid UTF-8 (checked by clip_normalize); re-checking it on
         * every call would make long texts quadratic */
        int found = pcre2_match(t->pattern, subject, subject_len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (found == PCRE2_ERROR_NOMATCH) break; /* only whitespace left */
        if (found < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(found, msg, sizeof msg);
            rc = err_set(err, "pre-tokenising failed at byte %zu: %s", (size_t)at, (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        CHECK(e > s, "empty pre-token at byte %zu", s); /* every alternative consumes a character */
        if (e - s == 15 && !memcmp(subject + s, "<|startoftext|>", 15)) ids_push(&ids, CLIP_SOT);
        else if (e - s == 13 && !memcmp(subject + s, "<|endoftext|>", 13)) ids_push(&ids, CLIP_EOT);
        else bpe(t, subject + s, e - s, &ids);
        at = e;
    }
    pcre2_match_data_free(md);
    free(normal);
    if (rc != 0) {
        free(ids.v);
        return -1;
    }
    ids_push(&ids, CLIP_EOT);
    *ids_out = ids.v;
    *n_out = ids.n;
    return 0;
}

int clip_tokenize_padded(const ClipTokenizer *t, const char *text, int context, int truncate, int32_t *out, Err *err) {
    int32_t *ids;
    int n;
    if (clip_tokenize(t, text, &ids, &n, err) != 0) return -1;
    if (n > context && !truncate) {
        free(ids);
        /* the first 60 bytes, cut back to a character boundary (the text is valid UTF-8: clip_tokenize checked it) */
        size_t quoted = utf8_prefix(text, 60);
        return err_set(err, "text has %d tokens, more than the context of %d: \"%.*s%s\"", n, context, (int)quoted,
                       text, text[quoted] ? "..." : "");
    }
    clip_frame_ids(ids, n, context, out);
    free(ids);
    return 0;
}

void clip_frame_ids(const int32_t *ids, int n, int context, int32_t *out) {
    /* a context of 0 would write out[-1] below (the EOT of a truncated text): a caller's error, not the input's */
    CHECK(context > 0 && n >= 0, "clip_frame_ids: %d ids into a context of %d", n, context);
    int keep = n < context ? n : context;
    memcpy(out, ids, (size_t)keep * sizeof(int32_t));
    if (n > context) out[context - 1] = CLIP_EOT;
    for (int i = keep; i < context; i++) out[i] = 0;
}

char *clip_detokenize(const ClipTokenizer *t, const int32_t *ids, int n) {
    size_t cap = 64, len = 0;
    char *s = xmalloc(cap);
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= CLIP_VOCAB_SIZE || !t->token_text[ids[i]]) continue;
        const uint8_t *p = (const uint8_t *)t->token_text[ids[i]];
        if (ids[i] >= CLIP_SOT) {
            size_t l = strlen((const char *)p);
            if (len + l + 1 > cap) s = xrealloc(s, cap = 2 * (len + l + 1));
            memcpy(s + len, p, l + 1);
            len += l;
            continue;
        }
        size_t pl = strlen((const char *)p);
        const uint8_t *end = p + pl;
        while (p < end) {
            if (len + 2 > cap) s = xrealloc(s, cap *= 2);
            if (end - p >= 4 && !memcmp(p, "</w>", 4)) {
                s[len++] = ' ';
                p += 4;
                continue;
            }
            ucs4_t c;
            p += u8_mbtouc(&c, p, (size_t)(end - p));
            /* map the symbol character back to its byte */
            int byte = -1;
            for (int b = 0; b < 256 && byte < 0; b++) {
                const char *bt = t->token_text[t->byte_id[b]];
                ucs4_t bc;
                u8_mbtouc(&bc, (const uint8_t *)bt, strlen(bt));
                if (bc == c) byte = b;
            }
            if (byte >= 0) s[len++] = (char)byte;
        }
        s[len] = 0;
    }
    return s;
}

int clip_vocab_resolve(const char *given, const char *weights, const char *option, char *out, size_t out_len,
                       Err *err) {
    const char *env = getenv("DFER_VOCAB");
    if (given && given[0]) snprintf(out, out_len, "%s", given);
    else if (weights && weights[0] && clip_vocab_find_beside(weights, out, out_len) == 0) return 0;
    else if (env && env[0]) snprintf(out, out_len, "%s", env);
    else if (weights && weights[0])
        return err_set(err, "no CLIP vocabulary: set %s, put %s (or Hugging Face's %s) beside %s, or set DFER_VOCAB",
                       option, CLIP_VOCAB_FILE, CLIP_HF_MERGES_FILE, weights);
    else
        return err_set(err, "no CLIP vocabulary: set %s (the path of %s) or DFER_VOCAB", option, CLIP_VOCAB_FILE);
    return 0;
}

int clip_vocab_find_beside(const char *checkpoint_path, char *out, size_t out_len) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", checkpoint_path) >= (int)sizeof buf) return -1;
    const char *dir = fs_is_dir(buf) ? buf : dirname(buf);
    static const char *const names[] = {CLIP_VOCAB_FILE, CLIP_HF_MERGES_FILE};
    for (int i = 0; i < 2; i++) {
        int n = snprintf(out, out_len, "%s/%s", dir, names[i]);
        if (n < 0 || (size_t)n >= out_len) return -1;
        if (fs_exists(out)) return 0;
    }
    return -1;
}
