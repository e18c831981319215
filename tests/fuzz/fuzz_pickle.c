/* Fuzz target: the pickle reader, then the tensor rebuild over a zip holding the
 * fuzzed bytes as data.pkl next to one small storage. The first byte chooses:
 * even -> pickle_parse alone, odd -> the whole .pt path from a zip image. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "io/pickle.h"
#include "io/torch_pt.h"

static uint8_t *make_zip(const uint8_t *pkl, size_t n, size_t *out_size) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!z) {
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return NULL;
    }
    zip_source_keep(src);
    static const float storage[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    zip_file_add(z, "archive/data.pkl", zip_source_buffer(z, pkl, n, 0), ZIP_FL_OVERWRITE);
    zip_file_add(z, "archive/data/0", zip_source_buffer(z, storage, sizeof storage, 0), ZIP_FL_OVERWRITE);
    zip_close(z);
    uint8_t *buf = NULL;
    if (zip_source_open(src) == 0) {
        zip_source_seek(src, 0, SEEK_END);
        zip_int64_t len = zip_source_tell(src);
        zip_source_seek(src, 0, SEEK_SET);
        if (len > 0) {
            buf = malloc((size_t)len);
            *out_size = (size_t)zip_source_read(src, buf, (zip_uint64_t)len);
        }
        zip_source_close(src);
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    Err err;
    if (data[0] % 2 == 0) {
        Pickle *p;
        PickleValue *root;
        if (pickle_parse(data + 1, size - 1, "fuzz", &p, &root, &err) == 0) pickle_free(p);
        return 0;
    }
    size_t zs = 0;
    uint8_t *zip = make_zip(data + 1, size - 1, &zs);
    if (!zip) return 0;
    TensorMap m;
    if (torch_pt_read_memory(zip, zs, "fuzz.pt", &m, &err) == 0) tmap_free(&m);
    free(zip);
    return 0;
}
