#include "text/descriptions.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "core/fsutil.h"

void descriptions_init(Descriptions *d) { memset(d, 0, sizeof *d); }

void descriptions_add(Descriptions *d, const char *clip, const char *text, int line) {
    if (d->count == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->items = xrealloc(d->items, (size_t)d->cap * sizeof *d->items);
    }
    d->items[d->count++] = (Description){xstrdup(clip), xstrdup(text), line};
    d->indexed = 0;
}

void descriptions_set_text(Descriptions *d, int i, const char *text) {
    CHECK(i >= 0 && i < d->count, "description %d of %d", i, d->count);
    char *t = xstrdup(text); /* before freeing: text may be the old string */
    free(d->items[i].text);
    d->items[i].text = t;
}

void descriptions_free(Descriptions *d) {
    for (int i = 0; i < d->count; i++) free(d->items[i].clip), free(d->items[i].text);
    free(d->items);
    free(d->order);
    memset(d, 0, sizeof *d);
}

int descriptions_count(const Descriptions *d) { return d->count; }

const Description *descriptions_at(const Descriptions *d, int i) {
    CHECK(i >= 0 && i < d->count, "description %d of %d", i, d->count);
    return &d->items[i];
}

/* ---- index -------------------------------------------------------------------------- */

static int by_clip(const void *a, const void *b, void *ctx) {
    const Description *items = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    int c = strcmp(items[ia].clip, items[ib].clip);
    return c ? c : (ia > ib) - (ia < ib); /* ties in file order: the first occurrence comes first */
}

int descriptions_index(Descriptions *d, Err *err) {
    free(d->order);
    d->order = xmalloc((size_t)(d->count ? d->count : 1) * sizeof *d->order);
    for (int i = 0; i < d->count; i++) d->order[i] = i;
    qsort_r(d->order, (size_t)d->count, sizeof *d->order, by_clip, d->items);
    for (int k = 1; k < d->count; k++) {
        const Description *a = &d->items[d->order[k - 1]], *b = &d->items[d->order[k]];
        if (strcmp(a->clip, b->clip)) continue;
        if (a->line && b->line)
            return err_set(err, "%s:%d: duplicate clip id '%s' (first on line %d)", d->source, b->line,
                           b->clip, a->line);
        return err_set(err, "%s: duplicate clip id '%s'", d->source[0] ? d->source : "descriptions", b->clip);
    }
    d->indexed = 1;
    return 0;
}

int descriptions_lookup(const Descriptions *d, const char *clip_id) {
    CHECK(d->indexed || d->count == 0, "descriptions_lookup before descriptions_index");
    int lo = 0, hi = d->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(d->items[d->order[mid]].clip, clip_id);
        if (c == 0) return d->order[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

const char *descriptions_find(const Descriptions *d, const char *clip_id) {
    int i = descriptions_lookup(d, clip_id);
    return i < 0 ? NULL : d->items[i].text;
}

/* ---- parsing ------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static DescFormat detect(const char *name, const char *data, size_t len) {
    if (ends_with(name, ".jsonl") || ends_with(name, ".json")) return DESC_FORMAT_JSONL;
    if (ends_with(name, ".tsv") || ends_with(name, ".txt")) return DESC_FORMAT_TSV;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') continue;
        return data[i] == '{' ? DESC_FORMAT_JSONL : DESC_FORMAT_TSV;
    }
    return DESC_FORMAT_JSONL;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

static int check_utf8(const Descriptions *d, int line, const char *what, const char *s, Err *err) {
    const uint8_t *bad = u8_check((const uint8_t *)s, strlen(s));
    if (!bad) return 0;
    return err_set(err, "%s:%d: the %s is not valid UTF-8 (byte %zu)", d->source, line, what,
                   (size_t)(bad - (const uint8_t *)s));
}

/* A NUL in a line, raw or escaped as \u0000, would end cJSON's string there and silently cut the text. */
static int has_nul(const char *s, size_t n) {
    if (memchr(s, 0, n)) return 1;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4)) return 1;
        i++; /* the escaped character: "\\u0000" is a backslash and the text u0000 */
    }
    return 0;
}

