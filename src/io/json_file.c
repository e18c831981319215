#include "io/json_file.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

int json_write_atomic(const char *path, const cJSON *o, Err *err) {
    char *text = cJSON_Print(o);
    CHECK(text != NULL, "cJSON_Print: out of memory");
    size_t len = strlen(text);
    text[len] = '\n'; /* over the NUL: the length is passed */
    int rc = fs_write_atomic(path, text, len + 1, err);
    free(text);
    return rc;
}
