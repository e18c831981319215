#include "io/safetensors.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/digest.h"

#define HEADER_LIMIT 100000000ull

typedef struct Span {
    uint64_t begin, end;
    int index;
} Span;

static int by_begin(const void *a, const void *b) {
    const Span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

/* The digest key and its value as the writer prints them (cJSON, unformatted), the value's 32 digits zeros. */
#define DIGEST_FIELD "\"" SAFETENSORS_DIGEST_KEY "\":\""
#define DIGEST_ZEROS "00000000000000000000000000000000"

static _Thread_local int t_skip_digests; /* safetensors_check_digests(0) */

int safetensors_check_digests(int on) {
    int was = !t_skip_digests;
    t_skip_digests = !on;
    return was;
}

/* A metadata key of m one bit from `key` (the same length, one bit flipped), or NULL: the digest's key, damaged. A
 * flip there would otherwise turn the file's check off (a file without the key is another writer's, read as it
 * is); a flip anywhere else in the header breaks its JSON or changes what the digest covers. */
static const char *key_one_bit_from(const TensorMap *m, const char *key) {
    size_t n = strlen(key);
    for (char **kv = m->metadata; kv && kv[0] && kv[1]; kv += 2) {
        if (strlen(kv[0]) != n) continue;
        int bits = 0;
        for (size_t i = 0; i < n; i++) bits += __builtin_popcount((unsigned char)kv[0][i] ^ (unsigned char)key[i]);
        if (bits == 1) return kv[0];
    }
    return NULL;
}

/* SAFETENSORS_DIGEST_KEY's digest of a file is that of its header (n bytes, padding included) with the 32 digits of
 * the one digest field as zeros, then of its data section: d begun with the header's part, the data to add. -1 (d
 * not begun) when the header has not exactly one such field, as dfer writes it (another writer rewrote it). */
static int digest_begin_header(const uint8_t *header, size_t n, PayloadDigest *d) {
    const size_t field = strlen(DIGEST_FIELD);
    const uint8_t *at = memmem(header, n, DIGEST_FIELD, field);
    if (!at || (size_t)(at - header) + field + 33 > n || at[field + 32] != '"' ||
        memmem(at + 1, n - (size_t)(at + 1 - header), DIGEST_FIELD, field))
        return -1;
    size_t digits = (size_t)(at - header) + field;
    payload_digest_begin(d);
    payload_digest_add(d, header, digits);
    payload_digest_add(d, DIGEST_ZEROS, 32);
    payload_digest_add(d, header + digits + 32, n - digits - 32);
    return 0;
}

/* The digest written into the file against the one its bytes give now ("none: ..." when the header is not as dfer
 * writes it). */
static int check_digest(const char *label, const char *written, const char *now, Err *err) {
    if (!strcmp(now, written)) return 0;
    return err_set(err,
                   "%s: damaged: its bytes are not those it was written with (%s %s, now %s): changed on disk or in a "
                   "copy since dfer wrote it",
                   label, SAFETENSORS_DIGEST_KEY, written, now);
}

#define DIGEST_NOT_AS_WRITTEN "none: its header is not as dfer writes it"

/* The header's length n from a file's first 8 bytes (buf; size: the file's), checked against the file. */
static int header_length(const uint8_t *buf, uint64_t size, const char *label, uint64_t *n_out, Err *err) {
    if (size < 8)
        return err_set(err, "%s: truncated safetensors file (%llu bytes, no header length)", label,
                       (unsigned long long)size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    if (n > HEADER_LIMIT)
        return err_set(err, "%s: header length %llu exceeds the 100 MB limit", label, (unsigned long long)n);
    if (n > size - 8)
        return err_set(err, "%s: header length %llu runs past the end of the file (%llu bytes)", label,
                       (unsigned long long)n, (unsigned long long)size);
    *n_out = n;
    return 0;
}

static int parse_header(const uint8_t *buf, uint64_t n, uint64_t size, const uint8_t *data, const char *label,
                        TensorMap *out, Err *err);

int safetensors_parse(const uint8_t *buf, size_t size, TensorMap *out, Err *err) {
    return safetensors_parse_named(buf, size, "(memory)", out, err);
}

int safetensors_parse_named(const uint8_t *buf, size_t size, const char *label, TensorMap *out, Err *err) {
    tmap_init(out, label);
    uint64_t n = 0;
    if (header_length(buf, size, label, &n, err) != 0) return -1;
    if (parse_header(buf, n, size, buf + 8 + n, label, out, err) != 0) return -1;
    /* a file dfer wrote says what its bytes were: bytes changed since (flipped, zero-filled pages of a crash, a copy
     * that went wrong, a header rewritten) are refused here, not trained on or evaluated without a word */
    const char *written = t_skip_digests ? NULL : tmap_metadata(out, SAFETENSORS_DIGEST_KEY);
    if (!written) return 0; /* another writer's file, or the caller reads the header only */
    char now[64] = DIGEST_NOT_AS_WRITTEN;
    PayloadDigest d;
    if (digest_begin_header(buf + 8, (size_t)n, &d) == 0) {
        payload_digest_add(&d, buf + 8 + n, (size_t)(size - 8 - n));
        payload_digest_end(&d, now);
    }
    if (check_digest(label, written, now, err) == 0) return 0;
    tmap_free(out);
    return -1;
}

/* The header of a file of `size` bytes whose first 8 + n (header_length) are in buf: its tensors (data: the data
 * section in memory, or NULL for tensors without data), checked as a whole: each tensor's entry, the section
 * covered exactly, no key one bit from the digest's. The digest itself is the caller's to check. out: initialised;
 * freed on failure. */
static int parse_header(const uint8_t *buf, uint64_t n, uint64_t size, const uint8_t *data, const char *label,
                        TensorMap *out, Err *err) {
    if (n < 2 || buf[8] != '{') {
        tmap_free(out);
        return err_set(err, "%s: header is not a JSON object", label);
    }
    uint64_t data_len = size - 8 - n;
    const char *json_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf + 8, (size_t)n, &json_end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        tmap_free(out);
        return err_set(err, "%s: header is not valid JSON", label);
    }
    /* after the object only the writers' space padding may follow */
    for (const char *p = json_end; p < (const char *)buf + 8 + n; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            cJSON_Delete(root);
            tmap_free(out);
            return err_set(err, "%s: header has bytes after its JSON object (at header offset %zu)", label,
                           (size_t)(p - (const char *)buf - 8));
        }
    int count = cJSON_GetArraySize(root);
    Span *spans = xcalloc((size_t)(count ? count : 1), sizeof *spans);
    int n_spans = 0, rc = 0, metadata_seen = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        const char *name = item->string;
        if (!name) continue;
        /* duplicate keys: cJSON keeps both; tmap_add refuses a tensor name given twice through the map's hash (a scan
         * of the earlier keys for each was quadratic: hours for a hostile header of a million entries) */
        if (!strcmp(name, "__metadata__")) {
            if (metadata_seen++) {
                rc = err_set(err, "%s: key __metadata__ appears twice in the header", label);
                goto done;
            }
            if (!cJSON_IsObject(item)) {
                rc = err_set(err, "%s: __metadata__ is not an object", label);
                goto done;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item) {
                if (!cJSON_IsString(kv)) {
                    rc = err_set(err, "%s: __metadata__ value of %s is not a string", label, kv->string);
                    goto done;
                }
                tmap_set_metadata(out, kv->string, kv->valuestring);
            }
            continue;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        DType dtype;
        if (!cJSON_IsObject(item) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            rc = err_set(err, "%s: tensor %s: entry needs dtype, shape and data_offsets", label, name);
            goto done;
        }
        if (dtype_from_name(dt->valuestring, &dtype) != 0) {
            if (!strcmp(dt->valuestring, "U16") || !strcmp(dt->valuestring, "U32") || !strcmp(dt->valuestring, "U64") ||
                !strcmp(dt->valuestring, "F8_E5M2") || !strcmp(dt->valuestring, "F8_E4M3"))
                rc = err_set(err, "%s: tensor %s has dtype %s, which dfer does not read", label, name, dt->valuestring);
            else
                rc = err_set(err, "%s: tensor %s has unknown dtype '%s'", label, name, dt->valuestring);
            goto done;
        }
        int ndim = cJSON_GetArraySize(shape);
        if (ndim > TENSOR_MAX_DIMS) {
            rc = err_set(err, "%s: tensor %s has %d dimensions", label, name, ndim);
            goto done;
        }
        int64_t dims[TENSOR_MAX_DIMS];
        uint64_t numel = 1;
        for (int i = 0; i < ndim; i++) {
            uint64_t d;
            if (json_u64(cJSON_GetArrayItem(shape, i), &d) != 0) {
                rc = err_set(err, "%s: tensor %s has a shape entry that is not a non-negative integer", label, name);
                goto done;
            }
            if (d && numel > UINT64_MAX / d) {
                rc = err_set(err, "%s: tensor %s is impossibly large", label, name);
                goto done;
            }
            numel *= d;
            dims[i] = (int64_t)d;
        }
        uint64_t begin, end;
        if (json_u64(cJSON_GetArrayItem(offs, 0), &begin) != 0 || json_u64(cJSON_GetArrayItem(offs, 1), &end) != 0 ||
            end < begin) {
            rc = err_set(err, "%s: tensor %s has invalid data_offsets", label, name);
            goto done;
        }
        uint64_t esize = dtype_size(dtype);
        if (numel > UINT64_MAX / esize || end - begin != numel * esize) {
            rc = err_set(err, "%s: tensor %s: data_offsets span %llu bytes but shape and dtype %s need %llu", label,
                         name, (unsigned long long)(end - begin), dt->valuestring,
                         (unsigned long long)(numel * esize));
            goto done;
        }
        if (end > data_len) {
            rc = err_set(err, "%s: tensor %s ends at byte %llu, past the %llu bytes of data", label, name,
                         (unsigned long long)end, (unsigned long long)data_len);
            goto done;
        }
        if (tmap_add(out, name, dtype, ndim, dims, data ? data + begin : NULL, 0, err) != 0) {
            rc = -1;
            goto done;
        }
        spans[n_spans++] = (Span){begin, end, out->count - 1};
    }
    /* Contiguity: sorted by offset, each tensor starts where the previous ended. */
    qsort(spans, (size_t)n_spans, sizeof *spans, by_begin);
    uint64_t at = 0;
    for (int i = 0; i < n_spans; i++) {
        const char *name = out->items[spans[i].index].name;
        if (spans[i].begin < at) {
            rc = err_set(err, "%s: tensor %s overlaps the tensor before it (offset %llu < %llu)", label, name,
                         (unsigned long long)spans[i].begin, (unsigned long long)at);
            goto done;
        }
        if (spans[i].begin > at) {
            rc = err_set(err, "%s: gap of %llu bytes before tensor %s", label,
                         (unsigned long long)(spans[i].begin - at), name);
            goto done;
        }
        at = spans[i].end;
    }
    if (at != data_len) {
        rc = err_set(err, "%s: the data section has %llu bytes but the tensors cover %llu", label,
                     (unsigned long long)data_len, (unsigned long long)at);
        goto done;
    }
    /* a flip in the digest's key would make the file another writer's, read unchecked */
    const char *near_key = t_skip_digests || tmap_metadata(out, SAFETENSORS_DIGEST_KEY)
                               ? NULL
                               : key_one_bit_from(out, SAFETENSORS_DIGEST_KEY);
    if (near_key)
        rc = err_set(err,
                     "%s: damaged: its metadata has the key %s, one bit from dfer's digest key %s: its header changed "
                     "on disk or in a copy since dfer wrote it",
                     label, near_key, SAFETENSORS_DIGEST_KEY);
done:
    free(spans);
    cJSON_Delete(root);
    if (rc != 0) tmap_free(out);
    return rc;
}

const char *safetensors_metadata(const TensorMap *m, const char *key) { return tmap_metadata(m, key); }

int safetensors_read_or_damaged(const char *path, TensorMap *out, int *damaged, Err *err) {
    *damaged = 0;
    MappedFile *mf = xcalloc(1, sizeof *mf);
    if (fs_map(path, mf, err) != 0) {
        free(mf);
        return -1;
    }
    if (safetensors_parse_named(mf->data, mf->size, path, out, err) != 0) {
        *damaged = 1;
        fs_unmap(mf);
        free(mf);
        return -1;
    }
    out->mapping = mf;
    return 0;
}

/* The data section goes through in pieces of this size: what a verify holds beside the header. */
#define VERIFY_CHUNK ((size_t)8 << 20)

int safetensors_verify(const char *path, int *damaged, Err *err) {
    *damaged = 0;
    DiskReader r;
    if (fs_disk_open(&r, path, err) != 0) return -1;
    uint8_t *buf = NULL, *chunk = NULL;
    uint64_t n = 0;
    int unreadable = 0, digesting = 0, rc = -1;
    PayloadDigest d;
    TensorMap m;
    tmap_init(&m, path);
    uint8_t length[8];
    if (fs_disk_read(&r, length, r.size < 8 ? r.size : 8, &unreadable, err) != 0) goto out;
    if (header_length(length, r.size, path, &n, err) != 0) {
        unreadable = 1; /* not whole: damaged */
        goto out;
    }
    size_t data_len = r.size - 8 - (size_t)n, piece_cap = data_len < VERIFY_CHUNK ? data_len : VERIFY_CHUNK;
    buf = malloc(8 + n);
    chunk = malloc(piece_cap ? piece_cap : 1);
    if (!buf || !chunk) {
        err_set(err, "%s: no memory to read it back (its %llu-byte header and a piece of %zu bytes)", path,
                (unsigned long long)n, piece_cap);
        goto out;
    }
    memcpy(buf, length, 8);
    if (fs_disk_read(&r, buf + 8, (size_t)n, &unreadable, err) != 0) goto out;
    if (parse_header(buf, n, r.size, NULL, path, &m, err) != 0) {
        unreadable = 1;
        goto out;
    }
    /* every byte is read, to know the disk can deliver it, and digested where the file says what it was */
    const char *written = tmap_metadata(&m, SAFETENSORS_DIGEST_KEY);
    digesting = written && digest_begin_header(buf + 8, (size_t)n, &d) == 0;
    while (r.at < r.size) {
        size_t piece = r.size - r.at < piece_cap ? r.size - r.at : piece_cap;
        if (fs_disk_read(&r, chunk, piece, &unreadable, err) != 0) goto out;
        if (digesting) payload_digest_add(&d, chunk, piece);
    }
    char now[64] = DIGEST_NOT_AS_WRITTEN;
    if (digesting) payload_digest_end(&d, now), digesting = 0;
    rc = written ? check_digest(path, written, now, err) : 0;
    unreadable = rc != 0;
out:
    if (digesting) payload_digest_end(&d, (char[64]){0}); /* frees what begin took */
    *damaged = rc != 0 && unreadable;
    tmap_free(&m);
    free(buf);
    free(chunk);
    fs_disk_close(&r);
    return rc;
}

int safetensors_read(const char *path, TensorMap *out, Err *err) {
    int damaged;
    return safetensors_read_or_damaged(path, out, &damaged, err);
}

int safetensors_read_index(const char *index_path, TensorMap *out, Err *err) {
    char *text;
    size_t len;
    if (fs_read_all(index_path, &text, &len, err) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return err_set(err, "%s: no weight_map object", index_path);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", index_path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else dir[0] = 0;
    tmap_init(out, index_path);
    /* Shards are read once each, in order of first mention; the combined map
     * references their mappings, which stay alive as a chain of adopted maps
     * (each new shard adopts the previous ones; out adopts the last). A tensor
     * in two shards is an error (the first read would win, whatever weight_map
     * says), and every weight_map entry must come from the shard it names. */
    TensorMap kept;
    int have_kept = 0, rc = 0, n_shards = 0;
    /* file names in order of first mention: the index's own strings (root outlives them), whatever their length; a
     * copy cut to a fixed size no longer matched its own name, and the shard was read again as another */
    const char **shards = NULL;
    int *origin = NULL;         /* [out->count]: the shard each tensor of out came from */
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e)) {
            rc = err_set(err, "%s: weight_map entry %s is not a file name", index_path, e->string);
            break;
        }
        int known = 0;
        for (int s = 0; s < n_shards && !known; s++) known = !strcmp(shards[s], e->valuestring);
        if (known) continue; /* its shard is already in */
        shards = xrealloc(shards, (size_t)(n_shards + 1) * sizeof *shards);
        shards[n_shards] = e->valuestring;
        size_t shard_len = strlen(dir) + strlen(e->valuestring) + 1;
        char *shard = xmalloc(shard_len);
        snprintf(shard, shard_len, "%s%s", dir, e->valuestring);
        TensorMap part;
        int read_rc = safetensors_read(shard, &part, err);
        free(shard);
        if (read_rc != 0) {
            rc = err_prefix(err, "%s: ", index_path);
            break;
        }
        origin = xrealloc(origin, (size_t)(out->count + part.count + 1) * sizeof *origin);
        for (int i = 0; i < part.count && rc == 0; i++) {
            const TensorEntry *t = &part.items[i];
            const TensorEntry *seen = tmap_find(out, t->name);
            if (seen)
                rc = err_set(err, "%s: tensor %s is in two shards, %s and %s", index_path, t->name,
                             shards[origin[seen - out->items]], e->valuestring);
            else if ((rc = tmap_add(out, t->name, t->dtype, t->ndim, t->shape, t->data, 0, err)) == 0)
                origin[out->count - 1] = n_shards;
        }
        n_shards++;
        if (have_kept) tmap_adopt(&part, &kept);
        kept = part;
        have_kept = 1;
        if (rc) break;
    }
    cJSON_ArrayForEach(e, wm) { /* every entry from the shard it names */
        if (rc) break;
        const TensorEntry *t = tmap_find(out, e->string);
        if (!t)
            rc = err_set(err, "%s: tensor %s is listed in shard %s but not found there", index_path, e->string,
                         e->valuestring);
        else if (strcmp(shards[origin[t - out->items]], e->valuestring))
            rc = err_set(err, "%s: tensor %s is listed in shard %s but is in %s", index_path, e->string, e->valuestring,
                         shards[origin[t - out->items]]);
    }
    free(shards);
    free(origin);
    cJSON_Delete(root);
    if (have_kept) tmap_adopt(out, &kept);
    if (rc == 0 && out->count == 0) rc = err_set(err, "%s: weight_map lists no tensors", index_path);
    if (rc) tmap_free(out);
    return rc;
}