/* The value of the 4 hex digits at s, or -1 when they are not 4 hex digits. */
static long hex4(const char *s) {
    long v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0) return -1;
        v = v * 16 + digit;
    }
    return v;
}

/* The first \uD800-\uDFFF escape of s[0..n) that is not half of a high-low pair (an emoji cut in two by a tool
 * that counts UTF-16 units), copied into escape[7] ("\ud83d"); 0 when there is none. cJSON refuses such a line
 * and said only "not valid JSON". */
static int lone_surrogate(const char *s, size_t n, char escape[7]) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\') continue;
        long code = s[i + 1] == 'u' && i + 6 <= n ? hex4(s + i + 2) : -1;
        if (code >= 0xD800 && code <= 0xDBFF) { /* high: a low one must follow */
            long low = i + 12 <= n && s[i + 6] == '\\' && s[i + 7] == 'u' ? hex4(s + i + 8) : -1;
            if (low >= 0xDC00 && low <= 0xDFFF) {
                i += 11; /* the pair */
                continue;
            }
        }
        if (code >= 0xD800 && code <= 0xDFFF) {
            memcpy(escape, s + i, 6);
            escape[6] = '\0';
            return 1;
        }
        i++; /* the escaped character: "\\ud83d" is a backslash and the text ud83d */
    }
    return 0;
}

/* How many members of object o are named `name`: cJSON keeps every repeated key and its lookups return the first,
 * so {"clip": "a", ..., "clip": "b"} would silently be clip a. */
static int member_count(const cJSON *o, const char *name) {
    int count = 0;
    for (const cJSON *m = o->child; m; m = m->next) count += m->string && !strcmp(m->string, name);
    return count;
}

static int parse_jsonl_line(Descriptions *d, int line, const char *s, size_t n, Err *err) {
    if (has_nul(s, n)) return err_set(err, "%s:%d: NUL character in the line (raw or \\u0000)", d->source, line);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!o) {
        char escape[7];
        if (lone_surrogate(s, n, escape))
            return err_set(err, "%s:%d: a lone UTF-16 surrogate %s (half of a pair: a character cut in two?), "
                                "not valid JSON text", d->source, line, escape);
        return err_set(err, "%s:%d: not valid JSON", d->source, line);
    }
    int rc = 0;
    if (!blank(end, n - (size_t)(end - s))) rc = err_set(err, "%s:%d: text after the JSON object", d->source, line);
    else if (!cJSON_IsObject(o)) rc = err_set(err, "%s:%d: not a JSON object", d->source, line);
    else if (member_count(o, "clip") > 1 || member_count(o, "text") > 1)
        rc = err_set(err, "%s:%d: the \"%s\" field is given more than once", d->source, line,
                     member_count(o, "clip") > 1 ? "clip" : "text");
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    const cJSON *clip = cJSON_GetObjectItemCaseSensitive(o, "clip"),
                *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    char id[64];
    const char *clip_s = NULL;
    if (!clip) rc = err_set(err, "%s:%d: no \"clip\" field", d->source, line);
    else if (cJSON_IsString(clip)) clip_s = clip->valuestring;
    else if (cJSON_IsNumber(clip) && clip->valuedouble == floor(clip->valuedouble) && clip->valuedouble >= 0 &&
             clip->valuedouble < 1e15) {
        /* the number of a DFEW or MAFW clip, whose ids are its 5-digit folder name: 42 is "00042" (as "42" it
         * matched no clip) */
        snprintf(id, sizeof id, "%05lld", (long long)clip->valuedouble);
        clip_s = id;
    } else rc = err_set(err, "%s:%d: \"clip\" is not a string or a whole number >= 0", d->source, line);
    if (!rc && !clip_s[0]) rc = err_set(err, "%s:%d: \"clip\" is empty", d->source, line);
    if (!rc && !text) rc = err_set(err, "%s:%d: no \"text\" field", d->source, line);
    if (!rc && !cJSON_IsString(text)) rc = err_set(err, "%s:%d: \"text\" is not a string", d->source, line);
    if (!rc) rc = check_utf8(d, line, "clip id", clip_s, err);
    if (!rc) rc = check_utf8(d, line, "text", text->valuestring, err);
    if (!rc) descriptions_add(d, clip_s, text->valuestring, line);
    cJSON_Delete(o);
    return rc;
}

