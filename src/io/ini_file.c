#include "io/ini_file.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A value too long for inih's buffer travels through it as this byte and the value's index in the
 * stream's table (the byte is refused in the file itself). */
#define LONG_VALUE_MARK '\x1f'

typedef struct IniStream {
    FILE *f;
    int line; /* lines read so far: the one inih is handling while it calls on_key */
    char *buf; /* getline's */
    size_t cap;
    char **long_values; /* by marker index */
    int n_long;
    IniKeyFn fn;
    void *user;
    Err *err;
    int failed_line; /* line of the first error found here (a key refused, a line refused); 0: none */
    struct SeenKey {
        char *section_key; /* "section\nkey" */
        int line;
    } *seen;             /* every key given so far: one given twice is an error, not "the last one wins" */
    int n_seen;
    int key_since_section; /* a key line came after the last [section] line: inih's "previous name" is set, so an
                            * indented line continues it; right after a header an indented line is a key of its own */
    const char *const *list_keys; /* "section.key" of the keys whose continuation lines are further values */
    const char *const *sections;  /* the sections the file may have (NULL: any) */
    int read_errno;               /* getline's errno where it stopped on a read error, not the end (0: none) */
} IniStream;

/* inih's scan: the first of chars (NULL: none), or of an inline comment (';' after a blank). */
static const char *scan(const char *s, const char *chars) {
    int was_space = 0;
    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void fail(IniStream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(IniStream *s, const char *fmt, ...) {
    if (s->failed_line) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->failed_line = s->line;
    err_set(s->err, "%s", msg);
}

/* A line longer than inih's buffer (num bytes with the NUL), as inih would see it: the text before its
 * value, then the marker of the value (cut at an inline comment and trimmed as inih does) kept aside.
 * Without a '=' or ':' the whole line counts as the value: inih takes it as a continuation line, or
 * reports it as a syntax error. A comment becomes an empty one. */
static char *long_line(IniStream *s, char *str, int num) {
    char *l = s->buf;
    l[strcspn(l, "\n")] = '\0';
    const char *start = l;
    while (isspace((unsigned char)*start)) start++;
    if (*start == ';' || *start == '#') return strcpy(str, ";\n");
    if (*start == '[') {
        fail(s, "a section header longer than the %d characters the parser takes", num - 2);
        return strcpy(str, ";\n");
    }
    const char *sep = scan(start, "=:"), *value = start;
    if (*sep == '=' || *sep == ':') {
        value = sep + 1;
        while (isspace((unsigned char)*value)) value++;
    }
    size_t prefix = (size_t)(value - l);
    char *end = (char *)scan(value, NULL);
    while (end > value && isspace((unsigned char)end[-1])) end--;
    *end = '\0';
    char marker[24];
    int marker_len = snprintf(marker, sizeof marker, "%c%d\n", LONG_VALUE_MARK, s->n_long);
    if (prefix + (size_t)marker_len + 1 > (size_t)num) {
        fail(s, "a key name longer than the %d characters the parser takes", num - 24);
        return strcpy(str, ";\n");
    }
    s->long_values = xrealloc(s->long_values, (size_t)(s->n_long + 1) * sizeof *s->long_values);
    s->long_values[s->n_long++] = xstrdup(value);
    memcpy(str, l, prefix);
    memcpy(str + prefix, marker, (size_t)marker_len + 1);
    return str;
}

/* A [section] header not among s->sections: an error on its line (a header with no key under it, "[trian]" left
 * empty by a typo, passed without a word; with keys the handler refused each as an unknown key) */
static void check_section(IniStream *s, const char *header) {
    const char *close = strchr(header, ']');
    if (!s->sections || !close) return; /* no list, or no header (inih says what is wrong with the line) */
    int len = (int)(close - header - 1);
    char known[256] = "";
    for (const char *const *k = s->sections; *k; k++) {
        size_t klen = strlen(*k);
        int prefix = klen && (*k)[klen - 1] == '*'; /* "set@*": any section that begins so */
        if (prefix ? len >= (int)klen - 1 && !strncmp(*k, header + 1, klen - 1)
                   : (int)klen == len && !strncmp(*k, header + 1, (size_t)len))
            return;
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s[%s]", used ? ", " : "", *k);
    }
    fail(s, "unknown section [%.*s] (this file has %s)", len > 80 ? 80 : len, header + 1, known);
}

static char *read_line(char *str, int num, void *stream) {
    IniStream *s = stream;
    errno = 0;
    ssize_t n = getline(&s->buf, &s->cap, s->f);
    if (n < 0) { /* the end, or a read error that must not pass for it (the rest of the file unread) */
        if (ferror(s->f)) s->read_errno = errno ? errno : EIO;
        return NULL;
    }
    s->line++;
    const char *first = s->buf + strspn(s->buf, " \t\r\f\v");
    if (*first == '[') {
        s->key_since_section = 0; /* inih forgets the previous key at a section header */
        check_section(s, first);
    }
    if (memchr(s->buf, LONG_VALUE_MARK, (size_t)n)) {
        fail(s, "the line holds the control character 0x1f");
        return strcpy(str, ";\n");
    }
    if (memchr(s->buf, '\0', (size_t)n)) { /* the parser would read the line only up to it */
        fail(s, "the line holds a NUL byte (is this a text file?)");
        return strcpy(str, ";\n");
    }
    if (n < num) return memcpy(str, s->buf, (size_t)n + 1);
    return long_line(s, str, num);
}

/* Whether section.name is one of the keys that take continuation lines. */
static int list_key(const IniStream *s, const char *section, const char *name) {
    size_t sl = strlen(section);
    for (const char *const *k = s->list_keys; k && *k; k++)
        if (!strncmp(*k, section, sl) && (*k)[sl] == '.' && !strcmp(*k + sl + 1, name)) return 1;
    return 0;
}

/* A key given a second time (not a continuation line of its value, which starts with a blank) is refused:
 * a repeated `epochs` or a second [train] section silently replaced the first, and a matrix's second
 * `seeds =` line was appended to the first. An indented line is a continuation only where inih takes it as
 * one, after a key of the same section: an indented key right after a [section] line is a key of its own
 * (counted as a continuation, `[train]\n  epochs = 3\n[train]\n  epochs = 5` silently ran 5 epochs). */
static int repeated_key(IniStream *s, const char *section, const char *name) {
    int continuation = s->key_since_section && s->buf && isspace((unsigned char)s->buf[0]);
    s->key_since_section = 1;
    if (continuation) {
        /* a key of one value takes the continuation as its whole new value: "prompt = a photo of\n    a {class}
         * face" lost its first line without a word; only a list (a matrix's axes) appends it */
        if (!list_key(s, section, name)) {
            fail(s, "%s%s%s: an indented line continues the value of the key before it, which takes one line: "
                    "join the lines, or unindent it if it is a key of its own", section, *section ? "." : "", name);
            return 1;
        }
        return 0; /* a continuation line of the same key */
    }
    size_t n = strlen(section) + strlen(name) + 2;
    char *key = xmalloc(n);
    snprintf(key, n, "%s\n%s", section, name);
    for (int i = 0; i < s->n_seen; i++)
        if (!strcmp(s->seen[i].section_key, key)) {
            fail(s, "%s%s%s is given twice (first on line %d)", section, *section ? "." : "", name, s->seen[i].line);
            free(key);
            return 1;
        }
    s->seen = xrealloc(s->seen, (size_t)(s->n_seen + 1) * sizeof *s->seen);
    s->seen[s->n_seen++] = (struct SeenKey){key, s->line};
    return 0;
}

static int on_key(void *stream, const char *section, const char *name, const char *value) {
    IniStream *s = stream;
    if (s->failed_line) return 1; /* the first error is the one reported */
    if (name && repeated_key(s, section, name)) return 1;
    char *joined = NULL;
    const char *mark = strrchr(value, LONG_VALUE_MARK);
    if (mark) { /* a long value's marker (read_line refuses the byte elsewhere) */
        int i = atoi(mark + 1);
        CHECK(i >= 0 && i < s->n_long, "ini: marker %d of %d long values", i, s->n_long);
        size_t head = (size_t)(mark - value);
        joined = xmalloc(head + strlen(s->long_values[i]) + 1);
        memcpy(joined, value, head);
        strcpy(joined + head, s->long_values[i]);
    }
    /* a value in double quotes reaches the handler without them; a list's elements are unquoted one by one, by the
     * handler (ini_list_next, ini_unquote): "a", "b" is no quoted value */
    char *unquoted = NULL;
    const char *v = joined ? joined : value;
    if (name && !list_key(s, section, name)) {
        unquoted = xstrdup(v);
        const char *why = ini_unquote(unquoted);
        if (why) {
            fail(s, "%s%s%s = %.60s: %s", section, *section ? "." : "", name, v, why);
            free(unquoted), free(joined);
            return 1;
        }
        v = unquoted;
    }
    if (s->fn(s->user, s->line, section, name, v, s->err) != 0) s->failed_line = s->line;
    free(unquoted);
    free(joined);
    return 1; /* errors are counted here, not by inih, so that they keep their own line */
}

/* What is wrong with line `line` of path, which inih could not parse. */
static void describe_syntax_error(const char *path, int line, Err *err) {
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = -1;
    for (int i = 0; f && i < line; i++)
        if ((n = getline(&text, &cap, f)) < 0) break;
    if (f) fclose(f);
    if (n < 0) {
        err_set(err, "syntax error");
    } else {
        text[strcspn(text, "\r\n")] = '\0';
        const char *t = text;
        while (isspace((unsigned char)*t)) t++;
        if (*t == '[')
            err_set(err, "'%.80s': a section header without its closing ']'", t);
        else
            err_set(err, "'%.80s': expected key = value, a [section] or a comment (; or #)", t);
    }
    free(text);
}

int ini_file_load(const char *path, const char *what, const char *const *list_keys, const char *const *sections,
                  IniKeyFn fn, void *user, Err *err) {
    IniStream s = {.fn = fn, .user = user, .err = err, .list_keys = list_keys, .sections = sections};
    s.f = fopen(path, "r");
    if (!s.f) return err_set(err, "%s: cannot open the %s (%s)", path, what, strerror(errno));
    struct stat st; /* a folder opens, and reads as an empty file: a run on the defaults */
    int e = fstat(fileno(s.f), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e) {
        fclose(s.f);
        return err_set(err, "%s: cannot read the %s (%s)", path, what, strerror(e));
    }
    int rc = ini_parse_stream(read_line, &s, on_key, &s);
    fclose(s.f);
    free(s.buf);
    for (int i = 0; i < s.n_long; i++) free(s.long_values[i]);
    free(s.long_values);
    for (int i = 0; i < s.n_seen; i++) free(s.seen[i].section_key);
    free(s.seen);
    if (rc == -2) return err_set(err, "%s: out of memory while parsing", path);
    if (s.read_errno) /* whatever the lines before said, the file was not read to its end */
        return err_set(err, "%s: cannot read the %s after line %d (%s)", path, what, s.line, strerror(s.read_errno));
    if (rc > 0 && (!s.failed_line || rc < s.failed_line)) { /* inih's syntax error comes first */
        describe_syntax_error(path, rc, err);
        return err_prefix(err, "%s:%d: ", path, rc);
    }
    if (s.failed_line) return err_prefix(err, "%s:%d: ", path, s.failed_line);
    return 0;
}

const char *ini_unquote(char *value) {
    if (value[0] != '"') return NULL;
    size_t n = strlen(value);
    const char *inner = strchr(value + 1, '"');
    if (!inner || (size_t)(inner - value) != n - 1)
        return inner ? "it begins with a '\"' that closes before its end (a quoted value holds no '\"')"
                     : "it begins with a '\"' it does not close (a ';' after a blank starts a comment even inside "
                       "quotes)";
    memmove(value, value + 1, n - 2);
    value[n - 2] = '\0';
    return NULL;
}

char *ini_list_next(char **cursor) {
    char *p = *cursor;
    if (!p) return NULL;
    while (*p == ' ' || *p == '\t') p++;
    char *start = p;
    int quoted = 0;
    for (; *p && (quoted || *p != ','); p++)
        if (*p == '"') quoted = !quoted;
    *cursor = *p ? p + 1 : NULL;
    char *end = p;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
    *end = '\0';
    return start;
}

const char *ini_value_unsafe(const char *value) {
    size_t n = strlen(value);
    if (value[0] == '"') return "it begins with a '\"', which an INI file takes for the start of a quoted value";
    /* ini_value_write quotes it, which it cannot do around a '"' */
    if (n && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[n - 1])) && strchr(value, '"'))
        return "it begins or ends with a blank, which an INI file trims unless the value is quoted, and it holds a "
               "'\"', which a quoted value cannot";
    if (*scan(value, NULL)) return "a ';' after a blank starts a comment in an INI file (even inside quotes)";
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t') return "it holds a control character (a line break?)";
    return NULL;
}

void ini_value_format(const char *value, char *out, size_t size) {
    size_t n = strlen(value);
    int quote = n && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[n - 1]));
    snprintf(out, size, quote ? "\"%s\"" : "%s", value);
}
