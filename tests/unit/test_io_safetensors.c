/* safetensors: byte-exact write/read round trips (F32, F16, BF16, rank-0,
 * zero-size, metadata), 8-byte alignment of the data and of every tensor,
 * sharded model.safetensors.index.json (one whose 9th byte is '{', a shard of a
 * 600-character name), atomic writes, and every malformed
 * file the format forbids (clip.md §4.2): each must be rejected with a
 * message naming the file and, where there is one, the tensor. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "io/checkpoint.h"
#include "io/digest.h"
#include "io/safetensors.h"
#include "testlib.h"

static char *path_in_tmp(const char *name) {
    static char p[8][600];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof p[i], "%s/%s", test_tmpdir(), name);
    return p[i];
}

/* A small map with every case the writer must handle. Values live in statics. */
static void sample_map(TensorMap *m) {
    static float f32[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    static uint16_t f16[3], bf16[2];
    static float scalar = 4.6052f;
    static int64_t i64[2] = {-5, 1ll << 40};
    f16[0] = f32_to_f16(1.5f), f16[1] = f32_to_f16(-0.25f), f16[2] = f32_to_f16(65504.f);
    bf16[0] = f32_to_bf16(3.14159f), bf16[1] = f32_to_bf16(-1e30f);
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2}, s0[2] = {4, 0}, s12[2] = {1, 2};
    Err err;
    tmap_init(m, "sample");
    EXPECT(tmap_add(m, "b.weight", DT_F32, 2, s23, f32, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(m, "a.half", DT_F16, 1, s3, f16, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(m, "c.bf16", DT_BF16, 1, s2, bf16, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(m, "logit_scale", DT_F32, 0, NULL, &scalar, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(m, "empty", DT_F32, 2, s0, NULL, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(m, "ids", DT_I64, 2, s12, i64, 0, &err) == 0, "%s", err.msg);
}

static void expect_same_maps(const TensorMap *a, const TensorMap *b, const char *what) {
    EXPECT(a->count == b->count, "%s: %d vs %d tensors", what, a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        const TensorEntry *x = &a->items[i], *y = tmap_find(b, x->name);
        EXPECT(y != NULL, "%s: tensor %s lost", what, x->name);
        if (!y) continue;
        int same_shape = x->ndim == y->ndim;
        for (int k = 0; same_shape && k < x->ndim; k++) same_shape = x->shape[k] == y->shape[k];
        EXPECT(x->dtype == y->dtype && same_shape && x->nbytes == y->nbytes &&
                   (!x->nbytes || !memcmp(x->data, y->data, x->nbytes)),
               "%s: tensor %s differs (dtype %s/%s, ndim %d/%d, %zu/%zu bytes)", what, x->name, dtype_name(x->dtype),
               dtype_name(y->dtype), x->ndim, y->ndim, x->nbytes, y->nbytes);
    }
}

static void test_roundtrip(void) {
    TensorMap m, r;
    Err err;
    sample_map(&m);
    const char *meta[] = {"format", "pt", "note", "round trip", NULL};
    char *p = path_in_tmp("rt.safetensors");
    EXPECT(safetensors_write(p, &m, meta, &err) == 0, "write: %s", err.msg);
    EXPECT(safetensors_read(p, &r, &err) == 0, "read: %s", err.msg);
    expect_same_maps(&m, &r, "round trip");
    const TensorEntry *s = tmap_find(&r, "logit_scale"), *z = tmap_find(&r, "empty");
    EXPECT(s && s->ndim == 0 && s->nbytes == 4, "rank-0 tensor keeps rank 0 and 1 element");
    EXPECT(z && z->ndim == 2 && z->shape[0] == 4 && z->shape[1] == 0 && z->nbytes == 0, "zero-size tensor [4, 0]");
    EXPECT(safetensors_metadata(&r, "note") && !strcmp(safetensors_metadata(&r, "note"), "round trip"), "metadata");
    EXPECT(tmap_metadata(&r, "format") && !strcmp(tmap_metadata(&r, "format"), "pt"), "metadata format");
    EXPECT(!tmap_metadata(&r, "absent"), "absent metadata key");

    /* F16 / BF16 read back as F32; a wrong requested shape names file, tensor and both shapes */
    float back[6];
    int64_t s3[1] = {3}, s2[1] = {2};
    EXPECT(tmap_read_f32(&r, "a.half", 1, s3, back, &err) == 0 && back[0] == 1.5f && back[1] == -0.25f &&
               back[2] == 65504.f, "F16 read as F32");
    EXPECT(tmap_read_f32(&r, "c.bf16", 1, s2, back, &err) == 0 && back[0] == bf16_to_f32(f32_to_bf16(3.14159f)),
           "BF16 read as F32");
    EXPECT(tmap_read_f32(&r, "b.weight", 1, s3, back, &err) != 0 && strstr(err.msg, "b.weight") &&
               strstr(err.msg, "[2, 3]") && strstr(err.msg, "[3]") && strstr(err.msg, "rt.safetensors"),
           "wrong shape names file and tensor: %s", err.msg);
    EXPECT(tmap_read_f32(&r, "nope", 1, s3, back, &err) != 0 && strstr(err.msg, "nope") && strstr(err.msg, "missing"),
           "missing tensor: %s", err.msg);

    /* A second write of what was read gives the identical file. */
    char *p2 = path_in_tmp("rt2.safetensors");
    EXPECT(safetensors_write(p2, &r, meta, &err) == 0, "rewrite: %s", err.msg);
    char *a, *b;
    size_t la, lb;
    EXPECT(fs_read_all(p, &a, &la, &err) == 0 && fs_read_all(p2, &b, &lb, &err) == 0, "read files back");
    EXPECT(la == lb && !memcmp(a, b, la), "rewriting is byte-identical (%zu vs %zu bytes)", la, lb);
    free(a), free(b);
    tmap_free(&r);
    tmap_free(&m);
}

/* Every file written carries the digest of its header and data section; a byte of a tensor, or of the header's
 * metadata (a valid JSON still: a checkpoint's position), changed afterwards makes the file unreadable as damaged
 * (naming it; a header rewritten in another layout: train_checkpoint_damaged); a file without the key (another
 * writer's) is read unchecked, and a caller's own digest key is replaced. */
static void test_payload_digest(void) {
    TensorMap m, r;
    Err err;
    sample_map(&m);
    char *p = path_in_tmp("digest.safetensors");
    const char *meta[] = {SAFETENSORS_DIGEST_KEY, "0123", "note", "x", NULL};
    EXPECT(safetensors_write(p, &m, meta, &err) == 0, "write: %s", err.msg);
    EXPECT(safetensors_read(p, &r, &err) == 0, "read: %s", err.msg);
    const char *written = tmap_metadata(&r, SAFETENSORS_DIGEST_KEY);
    EXPECT(written && strlen(written) == 32 && strcmp(written, "0123"), "the digest written, not the caller's: %s",
           written ? written : "(none)");
    tmap_free(&r);
    char *bytes;
    size_t len;
    EXPECT(fs_read_all(p, &bytes, &len, &err) == 0, "read the file: %s", err.msg);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (uint8_t)bytes[i];
    for (size_t at = 8 + n; at < len; at += 7) { /* every 7th byte of the data section, one bit at a time */
        bytes[at] ^= 0x01;
        EXPECT(safetensors_parse_named((const uint8_t *)bytes, len, p, &r, &err) != 0 && strstr(err.msg, "damaged") &&
                   strstr(err.msg, "digest.safetensors"),
               "a bit flipped at byte %zu of %zu not found: %s", at, len, err.msg);
        bytes[at] ^= 0x01;
    }
    char *note = strstr(bytes + 8, "\"note\":\"x\"");
    EXPECT(note, "the note in the header");
    note[8] = 'y'; /* the metadata's text, still valid JSON */
    EXPECT(safetensors_parse_named((const uint8_t *)bytes, len, p, &r, &err) != 0 && strstr(err.msg, "damaged"),
           "a metadata edit not found: %s", err.msg);
    note[8] = 'x';
    char *field = strstr(bytes + 8, "\"" SAFETENSORS_DIGEST_KEY "\":\"");
    EXPECT(field, "the digest field in the header");
    EXPECT(safetensors_parse_named((const uint8_t *)bytes, len, p, &r, &err) == 0, "restored: %s", err.msg);
    tmap_free(&r);
    char *key = strstr(bytes + 8, SAFETENSORS_DIGEST_KEY);
    EXPECT(key, "the key in the header");
    /* a bit flipped in the key's name would make it another key, and the file another writer's, read unchecked:
     * one bit from the digest's key is its key damaged (or the flip breaks the header's JSON) */
    int refused = 0, named = 0, flips = 0;
    for (size_t at = 0; at < strlen(SAFETENSORS_DIGEST_KEY); at++)
        for (int bit = 0; bit < 8; bit++, flips++) {
            key[at] ^= (char)(1 << bit);
            int rc = safetensors_parse_named((const uint8_t *)bytes, len, p, &r, &err);
            if (rc == 0) tmap_free(&r);
            refused += rc != 0;
            named += rc != 0 && strstr(err.msg, "damaged: its metadata has the key") != NULL;
            key[at] ^= (char)(1 << bit);
        }
    EXPECT(refused == flips && named > flips / 2, "of %d one-bit flips in the digest's key %d refused, %d as its key "
           "damaged", flips, refused, named);
    key[strlen(SAFETENSORS_DIGEST_KEY) - 1] ^= 0x01; /* ...murmur3 -> ...murmur2 */
    EXPECT(safetensors_parse_named((const uint8_t *)bytes, len, p, &r, &err) != 0 &&
               strstr(err.msg, "dfer_payload_murmur2, one bit from dfer's digest key") &&
               strstr(err.msg, "digest.safetensors"),
           "the damaged key not named: %s", err.msg);
    key[strlen(SAFETENSORS_DIGEST_KEY) - 1] ^= 0x01;
    /* read back from the disk (safetensors_verify): the whole file passes, one with a byte flipped on disk is
     * damaged, a missing one cannot be judged (damaged 0) */
    int damaged = -1;
    EXPECT(safetensors_verify(p, &damaged, &err) == 0 && damaged == 0, "verify the whole file: %s", err.msg);
    char *flipped = path_in_tmp("digest-flipped.safetensors");
    bytes[len - 3] ^= 0x04;
    EXPECT(fs_write_atomic(flipped, bytes, len, &err) == 0, "%s", err.msg);
    bytes[len - 3] ^= 0x04;
    EXPECT(safetensors_verify(flipped, &damaged, &err) != 0 && damaged == 1 && strstr(err.msg, "damaged"),
           "verify a flipped byte: damaged %d (%s)", damaged, err.msg);
    EXPECT(safetensors_verify(path_in_tmp("absent.safetensors"), &damaged, &err) != 0 && damaged == 0,
           "verify a missing file: damaged %d (%s)", damaged, err.msg);
    key[0] = 'X'; /* now another key (4 bits from it): the file is another writer's, read without a check */
    bytes[8 + n] ^= 0x01;
    EXPECT(safetensors_parse_named((const uint8_t *)bytes, len, p, &r, &err) == 0, "without the key: %s", err.msg);
    tmap_free(&r);
    free(bytes);
    tmap_free(&m);
}

/* The header is padded to 8 bytes and tensors are ordered by descending
 * alignment, so every tensor of an mmapped file is aligned to its dtype. */
static void test_alignment(void) {
    TensorMap m, r;
    Err err;
    sample_map(&m);
    char *p = path_in_tmp("align.safetensors");
    EXPECT(safetensors_write(p, &m, NULL, &err) == 0, "write: %s", err.msg);
    char *raw;
    size_t len;
    EXPECT(fs_read_all(p, &raw, &len, &err) == 0, "%s", err.msg);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (uint8_t)raw[i];
    EXPECT(n % 8 == 0, "header length %llu is a multiple of 8", (unsigned long long)n);
    EXPECT(raw[8] == '{' && raw[8 + n - 1] != 0, "header is a JSON object padded with spaces");
    /* parse from an 8-aligned copy so that pointer alignment equals file-offset alignment */
    uint8_t *aligned = xmalloc_aligned(len);
    memcpy(aligned, raw, len);
    EXPECT(safetensors_parse(aligned, len, &r, &err) == 0, "%s", err.msg);
    for (int i = 0; i < r.count; i++) {
        const TensorEntry *e = &r.items[i];
        if (!e->nbytes) continue;
        size_t off = (size_t)(e->data - aligned);
        EXPECT(off % dtype_size(e->dtype) == 0, "tensor %s at file offset %zu aligned to %zu", e->name, off,
               dtype_size(e->dtype));
    }
    /* the largest element size comes first in the data section */
    const TensorEntry *first = NULL;
    for (int i = 0; i < r.count; i++)
        if (r.items[i].nbytes && (!first || r.items[i].data < first->data)) first = &r.items[i];
    EXPECT(first && dtype_size(first->dtype) == 8 && first->data == aligned + 8 + n,
           "the first tensor in the data section is an 8-byte type");
    tmap_free(&r);
    xfree_aligned(aligned);
    free(raw);
    tmap_free(&m);
}

/* Writes a safetensors image with a hand-made header and data size. */
static char *craft(const char *name, const char *header, size_t data_bytes, int64_t header_len_override) {
    char *p = path_in_tmp(name);
    FILE *f = fopen(p, "wb");
    uint64_t n = header_len_override >= 0 ? (uint64_t)header_len_override : strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(n >> (8 * i));
    fwrite(le, 8, 1, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    return p;
}

/* The file must be rejected, by safetensors_read and by ckpt_load, with a
 * message naming the file and containing every needle. */
static void expect_error(const char *path, const char *needle, const char *needle2) {
    TensorMap m;
    Err err;
    int rc = safetensors_read(path, &m, &err);
    EXPECT(rc != 0, "%s should be rejected", path);
    if (rc == 0) {
        tmap_free(&m);
        return;
    }
    EXPECT(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
    EXPECT(strstr(err.msg, needle) != NULL, "message mentions '%s': %s", needle, err.msg);
    if (needle2) EXPECT(strstr(err.msg, needle2) != NULL, "message mentions '%s': %s", needle2, err.msg);
    rc = ckpt_load(path, &m, &err);
    EXPECT(rc != 0 && strstr(err.msg, path), "ckpt_load rejects %s too: %s", path, err.msg);
    if (rc == 0) tmap_free(&m);
}

static void test_bad_files(void) {
    const char *ok = "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    Err err;
    /* the valid base case really is valid */
    {
        TensorMap m;
        int rc = safetensors_read(craft("valid.safetensors", ok, 8, -1), &m, &err);
        EXPECT(rc == 0 && m.count == 1, "valid file: %s", err.msg);
        if (rc == 0) tmap_free(&m);
    }
    /* truncated: data cut short, and a file shorter than the length field */
    char *full = craft("full.safetensors", ok, 8, -1);
    char *raw;
    size_t len;
    EXPECT(fs_read_all(full, &raw, &len, &err) == 0, "%s", err.msg);
    char *q = path_in_tmp("truncated.safetensors");
    EXPECT(fs_write_atomic(q, raw, len - 3, &err) == 0, "%s", err.msg);
    expect_error(q, "w.one", "past the");
    char *q2 = path_in_tmp("tiny.safetensors");
    EXPECT(fs_write_atomic(q2, "\x05\x00\x00", 3, &err) == 0, "%s", err.msg);
    expect_error(q2, "truncated", NULL);
    free(raw);
    expect_error(craft("beyond.safetensors", ok, 8, 100000), "past the end", NULL);
    expect_error(craft("huge.safetensors", ok, 8, 100000001), "100 MB", NULL);
    expect_error(craft("notjson.safetensors", "{\"a\":", 0, -1), "not valid JSON", NULL);
    expect_error(craft("notobj.safetensors", "[1,2]", 0, -1), "not a JSON object", NULL);
    expect_error(craft("trailing.safetensors",
                       "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xx", 4, -1),
                 "after its JSON", NULL);
    expect_error(craft("overlap.safetensors",
                       "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"w.two\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, -1),
                 "overlaps", "w.two");
    expect_error(craft("gap.safetensors",
                       "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"w.two\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                       12, -1),
                 "gap", "w.two");
    expect_error(
        craft("dtype.safetensors", "{\"w.one\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1),
        "unknown dtype", "w.one");
    expect_error(
        craft("size.safetensors", "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1),
        "need 12", "w.one");
    expect_error(craft("negshape.safetensors", "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
                       8, -1),
                 "shape", "w.one");
    expect_error(craft("extra.safetensors", ok, 12, -1), "cover 8", NULL);
    expect_error(craft("dup.safetensors",
                       "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"w.one\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, -1),
                 "twice", "w.one");
    expect_error(craft("meta.safetensors", "{\"__metadata__\":{\"k\":3}}", 0, -1), "not a string", NULL);
    expect_error(craft("meta2.safetensors", "{\"__metadata__\":{\"k\":\"a\"},\"__metadata__\":{\"k\":\"b\"}}", 0, -1),
                 "__metadata__ appears twice", NULL);
    expect_error(craft("fields.safetensors", "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, -1), "data_offsets",
                 "w.one");
    /* an empty header with no data is a valid (empty) file */
    TensorMap m;
    EXPECT(safetensors_read(craft("empty.safetensors", "{}", 0, -1), &m, &err) == 0 && m.count == 0, "{} is valid: %s",
           err.msg);
    tmap_free(&m);
}

/* model.safetensors.index.json + two shards, loaded through ckpt_load of the directory. */
static void test_sharded(void) {
    TensorMap m, a, b, r;
    Err err;
    sample_map(&m);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/sharded", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    tmap_init(&a, "shard a");
    tmap_init(&b, "shard b");
    for (int i = 0; i < m.count; i++) {
        const TensorEntry *e = &m.items[i];
        EXPECT(tmap_add(i % 2 ? &a : &b, e->name, e->dtype, e->ndim, e->shape, e->data, 0, &err) == 0, "%s", err.msg);
    }
    char pa[800], pb[800], pi[800];
    snprintf(pa, sizeof pa, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(pb, sizeof pb, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", dir);
    EXPECT(safetensors_write(pa, &a, NULL, &err) == 0 && safetensors_write(pb, &b, NULL, &err) == 0, "%s", err.msg);
    char json[4096];
    int n = snprintf(json, sizeof json, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < m.count; i++)
        n += snprintf(json + n, sizeof json - (size_t)n, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                      i ? ", " : "", m.items[i].name, i % 2 ? 1 : 2);
    snprintf(json + n, sizeof json - (size_t)n, "}}");
    EXPECT(fs_write_atomic(pi, json, strlen(json), &err) == 0, "%s", err.msg);
    EXPECT(ckpt_load(dir, &r, &err) == 0, "sharded directory: %s", err.msg);
    expect_same_maps(&m, &r, "sharded");
    tmap_free(&r);
    /* an index whose 9th byte is '{', as a safetensors header's is ({"meta":{...): read as an index (its .json
     * name says so), not as a safetensors file */
    char sniffed[4200];
    snprintf(sniffed, sizeof sniffed, "{\"meta\":{\"total_size\": 0}, %s", strstr(json, "\"weight_map\""));
    EXPECT(sniffed[8] == '{', "the 9th byte of the index is '{'");
    EXPECT(fs_write_atomic(pi, sniffed, strlen(sniffed), &err) == 0, "%s", err.msg);
    EXPECT(ckpt_load(pi, &r, &err) == 0, "an index starting {\"meta\":{ : %s", err.msg);
    expect_same_maps(&m, &r, "an index starting {\"meta\":{");
    tmap_free(&r);
    /* a tensor listed in a shard that does not hold it */
    char misplaced[4096];
    snprintf(misplaced, sizeof misplaced, "%s", json);
    char *bad = strstr(misplaced, "\"b.weight\": \"model-00002");
    EXPECT(bad != NULL, "index text has b.weight in shard 2");
    if (bad) bad[strlen("\"b.weight\": \"model-0000")] = '1';
    EXPECT(fs_write_atomic(pi, misplaced, strlen(misplaced), &err) == 0, "%s", err.msg);
    EXPECT(ckpt_load(dir, &r, &err) != 0 && strstr(err.msg, "b.weight") && strstr(err.msg, "index.json"),
           "misplaced tensor named: %s", err.msg);
    /* a tensor in both shards (a stale copy left in shard 1): refused, whichever the index names (the first shard
     * read won without a word) */
    TensorMap a2;
    tmap_init(&a2, "shard a with a copy");
    for (int i = 0; i < a.count; i++)
        EXPECT(tmap_add(&a2, a.items[i].name, a.items[i].dtype, a.items[i].ndim, a.items[i].shape, a.items[i].data, 0,
                        &err) == 0,
               "%s", err.msg);
    const TensorEntry *dup = &b.items[0];
    EXPECT(tmap_add(&a2, dup->name, dup->dtype, dup->ndim, dup->shape, dup->data, 0, &err) == 0, "%s", err.msg);
    EXPECT(safetensors_write(pa, &a2, NULL, &err) == 0, "%s", err.msg);
    EXPECT(fs_write_atomic(pi, json, strlen(json), &err) == 0, "%s", err.msg);
    EXPECT(ckpt_load(dir, &r, &err) != 0 && strstr(err.msg, dup->name) && strstr(err.msg, "in two shards"),
           "a tensor in two shards: %s", err.msg);
    EXPECT(safetensors_write(pa, &a, NULL, &err) == 0, "%s", err.msg);
    tmap_free(&a2);
    /* a missing shard file */
    EXPECT(fs_write_atomic(pi, json, strlen(json), &err) == 0, "%s", err.msg);
    remove(pb);
    EXPECT(ckpt_load(pi, &r, &err) != 0 && strstr(err.msg, "model-00002-of-00002.safetensors"),
           "missing shard named: %s", err.msg);
    tmap_free(&a), tmap_free(&b), tmap_free(&m);
}

/* A shard named by a path of 512 characters or more (in subfolders): its name was kept cut at 511, so each of its
 * tensors after the first read it again and found its own tensors "in two shards". */
static void test_long_shard_name(void) {
    TensorMap m, r;
    Err err;
    sample_map(&m);
    char rel[1024] = "", dir[1800], shard[2400], pi[1800];
    for (int level = 0; level < 4; level++) { /* 4 folders of 150 characters: each within NAME_MAX */
        size_t n = strlen(rel);
        memset(rel + n, 'a' + level, 150);
        rel[n + 150] = '/', rel[n + 151] = 0;
    }
    snprintf(dir, sizeof dir, "%s/long/%s", test_tmpdir(), rel);
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    strcat(rel, "model-00001-of-00001.safetensors");
    EXPECT(strlen(rel) >= 600, "the shard's name is %zu characters", strlen(rel));
    snprintf(shard, sizeof shard, "%s/long/%s", test_tmpdir(), rel);
    snprintf(pi, sizeof pi, "%s/long/model.safetensors.index.json", test_tmpdir());
    EXPECT(safetensors_write(shard, &m, NULL, &err) == 0, "%s", err.msg);
    char json[8192];
    int n = snprintf(json, sizeof json, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < m.count; i++)
        n += snprintf(json + n, sizeof json - (size_t)n, "%s\"%s\": \"%s\"", i ? ", " : "", m.items[i].name, rel);
    snprintf(json + n, sizeof json - (size_t)n, "}}");
    EXPECT(fs_write_atomic(pi, json, strlen(json), &err) == 0, "%s", err.msg);
    EXPECT(ckpt_load(pi, &r, &err) == 0, "a shard of a %zu-character name: %s", strlen(rel), err.msg);
    expect_same_maps(&m, &r, "a shard of a long name");
    tmap_free(&r), tmap_free(&m);
}

/* A failed write leaves the previous file as it was and no temporary behind. */
static void test_atomic_write(void) {
    TensorMap m, shapes_only;
    Err err;
    sample_map(&m);
    char *p = path_in_tmp("atomic.safetensors");
    EXPECT(safetensors_write(p, &m, NULL, &err) == 0, "%s", err.msg);
    char *before;
    size_t lb;
    EXPECT(fs_read_all(p, &before, &lb, &err) == 0, "%s", err.msg);
    tmap_init(&shapes_only, "shapes");
    int64_t s[1] = {4};
    EXPECT(tmap_add(&shapes_only, "no.values", DT_F32, 1, s, NULL, 0, &err) == 0, "%s", err.msg);
    EXPECT(safetensors_write(p, &shapes_only, NULL, &err) != 0 && strstr(err.msg, "no.values"),
           "a tensor without values is refused: %s", err.msg);
    char *after;
    size_t la;
    EXPECT(fs_read_all(p, &after, &la, &err) == 0 && la == lb && !memcmp(before, after, la),
           "the existing file is untouched");
    free(after);
    char missing_dir[700];
    snprintf(missing_dir, sizeof missing_dir, "%s/no/such/dir/x.safetensors", test_tmpdir());
    EXPECT(safetensors_write(missing_dir, &m, NULL, &err) != 0 && strstr(err.msg, "x.safetensors"),
           "write into a missing directory fails clearly: %s", err.msg);
    free(before);
    tmap_free(&shapes_only), tmap_free(&m);
}

/* file_sha256 (the runs' provenance) on FIPS 180-2's vectors: "abc", the empty file, and a million 'a's
 * (several read chunks); a missing file is an error naming it. ckpt_resolve names the file a checkpoint
 * directory is read from. */
static void test_digest_and_resolve(void) {
    static const struct {
        const char *name;
        size_t repeat;
        const char *text, *sha;
    } cases[] = {
        {"abc", 1, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"empty", 0, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"million", 1000000, "a", "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    Err err;
    char path[700], hex[65];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].repeat * strlen(cases[i].text);
        char *data = xmalloc(n + 1);
        for (size_t k = 0; k < cases[i].repeat; k++)
            memcpy(data + k * strlen(cases[i].text), cases[i].text, strlen(cases[i].text));
        snprintf(path, sizeof path, "%s/%s.bin", test_tmpdir(), cases[i].name);
        EXPECT(fs_write_atomic(path, data, n, &err) == 0, "%s", err.msg);
        free(data);
        long long bytes = -1;
        EXPECT(file_sha256(path, hex, &bytes, &err) == 0 && !strcmp(hex, cases[i].sha) && bytes == (long long)n,
               "sha256 of %s: %s (%lld bytes)", cases[i].name, hex, bytes);
    }
    snprintf(path, sizeof path, "%s/none.bin", test_tmpdir());
    long long bytes;
    EXPECT(file_sha256(path, hex, &bytes, &err) != 0 && strstr(err.msg, "none.bin"), "a missing file: %s", err.msg);
    char dir[600], file[4096];
    snprintf(dir, sizeof dir, "%s/ckdir", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    EXPECT(fs_write_atomic(path, "x", 1, &err) == 0, "%s", err.msg);
    EXPECT(ckpt_resolve(dir, file, sizeof file, &err) == 0 && !strcmp(file, path), "a directory's checkpoint: %s",
           file);
    EXPECT(ckpt_resolve(path, file, sizeof file, &err) == 0 && !strcmp(file, path), "a file is itself");
}

/* F64 narrowed to F16/BF16 through F32 rounds once (f64_to_f32_odd): values just past a 16-bit tie went to the
 * even side when F32 rounded first. */
static void test_f64_narrowing(void) {
    double f16_case = 1.0 + ldexp(1, -11) + ldexp(1, -40), bf16_case = 1.0 + ldexp(1, -8) + ldexp(1, -40);
    EXPECT(f32_to_f16((float)f16_case) == 0x3C00, "the double rounding this guards against (F16)");
    EXPECT(f32_to_f16(f64_to_f32_odd(f16_case)) == 0x3C01, "F16 of 1 + 2^-11 + 2^-40 is 1 + 2^-10");
    EXPECT(f32_to_bf16(f64_to_f32_odd(bf16_case)) == 0x3F81, "BF16 of 1 + 2^-8 + 2^-40 is 1 + 2^-7");
    EXPECT(f32_to_f16(f64_to_f32_odd(1.0 + ldexp(1, -11))) == 0x3C00, "an exact tie still goes to even");
    float tenth = f64_to_f32_odd(0.1);
    uint32_t bits;
    memcpy(&bits, &tenth, 4);
    EXPECT((bits & 1) && fabs(tenth - 0.1) < 1e-8, "0.1 (inexact) lands on its odd float neighbour");
    EXPECT(f64_to_f32_odd(-2.5) == -2.5f && isnan(f64_to_f32_odd(NAN)) && isinf(f64_to_f32_odd(1e300)) == 0,
           "exact values, NaN; 1e300 becomes the largest float (odd), which F16 makes infinite");
    EXPECT(f32_to_f16(f64_to_f32_odd(1e300)) == 0x7C00, "1e300 is F16 infinity");
}

/* tmap_read_as converts from the file's dtype straight to the one asked for, rounded once: F64 kept bitwise, F64 to
 * F16/BF16 not through a plain float, F16 widened to F64 exactly; a non-floating destination or source is an error
 * naming the file and the tensor. */
static void test_read_as(void) {
    static double wide[4] = {1.0 + 0x1p-40, 1.0 + 0x1p-11 + 0x1p-40, 1.0 + 0x1p-8 + 0x1p-40, -0.1};
    static uint16_t half[2];
    static int64_t ids[4] = {1, 2, 3, 4};
    half[0] = f32_to_f16(1.5f), half[1] = f32_to_f16(-0.25f);
    int64_t s4[1] = {4}, s2[1] = {2};
    TensorMap m;
    Err err;
    tmap_init(&m, "read_as.safetensors");
    EXPECT(tmap_add(&m, "wide", DT_F64, 1, s4, wide, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(&m, "half", DT_F16, 1, s2, half, 0, &err) == 0, "%s", err.msg);
    EXPECT(tmap_add(&m, "ids", DT_I64, 1, s4, ids, 0, &err) == 0, "%s", err.msg);
    double d[4];
    EXPECT(tmap_read_as(&m, "wide", 1, s4, DT_F64, d, &err) == 0 && !memcmp(d, wide, sizeof d),
           "F64 read as F64 keeps every bit (1 + 2^-40 read %.17g)", d[0]);
    uint16_t h[4];
    EXPECT(tmap_read_as(&m, "wide", 1, s4, DT_F16, h, &err) == 0 && h[0] == 0x3C00 && h[1] == 0x3C01,
           "F64 to F16: 1 + 2^-11 + 2^-40 is 1 + 2^-10 (0x%04x)", h[1]);
    EXPECT(tmap_read_as(&m, "wide", 1, s4, DT_BF16, h, &err) == 0 && h[2] == 0x3F81 && h[3] == f32_to_bf16(-0.1f),
           "F64 to BF16: 1 + 2^-8 + 2^-40 is 1 + 2^-7 (0x%04x); -0.1 (0x%04x) as from F32", h[2], h[3]);
    float f[4];
    EXPECT(tmap_read_as(&m, "wide", 1, s4, DT_F32, f, &err) == 0 && f[0] == 1.0f && f[3] == (float)-0.1,
           "F64 to F32 is (float)");
    EXPECT(tmap_read_as(&m, "half", 1, s2, DT_F64, d, &err) == 0 && d[0] == 1.5 && d[1] == -0.25, "F16 to F64");
    EXPECT(tmap_read_as(&m, "half", 1, s2, DT_I32, d, &err) != 0 && strstr(err.msg, "half") &&
               strstr(err.msg, "read_as.safetensors") && strstr(err.msg, "I32"),
           "an integer destination: %s", err.msg);
    EXPECT(tmap_read_as(&m, "ids", 1, s4, DT_F64, d, &err) != 0 && strstr(err.msg, "ids") && strstr(err.msg, "I64"),
           "an integer source: %s", err.msg);
    tmap_free(&m);
}

/* This process's peak resident memory in KiB (VmHWM), after setting it back to what it holds now (clear_refs 5,
 * Linux 4.0 on) where reset: a forked child starts with its parent's peak, which hides what the child adds. */
static long peak_kib(int reset) {
    if (reset) { /* -1 where it cannot be reset (no /proc, a sandbox): nothing to measure against */
        FILE *c = fopen("/proc/self/clear_refs", "w");
        if (!c || fputs("5", c) < 0 || fclose(c) != 0) return -1;
    }
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

/* ---- safetensors_verify reads a file back in pieces ---------------------------------------------------------- */

enum { BIG_FLOATS = 16 << 20 }; /* 64 MiB of data: eight of verify's 8 MiB pieces */
static char g_big[600], g_big_flipped[600], g_big_cut[600];

/* In a child, so that the test's own memory never holds the file: it, a copy with one bit flipped in the last
 * piece, and a copy cut 100 bytes short. */
static void write_big_files(void) {
    float *v = malloc((size_t)BIG_FLOATS * sizeof *v);
    if (!v) _exit(3);
    for (size_t i = 0; i < BIG_FLOATS; i++) v[i] = (float)(i % 1000) * 0.5f;
    TensorMap m;
    tmap_init(&m, "big");
    int64_t shape[1] = {BIG_FLOATS};
    Err err;
    if (tmap_add(&m, "w", DT_F32, 1, shape, v, 0, &err) != 0) _exit(4);
    const char *files[3] = {g_big, g_big_flipped, g_big_cut};
    for (int k = 0; k < 3; k++)
        if (safetensors_write(files[k], &m, NULL, &err) != 0) _exit(5);
    struct stat st;
    if (stat(g_big_flipped, &st) != 0) _exit(6);
    FILE *f = fopen(g_big_flipped, "r+b");
    unsigned char byte;
    if (!f || fseek(f, st.st_size - 5, SEEK_SET) != 0 || fread(&byte, 1, 1, f) != 1) _exit(7);
    byte ^= 0x10;
    if (fseek(f, st.st_size - 5, SEEK_SET) != 0 || fwrite(&byte, 1, 1, f) != 1 || fclose(f) != 0) _exit(8);
    if (truncate(g_big_cut, st.st_size - 100) != 0) _exit(9);
    tmap_free(&m);
    free(v);
    _exit(0);
}

/* In a child: verifies the whole file and says (stderr) by how much its peak memory grew; exit 0 when it passed and
 * grew by less than half the file (a buffer of the file's size: the whole 64 MiB). */
static void verify_big_file_measured(void) {
    long before = peak_kib(1);
    int damaged = -1;
    Err err;
    int rc = safetensors_verify(g_big, &damaged, &err);
    long grew_kib = before < 0 ? 0 : peak_kib(0) - before;
    fprintf(stderr, "verify %s: rc %d, damaged %d, peak memory grew by %ld KiB%s%s%s\n", g_big, rc, damaged, grew_kib,
            before < 0 ? " (not measured: the peak cannot be reset here)" : "", rc ? ": " : "", rc ? err.msg : "");
    _exit(rc != 0 ? 2 : grew_kib >= 32 * 1024 ? 1 : 0);
}

static void test_verify_in_pieces(void) {
    snprintf(g_big, sizeof g_big, "%s", path_in_tmp("big.safetensors"));
    snprintf(g_big_flipped, sizeof g_big_flipped, "%s", path_in_tmp("big-flipped.safetensors"));
    snprintf(g_big_cut, sizeof g_big_cut, "%s", path_in_tmp("big-cut.safetensors"));
    char out[2048];
    int rc = test_exit_status_of(write_big_files, out, sizeof out);
    EXPECT(rc == 0, "writing the 64 MiB files: exit %d %s", rc, out);
    if (rc != 0) return;
    rc = test_exit_status_of(verify_big_file_measured, out, sizeof out);
    EXPECT(rc == 0, "a 64 MiB file verified whole, in pieces (exit %d): %s", rc, out);
    printf("%s", out);
    int damaged = -1;
    Err err;
    EXPECT(safetensors_verify(g_big_flipped, &damaged, &err) != 0 && damaged == 1 &&
               strstr(err.msg, "damaged: its bytes"),
           "a bit flipped in the last piece: damaged %d (%s)", damaged, err.msg);
    EXPECT(safetensors_verify(g_big_cut, &damaged, &err) != 0 && damaged == 1 && strstr(err.msg, "big-cut") &&
               strstr(err.msg, "past the"),
           "a file cut short: damaged %d (%s)", damaged, err.msg);
    /* a file that ends while its pieces are read (cut after it was opened): the disk cannot deliver it */
    DiskReader r;
    EXPECT(fs_disk_open(&r, g_big_cut, &err) == 0, "%s", err.msg);
    size_t size = r.size;
    EXPECT(truncate(g_big_cut, (off_t)(size / 2)) == 0, "truncate");
    char *piece = malloc(size / 4);
    int unreadable = -1;
    EXPECT(piece && fs_disk_read(&r, piece, size / 4, &unreadable, &err) == 0 && unreadable == 0,
           "the first quarter: %s", err.msg);
    EXPECT(fs_disk_read(&r, piece, size / 4, &unreadable, &err) == 0, "the second quarter: %s", err.msg);
    EXPECT(fs_disk_read(&r, piece, size / 4, &unreadable, &err) != 0 && unreadable == 1 &&
               strstr(err.msg, "ended after") && strstr(err.msg, "big-cut"),
           "the third quarter, past the end: unreadable %d (%s)", unreadable, err.msg);
    fs_disk_close(&r);
    free(piece);
    char *tiny = path_in_tmp("seven-bytes.safetensors");
    EXPECT(fs_write_atomic(tiny, "\x02\0\0\0\0\0\0", 7, &err) == 0, "%s", err.msg);
    EXPECT(safetensors_verify(tiny, &damaged, &err) != 0 && damaged == 1 && strstr(err.msg, "truncated"),
           "7 bytes: damaged %d (%s)", damaged, err.msg);
}

/* ---- safetensors_write_from: tensors filled a piece at a time ------------------------------------------------ */

/* The pattern of tensor `index`'s byte k, as a fill gives it and a map holds it. */
static uint8_t pattern_byte(int index, size_t k) { return (uint8_t)(k * 31u + (size_t)index * 7u + (k >> 20)); }

static int pattern_calls, pattern_fail_at = -1;
static size_t pattern_largest;

static int pattern_fill(void *ctx, int index, size_t offset, void *dst, size_t n, Err *err) {
    (void)ctx;
    if (pattern_calls++ == pattern_fail_at) return err_set(err, "the source failed (on purpose)");
    if (n > pattern_largest) pattern_largest = n;
    for (size_t k = 0; k < n; k++) ((uint8_t *)dst)[k] = pattern_byte(index, offset + k);
    return 0;
}

static char g_filled[600];

/* In a child: writes 64 MiB from pattern_fill and exits 0 when its peak memory grew by less than half of it. */
static void write_filled_measured(void) {
    long before = peak_kib(1);
    TensorMap m;
    tmap_init(&m, "filled");
    int64_t shape[1] = {BIG_FLOATS};
    Err err;
    if (tmap_add(&m, "w", DT_F32, 1, shape, NULL, 0, &err) != 0) _exit(3);
    int rc = safetensors_write_from(g_filled, &m, NULL, pattern_fill, NULL, &err);
    long grew_kib = before < 0 ? 0 : peak_kib(0) - before;
    fprintf(stderr, "write_from %s: rc %d, peak memory grew by %ld KiB%s%s%s\n", g_filled, rc, grew_kib,
            before < 0 ? " (not measured: the peak cannot be reset here)" : "", rc ? ": " : "", rc ? err.msg : "");
    _exit(rc != 0 ? 2 : grew_kib >= 32 * 1024 ? 1 : 0);
}

static char g_dying[600];

/* In a child: a write in progress when the process exits through a fatal error (dfer_fatal's exit(2)). */
static void exit_mid_write(void) {
    AtomicFile f;
    Err err;
    if (atomic_open(&f, g_dying, &err) != 0 || atomic_write(&f, "partial", 7, &err) != 0) _exit(3);
    exit(2);
}

/* How many NAME.dfer-tmp.* files the test's folder holds. */
static int temporary_files(void) {
    DIR *dir = opendir(test_tmpdir());
    if (!dir) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) n += strstr(e->d_name, "dfer-tmp") != NULL;
    closedir(dir);
    return n;
}

static void test_write_from_pieces(void) {
    /* 64 MiB written from a source: the peak memory grows by a piece, not the file (first, in a child that has not
     * inherited this test's large buffers, whose freed pages a new buffer could reuse unseen) */
    snprintf(g_filled, sizeof g_filled, "%s", path_in_tmp("filled-big.safetensors"));
    char out[2048];
    int rc = test_exit_status_of(write_filled_measured, out, sizeof out);
    EXPECT(rc == 0, "64 MiB through write_from (exit %d): %s", rc, out);
    printf("%s", out);
    /* three tensors, one over a 16 MiB piece, one in memory between them: the same bytes as safetensors_write's */
    const int64_t n_big = (20 << 20) / 4 + 3, n_small = 1001;
    uint8_t *big = malloc((size_t)n_big * 4), *small = malloc((size_t)n_small * 2);
    static const float host[4] = {1, 2, 3, 4};
    TensorMap whole, sparse;
    tmap_init(&whole, "whole");
    tmap_init(&sparse, "sparse");
    Err err;
    int64_t s_big[1] = {n_big}, s_small[2] = {7, 143}, s_host[1] = {4};
    /* the indices in each map, not the file's order (F32 before BF16, then by name): small 0, host 1, big 2
     * (pattern_byte keys on the index) */
    for (int64_t k = 0; k < n_big * 4; k++) big[k] = pattern_byte(2, (size_t)k);
    for (int64_t k = 0; k < n_small * 2; k++) small[k] = pattern_byte(0, (size_t)k);
    EXPECT(tmap_add(&whole, "c.small", DT_BF16, 2, s_small, small, 0, &err) == 0 &&
               tmap_add(&whole, "b.host", DT_F32, 1, s_host, host, 0, &err) == 0 &&
               tmap_add(&whole, "a.big", DT_F32, 1, s_big, big, 0, &err) == 0 &&
               tmap_add(&sparse, "c.small", DT_BF16, 2, s_small, NULL, 0, &err) == 0 &&
               tmap_add(&sparse, "b.host", DT_F32, 1, s_host, host, 0, &err) == 0 &&
               tmap_add(&sparse, "a.big", DT_F32, 1, s_big, NULL, 0, &err) == 0,
           "%s", err.msg);
    const char *meta[] = {"format", "test", NULL};
    char *a = path_in_tmp("whole.safetensors"), *b = path_in_tmp("filled.safetensors");
    pattern_calls = 0, pattern_largest = 0, pattern_fail_at = -1;
    EXPECT(safetensors_write(a, &whole, meta, &err) == 0, "%s", err.msg);
    EXPECT(safetensors_write_from(b, &sparse, meta, pattern_fill, NULL, &err) == 0, "%s", err.msg);
    char *x, *y;
    size_t nx = 0, ny = 0;
    EXPECT(fs_read_all(a, &x, &nx, &err) == 0 && fs_read_all(b, &y, &ny, &err) == 0, "%s", err.msg);
    EXPECT(nx == ny && !memcmp(x, y, nx), "write_from's file differs from write's (%zu and %zu bytes)", nx, ny);
    EXPECT(pattern_calls == 3 && pattern_largest == (size_t)16 << 20,
           "the 20 MiB tensor in two pieces of at most 16 MiB and the small one in one: %d calls, largest %zu",
           pattern_calls, pattern_largest);
    free(x), free(y);
    int damaged = -1;
    EXPECT(safetensors_verify(b, &damaged, &err) == 0, "the filled file verified: %s", err.msg);
    /* a source that fails in the second piece: nothing written, the file before it kept, the tensor named */
    pattern_calls = 0, pattern_fail_at = 1;
    EXPECT(safetensors_write_from(a, &sparse, meta, pattern_fill, NULL, &err) != 0 && strstr(err.msg, "a.big") &&
               strstr(err.msg, "on purpose") && strstr(err.msg, "whole.safetensors"),
           "a failing source: %s", err.msg);
    char *before_it;
    size_t n_before = 0;
    EXPECT(fs_read_all(a, &before_it, &n_before, &err) == 0 && n_before == ny, "the file before it is gone (%zu)",
           n_before);
    EXPECT(fs_read_all(b, &x, &nx, &err) == 0 && nx == n_before && !memcmp(x, before_it, nx),
           "the file before the failed write changed");
    free(x), free(before_it);
    EXPECT(temporary_files() == 0, "the failed write left a temporary file");
    /* a process that exits mid-write (a fatal error while a checkpoint comes from the GPU) leaves none either */
    snprintf(g_dying, sizeof g_dying, "%s", path_in_tmp("dying.safetensors"));
    rc = test_exit_status_of(exit_mid_write, out, sizeof out);
    EXPECT(rc == 2 && temporary_files() == 0 && !fs_exists(g_dying),
           "an exit mid-write: status %d, %d temporary files left", rc, temporary_files());
    /* without a source, a map without data is refused as before */
    EXPECT(safetensors_write(b, &sparse, meta, &err) != 0 && strstr(err.msg, "shapes-only"), "%s", err.msg);
    tmap_free(&whole), tmap_free(&sparse);
    free(big), free(small);
}

int main(void) {
    TEST_RUN(test_f64_narrowing);
    TEST_RUN(test_read_as);
    TEST_RUN(test_digest_and_resolve);
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_payload_digest);
    TEST_RUN(test_alignment);
    TEST_RUN(test_bad_files);
    TEST_RUN(test_sharded);
    TEST_RUN(test_long_shard_name);
    TEST_RUN(test_atomic_write);
    TEST_RUN(test_verify_in_pieces);
    TEST_RUN(test_write_from_pieces);
    return test_summary();
}
