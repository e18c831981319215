/* Error messages (src/core/check.c): one longer than Err holds keeps its beginning and its end, the middle elided,
 * so that the reason after a long path still reaches the user; err_prefix's context is kept the same way; no UTF-8
 * character is split. And through a real call: fs_read_all of a path of 3000 characters names why it failed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/fsutil.h"
#include "core/strbuf.h"
#include "testlib.h"

static const char k_mark[] = " [...] ";

static int ends_with(const char *s, const char *end) {
    size_t n = strlen(s), m = strlen(end);
    return n >= m && !strcmp(s + n - m, end);
}

static void test_short_message_whole(void) {
    Err e;
    EXPECT(err_set(&e, "%s: %d", "config.ini", 42) == -1, "err_set returns -1");
    EXPECT(!strcmp(e.msg, "config.ini: 42"), "short message: '%s'", e.msg);
    err_prefix(&e, "while loading %s: ", "x");
    EXPECT(!strcmp(e.msg, "while loading x: config.ini: 42"), "prefixed: '%s'", e.msg);
    /* exactly what fits: no elision */
    char fits[sizeof e.msg];
    memset(fits, 'a', sizeof fits - 1);
    fits[sizeof fits - 1] = '\0';
    err_set(&e, "%s", fits);
    EXPECT(!strcmp(e.msg, fits) && !strstr(e.msg, k_mark), "a message of %zu bytes is kept whole", sizeof fits - 1);
}

static void test_long_path_keeps_reason(void) {
    char path[3001];
    memset(path, 'p', 3000);
    memcpy(path, "/data/", 6);
    path[3000] = '\0';
    Err e;
    err_set(&e, "%s: cannot open: %s", path, strerror(ENOENT));
    EXPECT(strlen(e.msg) == sizeof e.msg - 1, "an elided message fills Err: %zu bytes", strlen(e.msg));
    EXPECT(!strncmp(e.msg, "/data/ppp", 9), "the beginning is kept: '%.20s'", e.msg);
    EXPECT(ends_with(e.msg, ": cannot open: No such file or directory"), "the reason is kept: '...%s'",
           e.msg + strlen(e.msg) - 50);
    const char *mark = strstr(e.msg, k_mark);
    EXPECT(mark && mark - e.msg == ERR_KEPT_HEAD, "the elision mark after the first %d bytes (at %td)",
           ERR_KEPT_HEAD, mark ? mark - e.msg : -1);
    /* a context prefixed to an elided message: its own beginning and the reason stay */
    err_prefix(&e, "while reading the CLIP weights: ");
    EXPECT(!strncmp(e.msg, "while reading the CLIP weights: /data/", 38), "the context leads: '%.40s'", e.msg);
    EXPECT(ends_with(e.msg, "No such file or directory"), "the reason still ends it");
    /* the message itself as an argument (err_set(e, "...: %s", e->msg)): read before it is written */
    err_set(&e, "job 3: %s", e.msg);
    EXPECT(!strncmp(e.msg, "job 3: while reading", 20) && ends_with(e.msg, "No such file or directory"),
           "a message formatted from itself: '%.30s'", e.msg);
}

static void test_utf8_not_split(void) {
    /* 2-byte characters (é) across both cut points, at every alignment */
    for (int shift = 0; shift < 2; shift++) {
        char text[4001];
        size_t n = 0;
        for (int i = 0; i < shift; i++) text[n++] = 'x';
        while (n + 2 < sizeof text) text[n++] = (char)0xC3, text[n++] = (char)0xA9;
        text[n] = '\0';
        Err e;
        err_set(&e, "%s", text);
        EXPECT(strstr(e.msg, k_mark) != NULL, "shift %d: elided", shift);
        char *clean = utf8_valid_copy(e.msg);
        EXPECT(!strcmp(clean, e.msg), "shift %d: the elided message is valid UTF-8", shift);
        free(clean);
    }
}

static void test_real_call_names_reason(void) {
    char path[3100];
    int n = snprintf(path, sizeof path, "%s/", test_tmpdir());
    while (n < 3000) path[n++] = 'd';
    path[n] = '\0';
    char *data = NULL;
    Err e;
    EXPECT(fs_read_all(path, &data, NULL, &e) != 0, "reading a file that is not there fails");
    EXPECT(strstr(e.msg, test_tmpdir()) == e.msg, "the message begins with the path");
    EXPECT(ends_with(e.msg, strerror(ENAMETOOLONG)) || ends_with(e.msg, strerror(ENOENT)),
           "the message ends with the reason: '...%s'", e.msg + strlen(e.msg) - 40);
    free(data);
}

int main(void) {
    TEST_RUN(test_short_message_whole);
    TEST_RUN(test_long_path_keeps_reason);
    TEST_RUN(test_utf8_not_split);
    TEST_RUN(test_real_call_names_reason);
    return test_summary();
}
