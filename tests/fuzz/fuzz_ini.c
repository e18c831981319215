/* Fuzz target: the INI readers (run configurations and matrix files, io/ini_file.c over inih) on
 * arbitrary bytes, which go through a file as they would for a user; the first byte picks the reader.
 * Lines longer than inih's buffer, comments, continuation lines and stray markers must give a
 * configuration or an error, never a crash or a read past a buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "train/config.h"
#include "train/matrix.h"

static char g_path[64];

static void remove_file(void) { unlink(g_path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!g_path[0]) {
        snprintf(g_path, sizeof g_path, "/tmp/dfer-fuzz-ini-%ld.ini", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(g_path, "wb");
    if (!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    Err err;
    if (data[0] % 2 == 0) {
        Config c;
        config_defaults(&c);
        (void)config_load_file(&c, g_path, &err);
    } else {
        static Matrix m; /* large: off the stack */
        (void)matrix_load(g_path, &m, &err);
    }
    return 0;
}
