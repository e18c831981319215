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

size_t utf8_prefix(const char *s, size_t max_bytes) {
    size_t len = strnlen(s, max_bytes + 1), cut = len < max_bytes ? len : max_bytes;
    /* a continuation byte (10xxxxxx) right after the cut: the cut is inside a character, step back to its lead */
    while (cut > 0 && cut < len && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    return cut;
}
