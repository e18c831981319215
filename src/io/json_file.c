#include "io/json_file.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

/* o as text with a final newline, handed to write (an atomic write, or an exclusive create) */
static int json_write_with(const char *path, const cJSON *o, int (*write)(const char *, const void *, size_t, Err *),
                           Err *err) {
    char *text = cJSON_Print(o);
    CHECK(text != NULL, "cJSON_Print: out of memory");
    size_t len = strlen(text);
    text[len] = '\n'; /* over the NUL: the length is passed */
    int rc = write(path, text, len + 1, err);
    free(text);
    return rc;
}

int json_write_atomic(const char *path, const cJSON *o, Err *err) {
    return json_write_with(path, o, fs_write_atomic, err);
}

int json_create_exclusive(const char *path, const cJSON *o, Err *err) {
    return json_write_with(path, o, fs_create_atomic_exclusive, err);
}

/* 1-based line of a position in text, for messages that point into a file. */
static int line_of(const char *text, const char *pos) {
    int line = 1;
    for (const char *p = text; p < pos; p++) line += *p == '\n';
    return line;
}

static int only_space(const char *s, size_t n) {
    return strspn(s, " \t\r\n") >= n;
}

int json_read_file(const char *path, cJSON **out, Err *err) {
    char *text;
    size_t len;
    *out = NULL;
    if (fs_read_all(path, &text, &len, err) != 0) return -1;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    int rc = 0;
    if (!o) {
        /* cJSON points at the byte it stopped on; an empty file has none */
        if (end && end >= text && end <= text + len && !only_space(text, len))
            rc = err_set(err, "%s: malformed JSON (line %d)", path, line_of(text, end));
        else rc = err_set(err, "%s: malformed JSON (%s)", path, len ? "no value" : "empty file");
    } else if (!only_space(end, (size_t)(text + len - end))) {
        end += strspn(end, " \t\r\n"); /* the line the extra text starts on */
        rc = err_set(err, "%s: text after the JSON value (line %d)", path, line_of(text, end));
        cJSON_Delete(o);
    } else *out = o;
    free(text);
    return rc;
}

int json_lines_each(const char *path, int flags, JsonLineFn fn, void *ctx, Err *err) {
    char *text;
    size_t len;
    if (fs_read_all(path, &text, &len, err) != 0) return -1;
    int rc = 0, line_no = 0;
    for (char *p = text; p < text + len && rc == 0;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t line_len = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        char *line = p;
        p += line_len + 1;
        line_no++;
        if (only_space(line, line_len)) continue;
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(line, line_len, &end, 0);
        if (!o || !cJSON_IsObject(o) || !only_space(end, (size_t)(line + line_len - end))) {
            cJSON_Delete(o);
            if (!nl && (flags & JSON_LINES_TOLERATE_TORN_TAIL)) break;
            rc = err_set(err, "%s:%d: not one JSON object%s", path, line_no,
                         nl ? "" : " (the last line, without its newline: cut off?)");
            break;
        }
        rc = fn(o, line_no, ctx, err);
        cJSON_Delete(o);
    }
    free(text);
    return rc;
}

const char *json_get_string(const cJSON *o, const char *key, const char *fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

double json_get_number(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

int json_get_whole(const cJSON *o, const char *key, double lo, double hi, long long fallback, long long *value) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *value = fallback;
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != floor(d)) return -1; /* NaN fails the first test too */
    *value = (long long)d;
    return 0;
}

int json_get_int(const cJSON *o, const char *key, int fallback) {
    long long v;
    json_get_whole(o, key, INT_MIN, INT_MAX, fallback, &v);
    return (int)v;
}
