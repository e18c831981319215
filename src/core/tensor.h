/* Tensors: a pointer, a dtype and a row-major contiguous shape. A Tensor does
 * not own its memory; models keep their buffers in a few large blocks
 * (parameters, gradients, activations) and hand out views. The name is for
 * error messages ("text_model.encoder.layers.3.mlp.fc1.weight"). */
#ifndef DFER_CORE_TENSOR_H
#define DFER_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define TENSOR_MAX_DIMS 6

typedef enum DType {
    DT_F32 = 0,
    DT_F16,
    DT_BF16,
    DT_F64,
    DT_I8,
    DT_U8,
    DT_I16,
    DT_I32,
    DT_I64,
    DT_BOOL,
    DT_COUNT
} DType;

size_t dtype_size(DType t);
const char *dtype_name(DType t);          /* safetensors spelling: "F32", "BF16", ... */
int dtype_from_name(const char *s, DType *out); /* 0 on success */
int dtype_is_floating(DType t); /* F32, F16, BF16 or F64: what convert_dtype converts */

typedef struct Tensor {
    void *data;
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const char *name;
} Tensor;

int64_t tensor_numel(const Tensor *t);
size_t tensor_bytes(const Tensor *t);
/* Builds a tensor view; ndim values follow. */
Tensor tensor_make(void *data, DType dtype, int ndim, ...);
/* A tensor view with a new shape over the same data (numel must agree: fatal otherwise). */
Tensor tensor_reshape(Tensor t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* A tensor with data NULL: "not computed" / "frozen". */
Tensor tensor_none(void);
/* Formats "[a, b, c]" into buf. */
const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

/* Scalar conversions (round-to-nearest-even for narrowing). */
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);
/* d to f32 rounded to odd (an inexact result takes the neighbour whose last bit is 1): narrowing that on to F16 or
 * BF16 (round-to-nearest-even) then rounds d once, as a direct conversion would; a plain (float)d rounds twice and
 * can land a tie that d was not (1 + 2^-11 + 2^-40 became F16 1, not 1 + 2^-10). */
float f64_to_f32_odd(double d);
/* Converts n elements of src (F32/F16/BF16/F64) to f32. Returns -1 for other dtypes. */
int convert_to_f32(float *dst, const void *src, DType src_dtype, size_t n);
/* Converts n f32 values to dst_dtype (F32/F16/BF16). Returns -1 for other dtypes. */
int convert_from_f32(void *dst, DType dst_dtype, const float *src, size_t n);
/* Converts n values between floating dtypes (F32/F16/BF16/F64) with one rounding: the same dtype is copied
 * bitwise, widening is exact, F64 to F32 is (float), and F64 to F16/BF16 goes through f64_to_f32_odd (through a
 * plain float it rounds twice: 1 + 2^-8 + 2^-40 became BF16 1, not 1 + 2^-7). Returns -1 for other dtypes. */
int convert_dtype(void *dst, DType dst_dtype, const void *src, DType src_dtype, size_t n);

#endif
