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

/* Text from the inputs (run, method, backbone, class and file names of result.json, jobs.json, config.ini) reaches
 * every writer of the tables and the report with one rule for invalid UTF-8: each byte that does not start a valid
 * sequence becomes U+FFFD (EF BF BD), never refused and never passed through. Why replace rather than refuse: the
 * tables and the page show a matrix's partial results, and one bad byte in one name must not cost every table (a
 * result left out is a cell short); a visible U+FFFD says where the name is damaged. Why not pass through: pdflatex
 * (inputenc utf8) stops at an invalid byte, and XML and HTML forbid it. */

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when s does not start one (a stray continuation byte, a
 * cut sequence, an overlong form, a surrogate, a code point past U+10FFFF). The NUL is a sequence of 1. */
int utf8_char_len(const char *s);
/* A copy of s (malloc'ed; free it) with each invalid byte as U+FFFD, for writers that take a whole string. */
char *utf8_valid_copy(const char *s);
/* Makes s, in place and byte for byte, safe to print on a terminal as one line: C0 control characters (escape, tab,
 * newline too), DEL, the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F, which a UTF-8 terminal may take as CSI)
 * and each byte of invalid UTF-8 become '?'. For lines built from names a user's files hold (job folders, backbone
 * names) that go to stderr: an escape sequence in a folder's name reached the terminal. */
void text_make_printable(char *s);

#endif
