/* PyTorch zips from hand-assembled pickles (no torch needed): tensors rebuilt
 * from storages with offsets and strides (contiguous views referenced, transposed
 * views gathered), storage dtypes, TorchScript-style module trees, and every
 * malformed input the reader must refuse with a clear message: unknown opcode
 * (with its byte offset), truncation, stack misuse, a view beyond its storage,
 * an expanded view, a missing storage, exponentially shared or cyclic object
 * graphs, dicts nested deeper than the reader goes, and corrupt zips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "core/fsutil.h"
#include "io/checkpoint.h"
#include "io/pickle.h"
#include "io/torch_pt.h"
#include "testlib.h"

/* ---- a tiny pickle assembler -------------------------------------------- */

typedef struct Buf {
    uint8_t b[8192];
    size_t n;
} Buf;

static void put(Buf *p, const void *d, size_t n) {
    if (p->n + n > sizeof p->b) return;
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void op(Buf *p, uint8_t o) { put(p, &o, 1); }
static void str(Buf *p, const char *s) { /* BINUNICODE */
    uint32_t n = (uint32_t)strlen(s);
    uint8_t le[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    op(p, 'X');
    put(p, le, 4);
    put(p, s, n);
}
static void global(Buf *p, const char *module, const char *name) {
    op(p, 'c');
    put(p, module, strlen(module));
    op(p, '\n');
    put(p, name, strlen(name));
    op(p, '\n');
}
static void integer(Buf *p, int64_t v) {
    if (v >= 0 && v < 256) {
        uint8_t b[2] = {'K', (uint8_t)v};
        put(p, b, 2);
    } else {
        uint8_t b[5] = {'J', (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
        put(p, b, 5);
    }
}
static void int_tuple(Buf *p, int n, const int64_t *v) {
    op(p, '(');
    for (int i = 0; i < n; i++) integer(p, v[i]);
    op(p, 't');
}
/* torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False,
 * OrderedDict()) */
static void tensor(Buf *p, const char *type, const char *key, int64_t numel, int64_t offset, int ndim,
                   const int64_t *size, const int64_t *stride) {
    global(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '(');
    op(p, '(');
    str(p, "storage");
    global(p, "torch", type);
    str(p, key);
    str(p, "cpu");
    integer(p, numel);
    op(p, 't');
    op(p, 'Q'); /* BINPERSID */
    integer(p, offset);
    int_tuple(p, ndim, size);
    int_tuple(p, ndim, stride);
    op(p, 0x89); /* NEWFALSE */
    global(p, "collections", "OrderedDict");
    op(p, ')');
    op(p, 'R');
    op(p, 't');
    op(p, 'R');
}
static void begin_state_dict(Buf *p) {
    uint8_t proto[2] = {0x80, 2};
    put(p, proto, 2);
    global(p, "collections", "OrderedDict");
    op(p, ')');
    op(p, 'R');
    op(p, '(');
}
static void end_state_dict(Buf *p) {
    op(p, 'u');
    op(p, '.');
}

/* A zip in memory: archive/data.pkl plus storages "0".."n-1". */
typedef struct Storage {
    const char *key;
    const void *data;
    size_t size;
} Storage;

static uint8_t *make_zip(const Buf *pkl, const Storage *st, int n_st, size_t *out_size) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_source_keep(src);
    zip_file_add(z, "archive/data.pkl", zip_source_buffer(z, pkl->b, pkl->n, 0), ZIP_FL_OVERWRITE);
    for (int i = 0; i < n_st; i++) {
        char name[64];
        /* "@name": archive/name, beside data.pkl (byteorder) */
        if (st[i].key[0] == '@') snprintf(name, sizeof name, "archive/%s", st[i].key + 1);
        else snprintf(name, sizeof name, "archive/data/%s", st[i].key);
        zip_file_add(z, name, zip_source_buffer(z, st[i].data, st[i].size, 0), ZIP_FL_OVERWRITE);
    }
    zip_close(z);
    uint8_t *buf = NULL;
    zip_source_open(src);
    zip_source_seek(src, 0, SEEK_END);
    zip_int64_t len = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    buf = xmalloc((size_t)len);
    *out_size = (size_t)zip_source_read(src, buf, (zip_uint64_t)len);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    return buf;
}

static float storage0[24];
static uint16_t storage_half[4];

static int load(const Buf *pkl, TensorMap *m, Err *err) {
    for (int i = 0; i < 24; i++) storage0[i] = (float)i;
    for (int i = 0; i < 4; i++) storage_half[i] = f32_to_f16((float)i + 0.5f);
    Storage st[2] = {{"0", storage0, sizeof storage0}, {"1", storage_half, sizeof storage_half}};
    size_t n;
    uint8_t *zip = make_zip(pkl, st, 2, &n);
    int rc = torch_pt_read_memory(zip, n, "unit.pt", m, err);
    free(zip);
    return rc;
}

static float f_at(const TensorEntry *e, int i) {
    float v;
    memcpy(&v, e->data + 4 * (size_t)i, 4);
    return v;
}

static void test_state_dict(void) {
    Buf p = {0};
    begin_state_dict(&p);
    int64_t s23[2] = {2, 3}, st23[2] = {3, 1}, s32[2] = {3, 2}, st32[2] = {1, 3}, s4[1] = {4}, st4[1] = {1};
    str(&p, "contiguous.at.offset");
    tensor(&p, "FloatStorage", "0", 24, 5, 2, s23, st23); /* elements 5..10 */
    str(&p, "transposed");
    tensor(&p, "FloatStorage", "0", 24, 0, 2, s32, st32); /* the [2,3] block at 0, transposed */
    str(&p, "strided.slice");
    int64_t ss[1] = {3}, sst[1] = {4};
    tensor(&p, "FloatStorage", "0", 24, 2, 1, ss, sst); /* 2, 6, 10 */
    str(&p, "half");
    tensor(&p, "HalfStorage", "1", 4, 0, 1, s4, st4);
    str(&p, "scalar");
    tensor(&p, "FloatStorage", "0", 24, 23, 0, NULL, NULL);
    str(&p, "empty");
    int64_t s0[2] = {0, 3}, st0[2] = {3, 1};
    tensor(&p, "FloatStorage", "0", 24, 0, 2, s0, st0);
    end_state_dict(&p);
    TensorMap m;
    Err err;
    int rc = load(&p, &m, &err);
    EXPECT(rc == 0, "state dict: %s", err.msg);
    if (rc != 0) return;
    const TensorEntry *c = tmap_find(&m, "contiguous.at.offset"), *t = tmap_find(&m, "transposed");
    const TensorEntry *sl = tmap_find(&m, "strided.slice"), *h = tmap_find(&m, "half");
    const TensorEntry *sc = tmap_find(&m, "scalar"), *em = tmap_find(&m, "empty");
    EXPECT(m.count == 6, "%d tensors", m.count);
    EXPECT(c && c->dtype == DT_F32 && c->ndim == 2 && c->shape[0] == 2 && c->shape[1] == 3 && f_at(c, 0) == 5 &&
               f_at(c, 5) == 10,
           "contiguous view at storage offset 5");
    int ok = t && t->shape[0] == 3 && t->shape[1] == 2;
    for (int i = 0; ok && i < 3; i++)
        for (int j = 0; ok && j < 2; j++) ok = f_at(t, i * 2 + j) == (float)(j * 3 + i);
    EXPECT(ok, "transposed view made contiguous");
    EXPECT(sl && f_at(sl, 0) == 2 && f_at(sl, 1) == 6 && f_at(sl, 2) == 10, "strided slice gathered");
    EXPECT(h && h->dtype == DT_F16 && h->nbytes == 8 && f16_to_f32(((const uint16_t *)h->data)[3]) == 3.5f,
           "HalfStorage gives F16");
    EXPECT(sc && sc->ndim == 0 && f_at(sc, 0) == 23, "rank-0 tensor at the storage's last element");
    EXPECT(em && em->nbytes == 0 && em->shape[0] == 0 && em->shape[1] == 3, "zero-size tensor");
    tmap_free(&m);
}

/* TorchScript: GLOBAL '__torch__.X Y', EMPTY_TUPLE, NEWOBJ, a state dict, BUILD, nested. */
static void test_module_tree(void) {
    Buf p = {0};
    uint8_t proto[2] = {0x80, 2};
    put(&p, proto, 2);
    global(&p, "__torch__.model", "CLIP");
    op(&p, ')');
    op(&p, 0x81); /* NEWOBJ */
    op(&p, '}');
    op(&p, '(');
    str(&p, "training");
    op(&p, 0x88);
    str(&p, "visual");
    global(&p, "__torch__.model", "VisionTransformer");
    op(&p, ')');
    op(&p, 0x81);
    op(&p, '}');
    op(&p, '(');
    str(&p, "proj");
    int64_t s[2] = {2, 2}, st[2] = {2, 1};
    tensor(&p, "FloatStorage", "0", 24, 0, 2, s, st);
    str(&p, "resblocks");
    global(&p, "__torch__.torch.nn.modules.container", "Sequential");
    op(&p, ')');
    op(&p, 0x81);
    op(&p, '}');
    op(&p, '(');
    str(&p, "0");
    op(&p, '}');
    op(&p, '(');
    str(&p, "bias");
    tensor(&p, "FloatStorage", "0", 24, 4, 1, s, st + 1);
    op(&p, 'u');
    op(&p, 'u');
    op(&p, 'b'); /* BUILD Sequential */
    op(&p, 'u');
    op(&p, 'b'); /* BUILD VisionTransformer */
    str(&p, "logit_scale");
    tensor(&p, "FloatStorage", "0", 24, 7, 0, NULL, NULL);
    op(&p, 'u');
    op(&p, 'b'); /* BUILD CLIP */
    op(&p, '.');
    TensorMap m;
    Err err;
    EXPECT(load(&p, &m, &err) == 0, "module tree: %s", err.msg);
    EXPECT(m.count == 3 && tmap_find(&m, "visual.proj") && tmap_find(&m, "visual.resblocks.0.bias") &&
               tmap_find(&m, "logit_scale"),
           "attribute paths joined with '.' (%d tensors)", m.count);
    const TensorEntry *b = tmap_find(&m, "visual.resblocks.0.bias");
    EXPECT(b && f_at(b, 0) == 4 && f_at(b, 1) == 5, "nested tensor values");
    if (m.count) tmap_free(&m);
}

static void expect_load_error(const Buf *p, const char *needle, const char *needle2, const char *what) {
    TensorMap m;
    Err err;
    int rc = load(p, &m, &err);
    EXPECT(rc != 0, "%s: accepted", what);
    if (rc == 0) {
        tmap_free(&m);
        return;
    }
    EXPECT(strstr(err.msg, "unit.pt") && strstr(err.msg, needle) && (!needle2 || strstr(err.msg, needle2)),
           "%s: message '%s' lacks the file, '%s' or '%s'", what, err.msg, needle, needle2 ? needle2 : "");
}

static void test_bad_tensors(void) {
    int64_t s[1] = {30}, st[1] = {1};
    Buf p = {0};
    begin_state_dict(&p);
    str(&p, "too.long");
    tensor(&p, "FloatStorage", "0", 24, 0, 1, s, st);
    end_state_dict(&p);
    expect_load_error(&p, "too.long", "storage", "a view beyond its storage");

    int64_t s2[2] = {20, 20}, st2[2] = {0, 1};
    p.n = 0;
    begin_state_dict(&p);
    str(&p, "expanded");
    tensor(&p, "FloatStorage", "0", 24, 0, 2, s2, st2);
    end_state_dict(&p);
    expect_load_error(&p, "expanded", "overlapping", "an expanded view (400 elements from 24)");

    /* a plain row-major [5, 5] over 24 elements: a storage cut short, not an overlapping view */
    int64_t s_short[2] = {5, 5}, st_short[2] = {5, 1};
    p.n = 0;
    begin_state_dict(&p);
    str(&p, "short");
    tensor(&p, "FloatStorage", "0", 24, 0, 2, s_short, st_short);
    end_state_dict(&p);
    expect_load_error(&p, "short", "needs 25 elements of storage 0, which holds 24: the storage is cut short",
                      "a row-major tensor of a short storage");

    int64_t s5[2] = {1000000, 1000000}, st5[2] = {0, 0};
    p.n = 0;
    begin_state_dict(&p);
    str(&p, "huge");
    tensor(&p, "FloatStorage", "0", 24, 0, 2, s5, st5);
    end_state_dict(&p);
    expect_load_error(&p, "huge", "storage", "10^12 elements from a 24-element storage");

    int64_t s3[1] = {2}, st3[1] = {1};
    p.n = 0;
    begin_state_dict(&p);
    str(&p, "offset.past.end");
    tensor(&p, "FloatStorage", "0", 24, 23, 1, s3, st3);
    end_state_dict(&p);
    expect_load_error(&p, "offset.past.end", "storage", "a view starting near the end");

    p.n = 0;
    begin_state_dict(&p);
    str(&p, "no.storage");
    tensor(&p, "FloatStorage", "7", 24, 0, 1, s3, st3);
    end_state_dict(&p);
    expect_load_error(&p, "no.storage", "archive/data/7", "a missing storage entry");

    p.n = 0;
    begin_state_dict(&p);
    str(&p, "complex");
    tensor(&p, "ComplexFloatStorage", "0", 24, 0, 1, s3, st3);
    end_state_dict(&p);
    expect_load_error(&p, "complex", "ComplexFloatStorage", "an unsupported storage type");
}

static void test_bad_pickles(void) {
    Buf p = {0};
    begin_state_dict(&p);
    size_t at = p.n;
    op(&p, 0xff);
    end_state_dict(&p);
    char where[64];
    snprintf(where, sizeof where, "byte %zu", at);
    expect_load_error(&p, "0xff", where, "an unknown opcode");
    /* pickle_parse directly: the same offset, and truncation at every length */
    Pickle *pk;
    PickleValue *root = NULL;
    Err err;
    EXPECT(pickle_parse(p.b, p.n, "direct.pkl", &pk, &root, &err) != 0 && strstr(err.msg, "direct.pkl") &&
               strstr(err.msg, where),
           "unknown opcode offset: %s", err.msg);
    Buf good = {0};
    begin_state_dict(&good);
    int64_t s[1] = {3}, st[1] = {1};
    str(&good, "w");
    tensor(&good, "FloatStorage", "0", 24, 0, 1, s, st);
    end_state_dict(&good);
    EXPECT(pickle_parse(good.b, good.n, "good.pkl", &pk, &root, &err) == 0 && root->kind == PK_DICT &&
               root->count == 2 && root->items[1]->kind == PK_TENSOR && root->items[1]->tensor.size[0] == 3 &&
               !strcmp(root->items[1]->tensor.storage_type, "FloatStorage"),
           "the well-formed pickle parses: %s", err.msg);
    if (root && root->kind == PK_DICT) pickle_free(pk);
    int refused = 0;
    for (size_t n = 0; n < good.n; n++) {
        if (pickle_parse(good.b, n, "cut.pkl", &pk, &root, &err) == 0) pickle_free(pk);
        else refused += strstr(err.msg, "cut.pkl") != NULL;
    }
    EXPECT(refused == (int)good.n, "all %zu truncations refused with the file named (%d were)", good.n, refused);
    /* stack misuse */
    static const struct {
        const char *bytes;
        size_t n;
        const char *needle;
    } bad[] = {{"\x80\x02s.", 4, "underflow"}, {"\x80\x02t.", 4, "MARK"},
               {"\x80\x02h\x05.", 5, "memo"},  {"\x80\x02K\x01K\x02.", 7, "2 values"},
               {"\x80\x02K\x01u.", 6, "MARK"}, {"\x80\x02X\xff\xff\xff\x7f", 7, "truncated"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pickle_parse((const uint8_t *)bad[i].bytes, bad[i].n, "bad.pkl", &pk, &root, &err);
        EXPECT(rc != 0 && strstr(err.msg, bad[i].needle), "bad pickle %zu: '%s' should mention '%s'", i, err.msg,
               bad[i].needle);
        if (rc == 0) pickle_free(pk);
    }
}

/* D_k = {'a': D_k-1, 'b': D_k-1} through memo references, 40 levels: 2^40 paths
 * from a few hundred bytes. The walk must give up with a message, not hang. */
static void emit_level(Buf *p, int k) {
    uint8_t put_k[2] = {'q', (uint8_t)k}, get_prev[2] = {'h', (uint8_t)(k - 1)};
    op(p, '}');
    put(p, put_k, 2);
    if (!k) return;
    op(p, '(');
    str(p, "a");
    emit_level(p, k - 1);
    str(p, "b");
    put(p, get_prev, 2);
    op(p, 'u');
}

static void test_shared_graph(void) {
    uint8_t proto[2] = {0x80, 2};
    Buf p = {0};
    put(&p, proto, 2);
    emit_level(&p, 40);
    op(&p, '.');
    Pickle *pk;
    PickleValue *root;
    Err err;
    int rc = pickle_parse(p.b, p.n, "shared.pkl", &pk, &root, &err);
    EXPECT(rc == 0 && root->kind == PK_DICT && root->count == 4 && root->items[1] == root->items[3],
           "the shared graph parses to one object per level: %s", err.msg);
    if (rc == 0) pickle_free(pk);
    TensorMap m;
    rc = load(&p, &m, &err);
    EXPECT(rc != 0 && strstr(err.msg, "unit.pt") && strstr(err.msg, "paths"), "shared graph: %s", err.msg);
    if (rc == 0) tmap_free(&m);
    /* a dict containing itself: cut where it comes round again, then "no tensors" */
    Buf cyc = {0};
    put(&cyc, proto, 2);
    op(&cyc, '}');
    uint8_t put0[2] = {'q', 0}, get0[2] = {'h', 0};
    put(&cyc, put0, 2);
    str(&cyc, "self");
    put(&cyc, get0, 2);
    op(&cyc, 's');
    op(&cyc, '.');
    rc = load(&cyc, &m, &err);
    EXPECT(rc != 0 && strstr(err.msg, "unit.pt"), "a self-containing dict terminates: %s", err.msg);
    if (rc == 0) tmap_free(&m);
}

/* A tensor under `levels` nested dicts, each key "d": {"d": {... {"d": tensor}}}, as the value of the key being set. */
static void nested_tensor(Buf *p, int levels) {
    int64_t s2[1] = {2}, st1[1] = {1};
    for (int i = 0; i < levels; i++) {
        op(p, '}');
        str(p, "d");
    }
    tensor(p, "FloatStorage", "0", 24, 3, 1, s2, st1);
    for (int i = 0; i < levels; i++) op(p, 's');
}

/* The walk stops 64 dicts down (it recurses): a tensor at 64 keys is read, one at 65 is an error naming the file and
 * the key path (it was skipped without a word, a "missing tensor" later); a dict holding itself is no error. */
static void test_nesting_depth(void) {
    Buf p = {0};
    begin_state_dict(&p);
    str(&p, "d");
    nested_tensor(&p, 63); /* 64 keys with this one */
    str(&p, "cycle");
    op(&p, '}');
    uint8_t put9[2] = {'q', 9}, get9[2] = {'h', 9};
    put(&p, put9, 2);
    str(&p, "self");
    put(&p, get9, 2);
    op(&p, 's');
    str(&p, "w");
    nested_tensor(&p, 0);
    op(&p, 's');
    end_state_dict(&p);
    TensorMap m;
    Err err;
    int rc = load(&p, &m, &err);
    EXPECT(rc == 0, "64 dicts deep and a cycle: %s", err.msg);
    if (rc != 0) return;
    char deepest[256] = "d";
    for (int i = 0; i < 63; i++) strcat(deepest, ".d");
    const TensorEntry *deep = tmap_find(&m, deepest), *w = tmap_find(&m, "cycle.w");
    EXPECT(m.count == 2 && deep && f_at(deep, 0) == 3 && w && f_at(w, 1) == 4,
           "the tensor 64 keys deep and the cycle's tensor, once: %d tensors", m.count);
    tmap_free(&m);
    Buf too_deep = {0};
    begin_state_dict(&too_deep);
    str(&too_deep, "shallow");
    nested_tensor(&too_deep, 0);
    str(&too_deep, "d");
    nested_tensor(&too_deep, 64); /* 65 keys */
    end_state_dict(&too_deep);
    rc = load(&too_deep, &m, &err);
    strcat(deepest, ".d");
    EXPECT(rc != 0 && strstr(err.msg, "unit.pt: ") && strstr(err.msg, deepest) && strstr(err.msg, "more than 64"),
           "a tensor 65 keys deep: %s", rc ? err.msg : "read without a word");
    if (rc == 0) tmap_free(&m);
}

static void test_corrupt_zips(void) {
    Buf p = {0};
    begin_state_dict(&p);
    int64_t s[1] = {3}, st[1] = {1};
    str(&p, "w");
    tensor(&p, "FloatStorage", "0", 24, 0, 1, s, st);
    end_state_dict(&p);
    for (int i = 0; i < 24; i++) storage0[i] = (float)i;
    Storage sto[1] = {{"0", storage0, sizeof storage0}};
    size_t n;
    uint8_t *zip = make_zip(&p, sto, 1, &n);
    TensorMap m;
    Err err;
    EXPECT(torch_pt_read_memory(zip, n, "whole.pt", &m, &err) == 0 && m.count == 1, "the intact zip loads: %s",
           err.msg);
    if (m.count) tmap_free(&m);
    /* every prefix is either refused with a message naming the file, or (never) accepted whole */
    int refused = 0, tried = 0;
    for (size_t cut = 0; cut < n; cut += 7, tried++) {
        if (torch_pt_read_memory(zip, cut, "cut.pt", &m, &err) == 0) tmap_free(&m);
        else refused += strstr(err.msg, "cut.pt") != NULL;
    }
    EXPECT(refused == tried, "%d of %d truncated zips refused with the file named", refused, tried);
    /* flipped bytes in the middle (compressed data or headers) never crash; the file is on disk for ckpt_load */
    char path[700];
    snprintf(path, sizeof path, "%s/flipped.pt", test_tmpdir());
    for (size_t k = 30; k < n; k += 53) {
        zip[k] ^= 0x5a;
        EXPECT(fs_write_atomic(path, zip, n, &err) == 0, "%s", err.msg);
        if (ckpt_load(path, &m, &err) == 0) tmap_free(&m);
        else EXPECT(strstr(err.msg, "flipped.pt") != NULL, "flipped byte %zu: message names the file: %s", k, err.msg);
        zip[k] ^= 0x5a;
    }
    free(zip);
    /* byteorder beside data.pkl: little loads, big is refused (its storages would be read byte-swapped) */
    const char *orders[3] = {"little", "big\n", "middle"};
    for (int k = 0; k < 3; k++) {
        Storage with_order[2] = {{"0", storage0, sizeof storage0}, {"@byteorder", orders[k], strlen(orders[k])}};
        uint8_t *z = make_zip(&p, with_order, 2, &n);
        int rc = torch_pt_read_memory(z, n, "order.pt", &m, &err);
        if (k == 0)
            EXPECT(rc == 0 && m.count == 1 && f_at(&m.items[0], 1) == 1.0f, "byteorder little loads: %s", err.msg);
        else EXPECT(rc != 0 && strstr(err.msg, "order.pt") && strstr(err.msg, k == 1 ? "big-endian" : "neither"),
                    "byteorder %s refused: %s", orders[k], err.msg);
        if (rc == 0) tmap_free(&m);
        free(z);
    }
    EXPECT(torch_pt_read_memory((const uint8_t *)"PK\x03\x04garbage", 11, "garbage.pt", &m, &err) != 0 &&
               strstr(err.msg, "garbage.pt") && strstr(err.msg, "zip"),
           "not a zip: %s", err.msg);
    /* a valid zip without data.pkl */
    Storage only[1] = {{"0", storage0, 8}};
    Buf none = {0};
    zip = make_zip(&none, only, 1, &n);
    EXPECT(torch_pt_read_memory(zip, n, "nopkl.pt", &m, &err) != 0 && strstr(err.msg, "nopkl.pt"),
           "empty data.pkl: %s", err.msg);
    free(zip);
}

/* The bounds of a view over storages of more than 2^32 elements (a ByteStorage of 4 GiB, too large to build here):
 * a size and a stride that each fit the storage multiply past 2^64. (2^32 + 1) * 2^32 wrapped to 2^32, inside a
 * storage of 2^32 + 16 elements, and the gather of its 2^32 + 1 elements read up to 2^64 bytes past the buffer. */
static void test_view_extent_wide(void) {
    const uint64_t storage = (1ull << 32) + 16;
    uint64_t numel, last;
    int dim;
    PickleTensor wrap = {.ndim = 1, .size = {(1ll << 32) + 1}, .stride = {(1ll << 32) + 1}};
    EXPECT(torch_pt_view_extent(&wrap, storage, &numel, &last, &dim) == TORCH_VIEW_ENDS_BEYOND,
           "a view whose (size - 1) * stride wraps past 2^64 fits (numel %llu, last element %llu of %llu)",
           (unsigned long long)numel, (unsigned long long)last, (unsigned long long)storage);
    /* the same wrap in a second dimension, after a first one moved (a storage of 2^33 + 16 holds its elements) */
    PickleTensor wrap2 = {.ndim = 2, .size = {2, (1ll << 32) + 1}, .stride = {1, (1ll << 32) + 1}};
    EXPECT(torch_pt_view_extent(&wrap2, 2 * storage, &numel, &last, &dim) == TORCH_VIEW_ENDS_BEYOND && dim == 1,
           "a wrapping second dimension fits (last element %llu, dim %d)", (unsigned long long)last, dim);
    /* views of that storage that do fit, up to its last element */
    PickleTensor whole = {.offset = 16, .ndim = 2, .size = {1ll << 31, 2}, .stride = {2, 1}};
    EXPECT(torch_pt_view_extent(&whole, storage, &numel, &last, &dim) == TORCH_VIEW_FITS && numel == 1ull << 32 &&
               last == storage - 1,
           "the storage's last 2^32 elements as [2^31, 2]: numel %llu, last %llu", (unsigned long long)numel,
           (unsigned long long)last);
    PickleTensor strided = {.ndim = 1, .size = {2}, .stride = {(1ll << 32) + 15}};
    EXPECT(torch_pt_view_extent(&strided, storage, &numel, &last, &dim) == TORCH_VIEW_FITS && last == storage - 1,
           "two elements 2^32 + 15 apart: last %llu", (unsigned long long)last);
    strided.stride[0]++;
    EXPECT(torch_pt_view_extent(&strided, storage, &numel, &last, &dim) == TORCH_VIEW_ENDS_BEYOND,
           "two elements 2^32 + 16 apart fit a storage of 2^32 + 16");
}

int main(void) {
    TEST_RUN(test_view_extent_wide);
    TEST_RUN(test_state_dict);
    TEST_RUN(test_module_tree);
    TEST_RUN(test_bad_tensors);
    TEST_RUN(test_bad_pickles);
    TEST_RUN(test_shared_graph);
    TEST_RUN(test_nesting_depth);
    TEST_RUN(test_corrupt_zips);
    return test_summary();
}
