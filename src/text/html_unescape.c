#include "text/html_unescape.h"

#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/strbuf.h"

static void put_utf8(StrBuf *b, uint32_t c) {
    char o[4];
    size_t n;
    if (c < 0x80) o[0] = (char)c, n = 1;
    else if (c < 0x800) o[0] = (char)(0xC0 | (c >> 6)), o[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    else if (c < 0x10000)
        o[0] = (char)(0xE0 | (c >> 12)), o[1] = (char)(0x80 | ((c >> 6) & 0x3F)), o[2] = (char)(0x80 | (c & 0x3F)),
        n = 3;
    else
        o[0] = (char)(0xF0 | (c >> 18)), o[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
        o[2] = (char)(0x80 | ((c >> 6) & 0x3F)), o[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    strbuf_add(b, o, n);
}

static const char *find_entity(const char *name, size_t len) {
    size_t lo = 0, hi = k_html5_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *k = k_html5_entities[mid].name;
        int c = strncmp(k, name, len);
        if (c == 0 && k[len]) c = 1; /* k is longer: greater */
        if (c == 0) return k_html5_entities[mid].utf8;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Python: &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) */
static size_t match_ref(const char *s) {
    const char *p = s;
    if (*p == '#') {
        p++;
        int hex = *p == 'x' || *p == 'X';
        if (hex) p++;
        const char *digits = p;
        while (hex ? strchr("0123456789abcdefABCDEF", *p) && *p : (*p >= '0' && *p <= '9')) p++;
        if (p == digits) return 0;
        if (*p == ';') p++;
        return (size_t)(p - s);
    }
    int n = 0;
    while (*p && !strchr("\t\n\f <&#;", *p) && n < 32) p++, n++;
    if (!n) return 0;
    if (*p == ';') p++;
    return (size_t)(p - s);
}

static void replace_numeric(StrBuf *b, const char *ref, size_t len) {
    int hex = ref[1] == 'x' || ref[1] == 'X';
    const char *d = ref + 1 + hex;
    uint64_t num = 0;
    int big = 0;
    for (const char *p = d; p < ref + len && *p != ';'; p++) {
        int v = *p <= '9' ? *p - '0' : (*p | 32) - 'a' + 10;
        num = num * (hex ? 16 : 10) + (uint64_t)v;
        if (num > 0x10FFFF) big = 1, num = 0x110000; /* saturate: the exact value no longer matters */
    }
    if (!big)
        for (size_t i = 0; i < k_invalid_charrefs_count; i++)
            if (k_invalid_charrefs[i].code == num) {
                strbuf_add(b, k_invalid_charrefs[i].utf8, strlen(k_invalid_charrefs[i].utf8));
                return;
            }
    if (big || (num >= 0xD800 && num <= 0xDFFF)) {
        put_utf8(b, 0xFFFD);
        return;
    }
    for (size_t i = 0; i < k_invalid_codepoints_count; i++)
        if (k_invalid_codepoints[i] == num) return;
    put_utf8(b, (uint32_t)num);
}

char *html_unescape(const char *s) {
    StrBuf b = {0};
    strbuf_add(&b, "", 0);
    while (*s) {
        const char *amp = strchr(s, '&');
        if (!amp) {
            strbuf_add(&b, s, strlen(s));
            break;
        }
        strbuf_add(&b, s, (size_t)(amp - s));
        size_t len = match_ref(amp + 1);
        if (!len) {
            strbuf_add(&b, "&", 1);
            s = amp + 1;
            continue;
        }
        const char *ref = amp + 1;
        if (ref[0] == '#') {
            replace_numeric(&b, ref, len);
        } else {
            const char *v = find_entity(ref, len);
            if (v) {
                strbuf_add(&b, v, strlen(v));
            } else {
                /* the longest prefix (length >= 2) that is an entity */
                size_t x;
                for (x = len - 1; x > 1; x--)
                    if ((v = find_entity(ref, x))) break;
                if (x > 1 && v) {
                    strbuf_add(&b, v, strlen(v));
                    strbuf_add(&b, ref + x, len - x);
                } else {
                    strbuf_add(&b, "&", 1);
                    strbuf_add(&b, ref, len);
                }
            }
        }
        s = ref + len;
    }
    return b.p;
}
