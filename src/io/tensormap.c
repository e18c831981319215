#include "io/tensormap.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/hash.h"

/* Open-addressing hash of names -> entry index, rebuilt as the map grows. */
typedef struct NameIndex {
    int *slots; /* entry index + 1; 0 = empty */
    int cap;
} NameIndex;

static uint64_t hash_name(const char *s) { return fnv1a_text(FNV1A_BASIS, s); }

static void index_rebuild(TensorMap *m) {
    NameIndex *ix = m->index;
    if (!ix) m->index = ix = xcalloc(1, sizeof *ix);
    free(ix->slots);
    ix->cap = 64;
    while (ix->cap < 2 * m->count + 2) ix->cap *= 2;
    ix->slots = xcalloc((size_t)ix->cap, sizeof(int));
    for (int i = 0; i < m->count; i++) {
        uint64_t h = hash_name(m->items[i].name) & (uint64_t)(ix->cap - 1);
        while (ix->slots[h]) h = (h + 1) & (uint64_t)(ix->cap - 1);
        ix->slots[h] = i + 1;
    }
}

void tmap_init(TensorMap *m, const char *source_label) {
    memset(m, 0, sizeof *m);
    snprintf(m->source, sizeof m->source, "%s", source_label ? source_label : "(memory)");
}

void tmap_adopt(TensorMap *m, TensorMap *other) {
    CHECK(!m->parent, "tensor map %s already keeps another alive", m->source);
    m->parent = xmalloc(sizeof *m->parent);
    *m->parent = *other;
    memset(other, 0, sizeof *other);
}

void tmap_free(TensorMap *m) {
    if (m->parent) {
        tmap_free(m->parent);
        free(m->parent);
    }
    for (int i = 0; i < m->count; i++) free(m->items[i].name);
    free(m->items);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    if (m->mapping) {
        fs_unmap(m->mapping);
        free(m->mapping);
    }
    if (m->index) {
        free(((NameIndex *)m->index)->slots);
        free(m->index);
    }
    for (int i = 0; m->metadata && m->metadata[i]; i++) free(m->metadata[i]);
    free(m->metadata);
    memset(m, 0, sizeof *m);
}

const TensorEntry *tmap_find(const TensorMap *m, const char *name) {
    const NameIndex *ix = m->index;
    if (!ix || !ix->cap) return NULL;
    uint64_t h = hash_name(name) & (uint64_t)(ix->cap - 1);
    while (ix->slots[h]) {
        const TensorEntry *e = &m->items[ix->slots[h] - 1];
        if (!strcmp(e->name, name)) return e;
        h = (h + 1) & (uint64_t)(ix->cap - 1);
    }
    return NULL;
}

int tmap_add_converted(TensorMap *m, const char *name, DType dtype, int ndim, const int64_t *shape, const void *data,
                       DType src_dtype, int copy, Err *err) {
    if (src_dtype == dtype || !dtype_is_floating(src_dtype) || !dtype_is_floating(dtype))
        return tmap_add(m, name, src_dtype, ndim, shape, data, copy, err);
    if (tmap_add(m, name, dtype, ndim, shape, NULL, 0, err) != 0) return -1; /* the name and shape checked first */
    TensorEntry *e = &m->items[m->count - 1];
    size_t n = e->nbytes / dtype_size(dtype);
    void *converted = xmalloc(e->nbytes + 1);
    /* rounded once: F64 to F16/BF16 goes through f64_to_f32_odd, not a plain float */
    CHECK(convert_dtype(converted, dtype, data, src_dtype, n) == 0, "%s: cannot convert tensor %s from %s to %s",
          m->source, name, dtype_name(src_dtype), dtype_name(dtype));
    tmap_own(m, converted);
    e->data = converted;
    return 0;
}

void tmap_own(TensorMap *m, void *buffer) {
    if (m->n_owned == m->cap_owned) {
        m->cap_owned = m->cap_owned ? 2 * m->cap_owned : 16;
        m->owned = xrealloc(m->owned, (size_t)m->cap_owned * sizeof *m->owned);
    }
    m->owned[m->n_owned++] = buffer;
}

int tmap_add(TensorMap *m, const char *name, DType dtype, int ndim, const int64_t *shape, const void *data, int copy,
             Err *err) {
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return err_set(err, "%s: tensor %s has %d dimensions (at most %d supported)", m->source, name, ndim,
                       TENSOR_MAX_DIMS);
    if (tmap_find(m, name)) return err_set(err, "%s: tensor %s appears twice", m->source, name);
    size_t n = dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return err_set(err, "%s: tensor %s has a negative dimension", m->source, name);
        if (shape[i] && n > SIZE_MAX / (size_t)shape[i])
            return err_set(err, "%s: tensor %s is too large", m->source, name);
        n *= (size_t)shape[i];
    }
    if (m->count == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->items = xrealloc(m->items, (size_t)m->cap * sizeof *m->items);
    }
    TensorEntry *e = &m->items[m->count];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = n;
    if (copy && n) {
        void *buf = xmalloc(n);
        memcpy(buf, data, n);
        tmap_own(m, buf);
        e->data = buf;
    } else {
        e->data = data;
    }
    m->count++;
    NameIndex *ix = m->index;
    if (!ix || 2 * m->count + 2 > ix->cap) {
        index_rebuild(m);
    } else {
        uint64_t h = hash_name(e->name) & (uint64_t)(ix->cap - 1);
        while (ix->slots[h]) h = (h + 1) & (uint64_t)(ix->cap - 1);
        ix->slots[h] = m->count;
    }
    return 0;
}

