/* A growing NUL-terminated string: text assembled piece by piece (HTML
 * unescaping, description refinement). Start with StrBuf b = {0}; free b.p. */
#ifndef DFER_CORE_STRBUF_H
#define DFER_CORE_STRBUF_H

#include <stddef.h>

typedef struct StrBuf {
    char *p;
    size_t n, cap; /* length (without the NUL), allocated bytes */
} StrBuf;

/* Appends n bytes of s (then a NUL); strbuf_add(b, "", 0) makes b.p a valid empty string. */
void strbuf_add(StrBuf *b, const char *s, size_t n);

/* The length of s's longest prefix of at most max_bytes bytes that does not end inside a UTF-8 character: what an
 * error message quotes of a text ("%.*s"), so that the quote is valid UTF-8 when the text is. */
size_t utf8_prefix(const char *s, size_t max_bytes);

#endif
