/* CLIP's text normalisation.
 *
 * Two whitespace sets meet here, and they differ on U+001C..U+001F:
 *  - Python's str.strip() strips str.isspace() characters: general category Zs
 *    or bidi class WS, B or S, which includes the four information separators
 *    U+001C..U+001F (bidi B/S);
 *  - simple_tokenizer.py imports the `regex` module as `re`, whose `\s` is the
 *    Unicode White_Space property, which does not include them.
 * So separators inside the text survive whitespace_clean and later become
 * their own punctuation tokens, while at either end they are stripped. Both
 * sets come from libunistring; they were checked against Python 3.11 and
 * regex 2022.10.31 over all code points. */
#include "text/normalize.h"

#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <unistr.h>

#include "text/html_unescape.h"

/* Python str.isspace() */
static int is_python_space(ucs4_t c) {
    int bidi = uc_bidi_category(c);
    return uc_is_general_category(c, UC_SPACE_SEPARATOR) || bidi == UC_BIDI_WS || bidi == UC_BIDI_B ||
           bidi == UC_BIDI_S;
}

/* The code point starting at p (the text is valid UTF-8) and its length in bytes. */
static ucs4_t code_point_at(const uint8_t *p, const uint8_t *end, int *len) {
    ucs4_t c;
    *len = u8_mbtouc(&c, p, (size_t)(end - p));
    return c;
}

/* strip (isspace) -> White_Space runs to ' ' -> strip (isspace). Stripping the
 * ends first leaves non-isspace characters there, which the collapsing step
 * never touches, so the second strip has nothing left to do. */
static char *clean_whitespace(const char *s) {
    const uint8_t *p = (const uint8_t *)s, *end = p + strlen(s);
    int len;
    while (p < end && is_python_space(code_point_at(p, end, &len))) p += len;
    while (end > p) {
        const uint8_t *last = end - 1;
        while (last > p && (*last & 0xC0) == 0x80) last--; /* back to the lead byte */
        if (!is_python_space(code_point_at(last, end, &len))) break;
        end = last;
    }
    char *out = xmalloc((size_t)(end - p) + 1), *o = out;
    int in_run = 0;
    while (p < end) {
        ucs4_t c = code_point_at(p, end, &len);
        if (uc_is_property_white_space(c)) {
            if (!in_run) *o++ = ' ';
            in_run = 1;
        } else {
            memcpy(o, p, (size_t)len);
            o += len;
            in_run = 0;
        }
        p += len;
    }
    *o = 0;
    return out;
}

/* Appends the full lowercase mapping of s[0..n) to out (libunistring, no
 * language: SpecialCasing's unconditional rules such as U+0130 -> "i" U+0307,
 * none of the Lithuanian/Turkish ones, which Python does not apply either). */
static void append_lower(const uint8_t *s, size_t n, uint8_t **out, size_t *len, size_t *cap) {
    if (n == 0) return;
    size_t got = 0;
    uint8_t *lower = u8_tolower(s, n, NULL, NULL, NULL, &got);
    CHECK_PTR(lower);
    if (*len + got + 1 > *cap) {
        *cap = 2 * (*len + got + 1);
        *out = xrealloc(*out, *cap);
    }
    memcpy(*out + *len, lower, got);
    *len += got;
    free(lower);
}

/* Python's rule for U+03A3 at byte i (str.lower, handle_capital_sigma): final
 * form when a cased character precedes it (skipping case-ignorable ones) and
 * no cased character follows (again skipping case-ignorable ones).
 * libunistring's own Final_Sigma context disagrees with Python's when an
 * apostrophe follows (AΣ'B), so the decision is taken here. */
static int sigma_is_final(const uint8_t *s, size_t n, size_t i) {
    const uint8_t *p = s + i;
    ucs4_t c = 0;
    int found = 0;
    while ((p = u8_prev(&c, p, s)) != NULL)
        if (!uc_is_property_case_ignorable(c)) {
            found = 1;
            break;
        }
    if (!found || !uc_is_property_cased(c)) return 0;
    const uint8_t *q = s + i + 2, *end = s + n; /* U+03A3 is 2 bytes */
    while (q < end) {
        int len = u8_mbtouc(&c, q, (size_t)(end - q));
        if (!uc_is_property_case_ignorable(c)) return !uc_is_property_cased(c);
        q += len;
    }
    return 1;
}

/* Python's str.lower() of valid UTF-8: segments between capital sigmas are
 * mapped by libunistring (context-free without a language), each U+03A3
 * becomes U+03C2 or U+03C3 by Python's rule. Returns a malloc'ed string. */
static char *python_lower(const char *text) {
    const uint8_t *s = (const uint8_t *)text;
    size_t n = strlen(text), len = 0, cap = n + 1, start = 0;
    uint8_t *out = xmalloc(cap);
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != 0xCE || s[i + 1] != 0xA3) continue; /* U+03A3 = CE A3 */
        append_lower(s + start, i - start, &out, &len, &cap);
        const uint8_t small[2] = {0xCF, sigma_is_final(s, n, i) ? 0x82 : 0x83}; /* U+03C2 / U+03C3 */
        if (len + 3 > cap) out = xrealloc(out, cap = 2 * (len + 3));
        memcpy(out + len, small, 2);
        len += 2;
        start = i + 2;
        i++;
    }
    append_lower(s + start, n - start, &out, &len, &cap);
    if (len + 1 > cap) out = xrealloc(out, len + 1);
    out[len] = 0;
    return (char *)out;
}

char *clip_normalize(const char *text, Err *err) {
    size_t text_len = strlen(text);
    const uint8_t *invalid = u8_check((const uint8_t *)text, text_len);
    if (invalid) {
        err_set(err, "text is not valid UTF-8 (at byte %zu)", (size_t)(invalid - (const uint8_t *)text));
        return NULL;
    }
    /* html.unescape keeps UTF-8 valid: it only inserts whole code points */
    char *once = html_unescape(text), *twice = html_unescape(once);
    free(once);
    char *clean = clean_whitespace(twice);
    free(twice);
    char *lower = python_lower(clean);
    free(clean);
    return lower;
}
