/* CLIP's text normalisation without the vocabulary: Python's html.unescape
 * (numeric references with the repair tables, named HTML5 references with the
 * longest-prefix rule), the two whitespace sets, str.lower with SpecialCasing
 * and Python's final-sigma rule. Expected strings are what Python 3.11's
 * html.unescape / simple_tokenizer clean-up return for the same input. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "text/html_unescape.h"
#include "text/normalize.h"

static void expect_unescape(const char *in, const char *want) {
    char *got = html_unescape(in);
    EXPECT(!strcmp(got, want), "html_unescape(\"%s\") = \"%s\", want \"%s\"", in, got, want);
    free(got);
}

static void expect_normal(const char *in, const char *want) {
    Err err;
    char *got = clip_normalize(in, &err);
    EXPECT(got && !strcmp(got, want), "clip_normalize(\"%s\") = \"%s\", want \"%s\"", in, got ? got : err.msg, want);
    free(got);
}

static void test_named_references(void) {
    expect_unescape("fish &amp; chips", "fish & chips");
    expect_unescape("&lt;3", "<3");
    expect_unescape("&AMP;", "&");                   /* a listed upper-case alias */
    expect_unescape("&Amp;", "&Amp;");               /* not an entity: left as is */
    expect_unescape("&amp", "&");                    /* valid without ';' */
    expect_unescape("&ampx", "&x");                  /* longest prefix that is an entity */
    expect_unescape("&notit;", "\xc2\xacit;");       /* "not" is the longest prefix of "notit;" */
    expect_unescape("&notin;", "\xe2\x88\x89");      /* the full name wins over its prefix */
    expect_unescape("&zz;", "&zz;");
    expect_unescape("a & b &; c", "a & b &; c");
    expect_unescape("&amp;amp;", "&amp;");           /* one level per call */
}

static void test_numeric_references(void) {
    expect_unescape("&#39;x&#39;", "'x'");
    expect_unescape("&#65&#x41;&#X61", "AAa");
    expect_unescape("&#x80;", "\xe2\x82\xac");       /* Windows-1252 repair table: euro sign */
    expect_unescape("&#x9F;", "\xc5\xb8");           /* ... and Y with diaeresis */
    expect_unescape("&#0;", "\xef\xbf\xbd");         /* U+FFFD */
    expect_unescape("&#xD800;", "\xef\xbf\xbd");     /* surrogate */
    expect_unescape("&#x110000;", "\xef\xbf\xbd");   /* beyond Unicode */
    expect_unescape("&#99999999999999999999;", "\xef\xbf\xbd");
    expect_unescape("&#1;&#xFFFE;", "");             /* invalid code points are dropped */
    expect_unescape("&#;&#x;", "&#;&#x;");           /* no digits: not a reference */
}

static void test_whitespace_and_case(void) {
    expect_normal("  A   PHOTO\tof\n\n a\xc2\xa0" "Cat  ", "a photo of a cat");
    expect_normal("fish &amp;amp; chips", "fish & chips"); /* html.unescape twice */
    expect_normal("&amp;amp;amp;", "&amp;");
    expect_normal("", "");
    expect_normal(" \t\xe3\x80\x80 ", "");               /* ideographic space */
    /* U+001C..U+001F: stripped at the ends (str.strip) but kept inside, where
     * the `regex` module's \s does not collapse them */
    expect_normal("\x1c a \x1c", "a");
    expect_normal("a\x1c b", "a\x1c b");
    expect_normal("a\xe1\xa0\x8e" "b", "a\xe1\xa0\x8e" "b"); /* U+180E is not whitespace */
    expect_normal("\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9"); /* ÉTÉ -> été */
    expect_normal("Stra\xc3\x9f" "e", "stra\xc3\x9f" "e");   /* ß stays */
    expect_normal("\xc4\xb0stanbul", "i\xcc\x87stanbul");    /* İ -> i + U+0307 (SpecialCasing) */
    expect_normal("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
                  "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
    /* final sigma: ΟΔΟΣ -> οδος, ΣΑ -> σα, and Python's rule across an apostrophe */
    expect_normal("\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82");
    expect_normal("\xce\xa3\xce\x91", "\xcf\x83\xce\xb1");
    expect_normal("A\xce\xa3'B", "a\xcf\x83'b");
    expect_normal("A\xce\xa3'", "a\xcf\x82'");
    Err err;
    EXPECT(clip_normalize("ok \xff", &err) == NULL && strstr(err.msg, "UTF-8") && strstr(err.msg, "byte 3"),
           "invalid UTF-8: %s", err.msg);
    EXPECT(clip_normalize("\xed\xa0\x80", &err) == NULL, "an encoded surrogate is invalid UTF-8");
}

int main(void) {
    TEST_RUN(test_named_references);
    TEST_RUN(test_numeric_references);
    TEST_RUN(test_whitespace_and_case);
    return test_summary();
}
