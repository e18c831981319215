#include "core/xml.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static int utf8_len(const unsigned char *s) {
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

/* Writes s with each ASCII byte replace() names replaced (by "" to drop it), every other byte as valid UTF-8
 * (an invalid byte as U+FFFD): xml_escape and markdown_escape differ only in replace. */
static void escape_with(FILE *out, const char *s, const char *(*replace)(unsigned char c)) {
    if (!s) return;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const char *instead = *p < 0x80 ? replace(*p) : NULL;
        if (instead) {
            fputs(instead, out);
            p++;
            continue;
        }
        int n = utf8_len(p);
        if (!n) {
            fputs("\xEF\xBF\xBD", out);
            p++;
            continue;
        }
        fwrite(p, 1, (size_t)n, out);
        p += n;
    }
}

static const char *xml_replacement(unsigned char c) {
    return c == '&'    ? "&amp;"
           : c == '<'  ? "&lt;"
           : c == '>'  ? "&gt;"
           : c == '"'  ? "&quot;"
           : c == '\'' ? "&#39;"
           /* not allowed in XML 1.0 ('\r' would be normalised away) */
           : c < 0x20 && c != '\t' && c != '\n' ? ""
                                                 : NULL;
}

/* '|' would end the cell, a newline the row */
static const char *markdown_replacement(unsigned char c) {
    return c == '|' ? "\\|" : c < 0x20 || c == 0x7F ? " " : NULL;
}

void xml_escape(FILE *out, const char *s) { escape_with(out, s, xml_replacement); }

void markdown_escape(FILE *out, const char *s) { escape_with(out, s, markdown_replacement); }
