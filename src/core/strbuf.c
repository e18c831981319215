#include "core/strbuf.h"

#include <string.h>

#include "core/check.h"

void strbuf_add(StrBuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

int utf8_char_len(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    if (s[0] < 0x80) return 1;
    int n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n) return 0;
    unsigned cp = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

#define REPLACEMENT_CHARACTER "\xEF\xBF\xBD" /* U+FFFD */

char *utf8_valid_copy(const char *s) {
    StrBuf b = {0};
    strbuf_add(&b, "", 0);
    while (*s) {
        int n = utf8_char_len(s);
        if (n) strbuf_add(&b, s, (size_t)n);
        else strbuf_add(&b, REPLACEMENT_CHARACTER, strlen(REPLACEMENT_CHARACTER));
        s += n ? n : 1;
    }
    return b.p;
}

void text_make_printable(char *s) {
    while (*s) {
        unsigned char c = (unsigned char)*s;
        int n = utf8_char_len(s);
        int c1_control = n == 2 && c == 0xC2 && (unsigned char)s[1] < 0xA0;
        if (!n || c < 0x20 || c == 0x7F || c1_control) {
            for (int i = 0; i < (n ? n : 1); i++) s[i] = '?';
            n = n ? n : 1;
        }
        s += n;
    }
}

size_t utf8_prefix(const char *s, size_t max_bytes) {
    size_t len = strnlen(s, max_bytes + 1), cut = len < max_bytes ? len : max_bytes;
    /* a continuation byte (10xxxxxx) right after the cut: the cut is inside a character, step back to its lead */
    while (cut > 0 && cut < len && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    return cut;
}