static int by_alignment_then_name(const void *a, const void *b) {
    const TensorEntry *x = *(const TensorEntry *const *)a, *y = *(const TensorEntry *const *)b;
    size_t sx = dtype_size(x->dtype), sy = dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A tensor without data in the map goes from its source into the file through a buffer of at most this size. */
#define WRITE_PIECE ((size_t)16 << 20)

int safetensors_write(const char *path, const TensorMap *m, const char *const *metadata, Err *err) {
    return safetensors_write_from(path, m, metadata, NULL, NULL, err);
}

int safetensors_write_from(const char *path, const TensorMap *m, const char *const *metadata, SafetensorsFill fill,
                           void *ctx, Err *err) {
    size_t largest_filled = 0;
    for (int i = 0; i < m->count; i++) {
        if (m->items[i].nbytes && !m->items[i].data && !fill)
            return err_set(err, "%s: tensor %s has a shape but no values (a shapes-only map)", path, m->items[i].name);
        if (!m->items[i].data && m->items[i].nbytes > largest_filled) largest_filled = m->items[i].nbytes;
        if (!strcmp(m->items[i].name, "__metadata__"))
            return err_set(err, "%s: a tensor cannot be named __metadata__", path);
    }
    const TensorEntry **order = xmalloc((size_t)(m->count ? m->count : 1) * sizeof *order);
    for (int i = 0; i < m->count; i++) order[i] = &m->items[i];
    qsort(order, (size_t)m->count, sizeof *order, by_alignment_then_name);
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    for (int i = 0; metadata && metadata[i] && metadata[i + 1]; i += 2)
        if (strcmp(metadata[i], SAFETENSORS_DIGEST_KEY)) cJSON_AddStringToObject(meta, metadata[i], metadata[i + 1]);
    cJSON_AddStringToObject(meta, SAFETENSORS_DIGEST_KEY, DIGEST_ZEROS); /* its digits once the rest is known */
    uint64_t at = 0;
    for (int i = 0; i < m->count; i++) {
        const TensorEntry *e = order[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", dtype_name(e->dtype));
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int k = 0; k < e->ndim; k++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[k]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)at));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(at + e->nbytes)));
        at += e->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    /* the header padded to 8 bytes with spaces; its digest's digits written as zeros, then, once the tensors have
     * gone through the digest in the file's order, the digest over them in place (the file's digest is of the header
     * with those zeros: digest_begin_header) */
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    char *header = xmalloc(padded + 1);
    memcpy(header, json, jl);
    memset(header + jl, ' ', padded - jl);
    free(json);
    const char *digits = memmem(header, padded, DIGEST_FIELD, strlen(DIGEST_FIELD));
    CHECK(digits, "safetensors_write: the digest field is not in the header written");
    uint64_t digits_at = 8 + (uint64_t)(digits - header) + strlen(DIGEST_FIELD);
    uint8_t head[8];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    PayloadDigest d;
    payload_digest_begin(&d);
    payload_digest_add(&d, header, padded);
    uint8_t *piece = largest_filled ? xmalloc(largest_filled < WRITE_PIECE ? largest_filled : WRITE_PIECE) : NULL;
    AtomicFile f;
    int rc = atomic_open(&f, path, err);
    if (rc == 0) rc = atomic_write(&f, head, 8, err);
    if (rc == 0) rc = atomic_write(&f, header, padded, err);
    for (int i = 0; rc == 0 && i < m->count; i++) {
        const TensorEntry *e = order[i];
        if (e->data) {
            payload_digest_add(&d, e->data, e->nbytes);
            rc = atomic_write(&f, e->data, e->nbytes, err);
            continue;
        }
        for (size_t off = 0; rc == 0 && off < e->nbytes; off += WRITE_PIECE) {
            size_t n = e->nbytes - off < WRITE_PIECE ? e->nbytes - off : WRITE_PIECE;
            if (fill(ctx, (int)(e - m->items), off, piece, n, err) != 0) {
                atomic_abort(&f);
                rc = err_prefix(err, "%s: tensor %s: ", path, e->name);
                break;
            }
            payload_digest_add(&d, piece, n);
            rc = atomic_write(&f, piece, n, err);
        }
    }
    char digest[33];
    payload_digest_end(&d, digest);
    if (rc == 0) rc = atomic_write_at(&f, digits_at, digest, 32, err);
    if (rc == 0) rc = atomic_commit(&f, err);
    free(piece);
    free(header);
    free(order);
    return rc;
}
