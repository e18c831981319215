/* A minimal, defensive pickle reader for PyTorch checkpoints (data.pkl of
 * torch.save zips and TorchScript zips): the opcodes those files use
 * (clip.md §5.4) and a few more, producing a tree of values. Nothing is ever
 * executed: GLOBAL/REDUCE/NEWOBJ build inert records, and only the calls that
 * rebuild tensors (torch._utils._rebuild_tensor_v2, _rebuild_parameter) and
 * OrderedDict are interpreted. Every read is bounds-checked; errors give the
 * byte offset. */
#ifndef DFER_IO_PICKLE_H
#define DFER_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"

typedef enum {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL,  /* module + name */
    PK_OBJECT,  /* callable applied to args (REDUCE/NEWOBJ) with an optional BUILD state */
    PK_PERSID,  /* persistent id: its payload */
    PK_TENSOR,  /* a rebuilt tensor reference */
    PK_MARK
} PickleKind;

typedef struct PickleValue PickleValue;

typedef struct PickleTensor {
    const char *storage_key; /* entry name under <prefix>/data/ */
    const char *storage_type; /* "FloatStorage", "HalfStorage", ... */
    int64_t offset;           /* in elements */
    int ndim;
    int64_t size[8], stride[8];
} PickleTensor;

struct PickleValue {
    PickleKind kind;
    int64_t i;        /* INT, BOOL */
    double f;         /* FLOAT */
    const char *s;    /* STR, BYTES (length in len); GLOBAL: "module\0name" joined as module + "." + name in s2 */
    size_t len;
    const char *module, *name; /* GLOBAL */
    PickleValue **items; /* TUPLE, LIST, DICT (key, value pairs), OBJECT args */
    int count, cap;
    PickleValue *callable, *state, *payload; /* OBJECT; PERSID payload */
    PickleTensor tensor;
};

typedef struct Pickle Pickle; /* owns every value */

/* Parses buf; *root is valid until pickle_free. label names the source in errors. */
int pickle_parse(const uint8_t *buf, size_t size, const char *label, Pickle **out, PickleValue **root, Err *err);
void pickle_free(Pickle *p);

#endif
