#include "io/torch_pt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "io/pickle.h"

/* How deep walk() goes into nested dicts and objects: it recurses, and a pickle is a few bytes a level, so a small
 * hostile file could otherwise overflow the stack. */
#define WALK_MAX_DEPTH 64

typedef struct Ctx {
    zip_t *zip;
    const char *label;
    char prefix[512]; /* "<top>/" */
    TensorMap *out;
    Err *err;
    /* storages already read: key -> bytes */
    char **keys;
    uint8_t **bufs;
    size_t *sizes;
    int n_storages;
    long visits; /* walk() calls so far */
    const PickleValue *ancestors[WALK_MAX_DEPTH + 1]; /* the dicts on the path walk() is on, by depth */
} Ctx;

static int storage_dtype(const char *type, DType *dt) {
    static const struct {
        const char *name;
        DType dt;
    } k[] = {{"FloatStorage", DT_F32}, {"HalfStorage", DT_F16},  {"BFloat16Storage", DT_BF16},
             {"DoubleStorage", DT_F64}, {"LongStorage", DT_I64}, {"IntStorage", DT_I32},
             {"ShortStorage", DT_I16},  {"CharStorage", DT_I8},  {"ByteStorage", DT_U8},
             {"BoolStorage", DT_BOOL}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(type, k[i].name)) {
            *dt = k[i].dt;
            return 0;
        }
    return -1;
}

static int read_entry(Ctx *c, const char *name, uint8_t **buf, size_t *size) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(c->zip, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return err_set(c->err, "%s: zip entry %s is missing", c->label, name);
    /* The declared size comes from the untrusted central directory: bound it by what
     * the compressed bytes can expand to (deflate: at most ~1032x) before allocating,
     * and allocate without aborting. */
    zip_uint64_t bound = (zip_uint64_t)1 << 40;
    if ((st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size < bound / 1100) bound = st.comp_size * 1100 + 4096;
    if (st.size > bound)
        return err_set(c->err, "%s: zip entry %s declares %llu bytes, more than its compressed data can hold", c->label,
                       name, (unsigned long long)st.size);
    uint8_t *b = malloc((size_t)st.size + 1);
    if (!b)
        return err_set(c->err, "%s: zip entry %s: cannot allocate %llu bytes", c->label, name,
                       (unsigned long long)st.size);
    zip_file_t *f = zip_fopen(c->zip, name, 0);
    if (!f) {
        free(b);
        return err_set(c->err, "%s: cannot open zip entry %s: %s", c->label, name, zip_strerror(c->zip));
    }
    zip_int64_t got = zip_fread(f, b, st.size);
    zip_fclose(f);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(b);
        return err_set(c->err, "%s: zip entry %s is truncated or corrupt", c->label, name);
    }
    *buf = b;
    *size = (size_t)st.size;
    return 0;
}

static int storage(Ctx *c, const char *key, const uint8_t **buf, size_t *size) {
    for (int i = 0; i < c->n_storages; i++)
        if (!strcmp(c->keys[i], key)) {
            *buf = c->bufs[i];
            *size = c->sizes[i];
            return 0;
        }
    char name[1024];
    snprintf(name, sizeof name, "%sdata/%s", c->prefix, key);
    uint8_t *b;
    size_t n;
    if (read_entry(c, name, &b, &n) != 0) return -1;
    tmap_own(c->out, b); /* freed with the map: tensors reference it */
    c->keys = xrealloc(c->keys, (size_t)(c->n_storages + 1) * sizeof *c->keys);
    c->bufs = xrealloc(c->bufs, (size_t)(c->n_storages + 1) * sizeof *c->bufs);
    c->sizes = xrealloc(c->sizes, (size_t)(c->n_storages + 1) * sizeof *c->sizes);
    c->keys[c->n_storages] = xstrdup(key);
    c->bufs[c->n_storages] = b;
    c->sizes[c->n_storages] = n;
    c->n_storages++;
    *buf = b;
    *size = n;
    return 0;
}

