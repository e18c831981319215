#include "core/xml.h"

#include "core/strbuf.h"

/* Writes s with each ASCII byte replace() names replaced (by "" to drop it), every other byte as valid UTF-8
 * (an invalid byte as U+FFFD, core/strbuf.h's rule for every writer): xml_escape and markdown_escape differ only in
 * replace. */
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
        int n = utf8_char_len((const char *)p);
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