const TensorEntry *tmap_find_as(const TensorMap *m, const char *name, const Tensor *want, const char *hint, Err *err) {
    const TensorEntry *e = tmap_find(m, name);
    if (!e) {
        err_set(err, "%s: tensor %s is missing: the file does not match the model (%s)", m->source, name, hint);
        return NULL;
    }
    int same = e->dtype == want->dtype && e->ndim == want->ndim;
    for (int i = 0; same && i < e->ndim; i++) same = e->shape[i] == want->shape[i];
    if (!same) {
        char got[128], need[128];
        err_set(err, "%s: tensor %s is %s %s, but the model's is %s %s: the file does not match the model (%s)",
                m->source, name, dtype_name(e->dtype), shape_str(e->shape, e->ndim, got, sizeof got),
                dtype_name(want->dtype), shape_str(want->shape, want->ndim, need, sizeof need), hint);
        return NULL;
    }
    return e;
}

int tmap_read_as(const TensorMap *m, const char *name, int ndim, const int64_t *shape, DType dtype, void *dst,
                 Err *err) {
    if (dtype != DT_F32 && dtype != DT_F16 && dtype != DT_BF16 && dtype != DT_F64)
        return err_set(err, "%s: tensor %s cannot be read into %s, which is not a floating-point type", m->source,
                       name, dtype_name(dtype));
    const TensorEntry *e = tmap_find(m, name);
    char want[128], got[128];
    if (!e)
        return err_set(err, "%s: tensor %s is missing (expected shape %s)", m->source, name,
                       shape_str(shape, ndim, want, sizeof want));
    int64_t ne = 1, nw = 1;
    for (int i = 0; i < e->ndim; i++) ne *= e->shape[i];
    for (int i = 0; i < ndim; i++) nw *= shape[i];
    int same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    /* A rank-0 scalar and a [1] vector are the same thing to the loader. */
    if (!same && !(ne == 1 && nw == 1))
        return err_set(err, "%s: tensor %s has shape %s, expected %s", m->source, name,
                       shape_str(e->shape, e->ndim, got, sizeof got), shape_str(shape, ndim, want, sizeof want));
    if (convert_dtype(dst, dtype, e->data, e->dtype, (size_t)ne) != 0)
        return err_set(err, "%s: tensor %s has dtype %s, which cannot be read as floating point", m->source, name,
                       dtype_name(e->dtype));
    return 0;
}

int tmap_read_f32(const TensorMap *m, const char *name, int ndim, const int64_t *shape, float *dst, Err *err) {
    return tmap_read_as(m, name, ndim, shape, DT_F32, dst, err);
}

int64_t tmap_numel(const TensorMap *m) {
    int64_t total = 0;
    for (int i = 0; i < m->count; i++) {
        const TensorEntry *e = &m->items[i];
        if (e->dtype != DT_F32 && e->dtype != DT_F16 && e->dtype != DT_BF16 && e->dtype != DT_F64) continue;
        int64_t n = 1;
        for (int k = 0; k < e->ndim; k++) n *= e->shape[k];
        total += n;
    }
    return total;
}

void tmap_set_metadata(TensorMap *m, const char *key, const char *value) {
    int n = 0;
    while (m->metadata && m->metadata[n]) {
        if (!strcmp(m->metadata[n], key)) { /* replace */
            free(m->metadata[n + 1]);
            m->metadata[n + 1] = xstrdup(value);
            return;
        }
        n += 2;
    }
    m->metadata = xrealloc(m->metadata, (size_t)(n + 3) * sizeof *m->metadata);
    m->metadata[n] = xstrdup(key);
    m->metadata[n + 1] = xstrdup(value);
    m->metadata[n + 2] = NULL;
}

const char *tmap_metadata(const TensorMap *m, const char *key) {
    for (int i = 0; m->metadata && m->metadata[i]; i += 2)
        if (!strcmp(m->metadata[i], key)) return m->metadata[i + 1];
    return NULL;
}

int64_t tmap_entry_nonfinite(const TensorEntry *e) {
    int64_t n = 1, bad = 0;
    for (int d = 0; d < e->ndim; d++) n *= e->shape[d];
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (e->dtype) {
        case DT_F32: v = ((const float *)e->data)[i]; break;
        case DT_F64: v = ((const double *)e->data)[i]; break;
        case DT_F16: v = f16_to_f32(((const uint16_t *)e->data)[i]); break;
        case DT_BF16: v = bf16_to_f32(((const uint16_t *)e->data)[i]); break;
        default: return 0;
        }
        bad += !isfinite(v);
    }
    return bad;
}

int tmap_check_finite(const TensorMap *m, Err *err) {
    for (int i = 0; i < m->count; i++) {
        int64_t bad = tmap_entry_nonfinite(&m->items[i]);
        if (bad)
            return err_set(err, "%s: tensor %s holds %lld NaN or infinite value%s (`dfer info` lists every such "
                                "tensor)", m->source, m->items[i].name, (long long)bad, bad > 1 ? "s" : "");
    }
    return 0;
}