int torch_pt_view_extent(const PickleTensor *t, uint64_t storage_elems, uint64_t *numel, uint64_t *last, int *dim) {
    *numel = 1, *last = (uint64_t)t->offset, *dim = 0;
    if (*last > storage_elems) return TORCH_VIEW_STARTS_BEYOND;
    for (int i = 0; i < t->ndim; i++)
        if (t->size[i] == 0) *numel = 0;
    /* Highest element touched = offset + sum (size_i - 1) * stride_i. Every size and stride is checked against the
     * storage before it is used, and the loop stops as soon as a bound is passed. A size and a stride that each fit
     * a storage of more than 2^32 elements can still multiply past 2^64: that product is compared by division (it
     * wrapped to a small number, and a crafted view of a 4 GiB storage read far outside it). */
    for (int i = 0; i < t->ndim && *numel; i++) {
        if (t->size[i] == 1) continue; /* a size-1 dimension never moves, whatever its stride says */
        *dim = i;
        uint64_t size = (uint64_t)t->size[i], stride = (uint64_t)t->stride[i];
        if (size > storage_elems || stride > storage_elems) return TORCH_VIEW_DIM_BEYOND;
        *numel *= size;
        if (*numel > storage_elems) return TORCH_VIEW_EXPANDED;
        /* last <= storage_elems here; the step (size - 1) * stride must stay below storage_elems - last */
        if (*last >= storage_elems || (stride && size - 1 > (storage_elems - 1 - *last) / stride))
            return TORCH_VIEW_ENDS_BEYOND;
        *last += (size - 1) * stride;
    }
    if (*numel && *last >= storage_elems) return TORCH_VIEW_ENDS_BEYOND;
    return TORCH_VIEW_FITS;
}

/* Adds one rebuilt tensor: bounds-checked against its storage, referenced in place
 * when C-contiguous, gathered into a contiguous buffer otherwise. */
