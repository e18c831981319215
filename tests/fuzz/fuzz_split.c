/* Fuzz target: every split-file and list parser on arbitrary bytes; the first
 * byte picks the dataset kind. */
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *kinds[4] = {"dfew", "ferv39k", "mafw", "list"};
    if (size < 1) return 0;
    Dataset d;
    Err err;
    if (dataset_parse(kinds[data[0] % 4], (const char *)data + 1, size - 1, "fuzz", "/root", &d, &err) == 0) dataset_free(&d);
    return 0;
}
