/* Class prompts (text/prompts.h): DFER-CLIP's "X X ... X <class text>" against dfer.md §1 (the string
 * `"X X X X X X X X " + class_text` and the class descriptors of §1.6), and its output buffer limit: a buffer
 * smaller than the placeholders gets a NUL-terminated prefix and nothing is written past it. */
#include <string.h>

#include "testlib.h"
#include "text/prompts.h"

static void test_dfer_clip_text(void) {
    char out[512];
    prompt_dfer_clip("descriptor", 8, 0, 0, out, sizeof out);
    EXPECT(!strcmp(out, "X X X X X X X X a smiling mouth, raised cheeks, wrinkled eyes, and arched eyebrows."),
           "descriptor prompt: '%s'", out);
    prompt_dfer_clip("name", 2, 0, 3, out, sizeof out);
    EXPECT(!strcmp(out, "X X anger."), "name prompt: '%s'", out);
    prompt_dfer_clip("name_with_context", 1, 0, 10, out, sizeof out);
    EXPECT(!strcmp(out, "X an expression of disappointment."), "name_with_context prompt: '%s'", out);
    /* the paper's Tab. 3 hand-made prompts (no contexts) and Tab. 4's middle position: CoOp's first half (M / 2),
     * the class text, the rest */
    prompt_dfer_clip("photo_of_name", 0, 0, 1, out, sizeof out);
    EXPECT(!strcmp(out, "a photo of sadness."), "photo_of_name prompt without contexts: '%s'", out);
    prompt_dfer_clip("name", 8, 1, 0, out, sizeof out);
    EXPECT(!strcmp(out, "X X X X happiness. X X X X"), "middle: '%s'", out);
    prompt_dfer_clip("name", 3, 1, 6, out, sizeof out);
    EXPECT(!strcmp(out, "X fear. X X"), "middle, an odd count: '%s'", out);
}

/* n odd and below 2 * contexts: the last "X " is cut, and the class text used to be written at out + n + 1
 * with a size of (size_t)-1. */
static void test_dfer_clip_small_buffer(void) {
    static const size_t sizes[] = {1, 2, 5, 7, 16};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        char buf[128];
        memset(buf, '#', sizeof buf);
        prompt_dfer_clip("descriptor", 8, 0, 0, buf, n);
        size_t untouched = 0;
        for (size_t i = n; i < sizeof buf; i++) untouched += buf[i] == '#';
        EXPECT(untouched == sizeof buf - n, "n = %zu: %zu bytes written past the buffer", n,
               sizeof buf - n - untouched);
        EXPECT(memchr(buf, 0, n) != NULL, "n = %zu: the prefix is NUL-terminated inside the buffer", n);
        EXPECT(!strncmp(buf, "X X X X X X X X ", strlen(buf)), "n = %zu: a prefix of the prompt: '%.*s'", n, (int)n,
               buf);
        /* the middle position's placeholders after the class text are cut the same way */
        memset(buf, '#', sizeof buf);
        prompt_dfer_clip("name", 8, 1, 0, buf, n + 16);
        EXPECT(buf[n + 16] == '#' && memchr(buf, 0, n + 16) && !strncmp(buf, "X X X X happiness. X X X X", strlen(buf)),
               "middle, n = %zu: '%.*s'", n + 16, (int)(n + 16), buf);
    }
}

int main(void) {
    TEST_RUN(test_dfer_clip_text);
    TEST_RUN(test_dfer_clip_small_buffer);
    return test_summary();
}