static int add_tensor(Ctx *c, const char *name, const PickleTensor *t) {
    DType dt;
    if (storage_dtype(t->storage_type, &dt) != 0)
        return err_set(c->err, "%s: tensor %s has storage type %s, which dfer does not read", c->label, name,
                       t->storage_type);
    const uint8_t *sb;
    size_t ss;
    if (storage(c, t->storage_key, &sb, &ss) != 0) { /* "file: tensor X: what", not "tensor X: file: what" */
        char was[sizeof c->err->msg];
        memcpy(was, c->err->msg, sizeof was);
        size_t ll = strlen(c->label);
        const char *rest = !strncmp(was, c->label, ll) && !strncmp(was + ll, ": ", 2) ? was + ll + 2 : was;
        return err_set(c->err, "%s: tensor %s: %s", c->label, name, rest);
    }
    size_t es = dtype_size(dt);
    uint64_t storage_elems = ss / es, numel, last;
    int dim;
    switch (torch_pt_view_extent(t, storage_elems, &numel, &last, &dim)) {
    case TORCH_VIEW_FITS: break;
    case TORCH_VIEW_STARTS_BEYOND:
        return err_set(c->err, "%s: tensor %s starts at element %llu of storage %s, which holds %llu", c->label, name,
                       (unsigned long long)t->offset, t->storage_key, (unsigned long long)storage_elems);
    case TORCH_VIEW_DIM_BEYOND:
        return err_set(c->err, "%s: tensor %s has size %lld / stride %lld in dimension %d, beyond its storage %s "
                       "(%llu elements)", c->label, name, (long long)t->size[dim], (long long)t->stride[dim], dim,
                       t->storage_key, (unsigned long long)storage_elems);
    case TORCH_VIEW_EXPANDED: {
        /* more elements than the storage holds: with the strides of a plain row-major tensor the storage is short (a
         * cut or damaged file); else the strides overlap (an expand()ed view), which copying out would multiply */
        uint64_t row_major = 1;
        int plain = 1;
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (t->size[i] != 1 && (uint64_t)t->stride[i] != row_major) plain = 0;
            row_major *= (uint64_t)t->size[i];
        }
        if (plain)
            return err_set(c->err, "%s: tensor %s needs %llu elements of storage %s, which holds %llu: the storage is "
                           "cut short (a damaged file)", c->label, name, (unsigned long long)row_major, t->storage_key,
                           (unsigned long long)storage_elems);
        return err_set(c->err, "%s: tensor %s has more elements than its storage %s holds (%llu): an expanded or "
                       "overlapping view, which dfer does not read", c->label, name, t->storage_key,
                       (unsigned long long)storage_elems);
    }
    case TORCH_VIEW_ENDS_BEYOND:
        return err_set(c->err, "%s: tensor %s reaches past the end of storage %s, which holds %llu elements (its "
                       "offset %lld, sizes and strides go beyond it)", c->label, name, t->storage_key,
                       (unsigned long long)storage_elems, (long long)t->offset);
    }
    /* A C-contiguous view references its storage (which the map owns); anything
     * else (a transposed view, a strided slice) is gathered into its own buffer. */
    int contiguous = 1;
    uint64_t expect_stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && (uint64_t)t->stride[i] != expect_stride) contiguous = 0;
        expect_stride *= (uint64_t)t->size[i];
    }
    if (contiguous || !numel)
        return tmap_add(c->out, name, dt, t->ndim, t->size, numel ? sb + (size_t)t->offset * es : NULL, 0, c->err);
    uint8_t *dst = xmalloc((size_t)numel * es);
    int64_t idx[8] = {0};
    for (uint64_t k = 0; k < numel; k++) {
        uint64_t off = (uint64_t)t->offset;
        for (int i = 0; i < t->ndim; i++) off += (uint64_t)idx[i] * (uint64_t)t->stride[i];
        memcpy(dst + k * es, sb + off * es, es);
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->size[i]) break;
            idx[i] = 0;
        }
    }
    tmap_own(c->out, dst);
    return tmap_add(c->out, name, dt, t->ndim, t->size, dst, 0, c->err);
}

/* Walks dicts and TorchScript module objects, naming tensors by their path.
 * Memo references let a pickle share (or nest) one dict many times, so the number
 * of paths can grow exponentially with the file size: the walk has a budget. */
#define WALK_BUDGET 1000000
static int walk(Ctx *c, const PickleValue *v, const char *path, int depth) {
    if (!v) return 0;
    if (++c->visits > WALK_BUDGET)
        return err_set(c->err, "%s: the pickle's object graph has more than %d paths (shared or cyclic references)",
                       c->label, WALK_BUDGET);
    const PickleValue *dict = v->kind == PK_DICT ? v : (v->kind == PK_OBJECT ? v->state : NULL);
    if (dict && dict->kind != PK_DICT) dict = NULL;
    if (v->kind != PK_TENSOR && !dict) return 0; /* a number, a string, a list: no tensor a state dict names */
    /* a dict inside itself (a cycle through the pickle's memo): its tensors are named on the shorter path */
    for (int i = 0; dict && i < depth && i <= WALK_MAX_DEPTH; i++)
        if (c->ancestors[i] == dict) return 0;
    /* skipped without a word, a tensor down there was later a "missing tensor" nobody could explain */
    if (depth > WALK_MAX_DEPTH)
        return err_set(c->err, "%s: %s is nested in more than %d dicts or objects, deeper than dfer reads (the limit "
                               "guards the stack): save a flatter state dict",
                       c->label, path, WALK_MAX_DEPTH);
    if (v->kind == PK_TENSOR) return path[0] ? add_tensor(c, path, &v->tensor) : 0;
    c->ancestors[depth] = dict;
    for (int i = 0; i + 1 < dict->count; i += 2) {
        const PickleValue *k = dict->items[i];
        if (!k || k->kind != PK_STR) continue;
        char sub[2048];
        if (snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k->s) >= (int)sizeof sub)
            return err_set(c->err, "%s: the key path of %.200s... under %.200s is longer than the %zu characters dfer "
                                   "reads", c->label, k->s, path[0] ? path : "the top", sizeof sub - 1);
        if (walk(c, dict->items[i + 1], sub, depth + 1) != 0) return -1;
    }
    return 0;
}