static int parse_tsv_line(Descriptions *d, int line, const char *s, size_t n, Err *err) {
    if (n && s[n - 1] == '\r') n--;
    if (s[0] == '#') return 0;
    const char *tab = memchr(s, '\t', n);
    if (!tab) return err_set(err, "%s:%d: no tab between the clip id and the text", d->source, line);
    if (tab == s) return err_set(err, "%s:%d: empty clip id", d->source, line);
    size_t idn = (size_t)(tab - s), tn = n - idn - 1;
    if (memchr(s, 0, n)) return err_set(err, "%s:%d: NUL byte in the line", d->source, line);
    char *id = xmalloc(idn + 1), *text = xmalloc(tn + 1);
    memcpy(id, s, idn), id[idn] = 0;
    memcpy(text, tab + 1, tn), text[tn] = 0;
    int rc = check_utf8(d, line, "clip id", id, err);
    if (!rc) rc = check_utf8(d, line, "text", text, err);
    if (!rc) descriptions_add(d, id, text, line);
    free(id), free(text);
    return rc;
}

int descriptions_parse(const char *name, const char *data, size_t len, DescFormat format, Descriptions *d, Err *err) {
    descriptions_init(d);
    snprintf(d->source, sizeof d->source, "%s", name);
    /* a UTF-8 byte-order mark (Windows editors) */
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) data += 3, len -= 3;
    if (format == DESC_FORMAT_AUTO) format = detect(name, data, len);
    int line = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - data) : len;
        line++;
        /* a byte-order mark opens a file: at the start of a later line it is almost surely a second file joined
         * to the first (cat a.jsonl b.jsonl), and cJSON skipped it silently (in TSV it became part of the id) */
        if (line > 1 && e - i >= 3 && !memcmp(data + i, "\xef\xbb\xbf", 3))
            return err_set(err, "%s:%d: a UTF-8 byte-order mark at the start of the line, as at the start of a file: "
                                "two files joined? Remove it (only the first line may have one)", d->source, line);
        if (!blank(data + i, e - i)) {
            int rc = format == DESC_FORMAT_JSONL ? parse_jsonl_line(d, line, data + i, e - i, err)
                                                 : parse_tsv_line(d, line, data + i, e - i, err);
            if (rc) return -1;
        }
        i = e + 1;
    }
    return descriptions_index(d, err);
}

int descriptions_load(const char *path, Descriptions *d, Err *err) {
    char *data;
    size_t len;
    descriptions_init(d);
    if (fs_read_all(path, &data, &len, err)) return -1;
    int rc = descriptions_parse(path, data, len, DESC_FORMAT_AUTO, d, err);
    free(data);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------ */

int descriptions_jsonl_name_check(const char *path, Err *err) {
    if (detect(path, "", 0) == DESC_FORMAT_TSV)
        return err_set(err, "%s: the descriptions are written as JSON lines, but a name ending in .tsv or .txt is read "
                            "back as tab-separated: name it .jsonl", path);
    return 0;
}

int descriptions_write_jsonl(const char *path, const Descriptions *d, Err *err) {
    if (descriptions_jsonl_name_check(path, err) != 0) return -1;
    AtomicFile f;
    if (atomic_open(&f, path, err)) return -1;
    for (int i = 0; i < d->count; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "clip", d->items[i].clip);
        cJSON_AddStringToObject(o, "text", d->items[i].text);
        char *s = cJSON_PrintUnformatted(o);
        CHECK_PTR(s);
        cJSON_Delete(o);
        int rc = atomic_write(&f, s, strlen(s), err);
        free(s);
        if (!rc) rc = atomic_write(&f, "\n", 1, err);
        if (rc) return -1; /* atomic_write already removed the temporary file */
    }
    return atomic_commit(&f, err);
}
