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

const char *json_get_string(const cJSON *o, const char *key, const char *fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

double json_get_number(const cJSON *o, const char *key, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}