static int read_zip(zip_t *zip, const char *label, TensorMap *out, Err *err) {
    Ctx c = {.zip = zip, .label = label, .out = out, .err = err};
    zip_int64_t n = zip_get_num_entries(zip, 0);
    const char *pkl = NULL;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(zip, (zip_uint64_t)i, 0);
        size_t len = name ? strlen(name) : 0;
        if (len >= 8 && !strcmp(name + len - 8, "data.pkl") && (len == 8 || name[len - 9] == '/')) {
            if (len - 8 >= sizeof c.prefix) continue;
            pkl = name;
            memcpy(c.prefix, name, len - 8);
            c.prefix[len - 8] = 0;
            break;
        }
    }
    if (!pkl) return err_set(err, "%s: no data.pkl in the zip: not a PyTorch checkpoint", label);
    /* <prefix>/byteorder (PyTorch >= 1.13; absent: little-endian): the storages are read as little-endian bytes */
    char order_name[sizeof c.prefix + 16];
    snprintf(order_name, sizeof order_name, "%sbyteorder", c.prefix);
    zip_stat_t order_st;
    zip_stat_init(&order_st);
    if (zip_stat(zip, order_name, 0, &order_st) == 0) {
        uint8_t *order;
        size_t order_size;
        if (read_entry(&c, order_name, &order, &order_size) != 0) return -1;
        while (order_size &&
               (order[order_size - 1] == '\n' || order[order_size - 1] == '\r' || order[order_size - 1] == ' '))
            order_size--;
        int little = order_size == 6 && !memcmp(order, "little", 6), big = order_size == 3 && !memcmp(order, "big", 3);
        free(order);
        if (big)
            return err_set(err, "%s: saved on a big-endian machine (%s says big): dfer reads little-endian storages; "
                                "load and save it again with PyTorch on a little-endian machine", label, order_name);
        if (!little) return err_set(err, "%s: %s is neither 'little' nor 'big'", label, order_name);
    }
    uint8_t *pbuf;
    size_t psize;
    if (read_entry(&c, pkl, &pbuf, &psize) != 0) return -1;
    Pickle *pk;
    PickleValue *root;
    int rc = pickle_parse(pbuf, psize, pkl, &pk, &root, err);
    free(pbuf);
    if (rc == 0) {
        rc = walk(&c, root, "", 0);
        pickle_free(pk);
    } else {
        err_prefix(err, "%s: ", label);
    }
    for (int i = 0; i < c.n_storages; i++) free(c.keys[i]);
    free(c.keys), free(c.bufs), free(c.sizes);
    if (rc == 0 && out->count == 0) rc = err_set(err, "%s: the checkpoint holds no tensors", label);
    return rc;
}

int torch_pt_read(const char *path, TensorMap *out, Err *err) {
    tmap_init(out, path);
    int zerr = 0;
    zip_t *zip = zip_open(path, ZIP_RDONLY, &zerr);
    if (!zip) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        err_set(err, "%s: not a readable zip archive: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    int rc = read_zip(zip, path, out, err);
    zip_discard(zip);
    if (rc) tmap_free(out);
    return rc;
}

int torch_pt_read_memory(const uint8_t *data, size_t size, const char *label, TensorMap *out, Err *err) {
    tmap_init(out, label);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return err_set(err, "%s: cannot wrap the buffer", label);
    }
    zip_t *zip = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!zip) {
        err_set(err, "%s: not a readable zip archive: %s", label, zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    int rc = read_zip(zip, label, out, err);
    zip_discard(zip);
    if (rc) tmap_free(out);
    return rc;
}
