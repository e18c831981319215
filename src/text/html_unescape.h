/* html.unescape exactly as Python's standard library defines it: numeric
 * references (decimal and hex, with the repair table for invalid ones, U+FFFD
 * for surrogates and out-of-range values, invalid code points dropped) and
 * named HTML5 references, with the longest-prefix rule for names without a
 * semicolon. Tables are generated at build time (gen_html_entities.py). */
#ifndef DFER_TEXT_HTML_UNESCAPE_H
#define DFER_TEXT_HTML_UNESCAPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct HtmlEntity {
    const char *name; /* as in html.entities.html5, e.g. "amp;" or "amp" */
    const char *utf8;
} HtmlEntity;

typedef struct HtmlCharref {
    uint32_t code;
    const char *utf8;
} HtmlCharref;

extern const HtmlEntity k_html5_entities[];
extern const size_t k_html5_count;
extern const HtmlCharref k_invalid_charrefs[];
extern const size_t k_invalid_charrefs_count;
extern const uint32_t k_invalid_codepoints[];
extern const size_t k_invalid_codepoints_count;

/* Returns a malloc'ed, NUL-terminated unescaped copy of s (UTF-8 in, UTF-8 out). */
char *html_unescape(const char *s);

#endif
