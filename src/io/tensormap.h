/* An ordered name -> tensor map: what every checkpoint container (safetensors,
 * PyTorch zip, TorchScript zip) is turned into before the name layer
 * (clip_names.h) maps it to Hugging Face names. Entries either reference
 * memory the map keeps alive (an mmap, a decompressed buffer) or own a copy. */
#ifndef DFER_IO_TENSORMAP_H
#define DFER_IO_TENSORMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"
#include "core/tensor.h"

typedef struct TensorEntry {
    char *name;
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const uint8_t *data;
    size_t nbytes;
} TensorEntry;

typedef struct TensorMap {
    TensorEntry *items;
    int count, cap;
    char source[1024];   /* file path, for error messages */
    void **owned;        /* buffers freed with the map */
    int n_owned, cap_owned;
    void *mapping;       /* an fs_map region (MappedFile*) kept alive */
    void *index;         /* private: name hash for fast lookup */
    struct TensorMap *parent; /* a map whose memory this one references; freed with it */
    char **metadata;     /* key, value, key, value, ..., NULL: a safetensors __metadata__ map, or NULL */
} TensorMap;

void tmap_init(TensorMap *m, const char *source_label);
void tmap_free(TensorMap *m);
const TensorEntry *tmap_find(const TensorMap *m, const char *name);
/* copy != 0 copies the bytes; copy == 0 references them (they must outlive the map). */
int tmap_add(TensorMap *m, const char *name, DType dtype, int ndim, const int64_t *shape, const void *data, int copy,
             Err *err);
/* Adds a tensor whose values (data, src_dtype, the shape's count) are converted to `dtype` with one rounding
 * (convert_dtype) into a buffer the map owns; one already in `dtype`, or not floating (F32, F16, BF16, F64), is added
 * as it is, referenced (copy == 0) or copied. Bad names and shapes as tmap_add. */
int tmap_add_converted(TensorMap *m, const char *name, DType dtype, int ndim, const int64_t *shape, const void *data,
                       DType src_dtype, int copy, Err *err);
/* Makes m keep `other` alive (moved to the heap; freed by tmap_free(m)). */
void tmap_adopt(TensorMap *m, TensorMap *other);
/* Hands a malloc'ed buffer to the map (freed by tmap_free). */
void tmap_own(TensorMap *m, void *buffer);
/* The tensor `name` of m where it is what the model's `want` holds: its dtype and shape, not only as many bytes (a
 * [32, 128] weight read where the model has [128, 32] has its bytes and would load transposed). NULL with err set
 * (naming m's file, the tensor and both shapes; hint says what the file may be instead) when it is missing or
 * another. */
const TensorEntry *tmap_find_as(const TensorMap *m, const char *name, const Tensor *want, const char *hint, Err *err);
/* Reads a floating tensor into dst (room for its values in `dtype`: F32, F16, BF16 or F64) after checking its shape,
 * converted from the file's dtype straight to `dtype` with one rounding (convert_dtype): an F64 file read into an F64
 * model keeps every bit, and one read into BF16 is not rounded through F32 first. Errors name the file, the tensor,
 * and expected vs actual shape. */
int tmap_read_as(const TensorMap *m, const char *name, int ndim, const int64_t *shape, DType dtype, void *dst,
                 Err *err);
/* tmap_read_as into F32. */
int tmap_read_f32(const TensorMap *m, const char *name, int ndim, const int64_t *shape, float *dst, Err *err);
/* Adds a key/value metadata pair (kept in order; written by safetensors_write). */
void tmap_set_metadata(TensorMap *m, const char *key, const char *value);
/* The metadata value for key, or NULL. */
const char *tmap_metadata(const TensorMap *m, const char *key);
/* Total element count of all floating-point tensors. */
int64_t tmap_numel(const TensorMap *m);
/* How many values of a floating-point tensor are NaN or infinite (0 for other dtypes). */
int64_t tmap_entry_nonfinite(const TensorEntry *e);
/* 0 where every floating-point tensor's values are finite, else -1 naming the first other one and its count. */
int tmap_check_finite(const TensorMap *m, Err *err);

#endif
