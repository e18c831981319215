#include "core/tensor.h"

#include "core/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} k_dtypes[DT_COUNT] = {
    [DT_F32] = {"F32", 4}, [DT_F16] = {"F16", 2}, [DT_BF16] = {"BF16", 2}, [DT_F64] = {"F64", 8},
    [DT_I8] = {"I8", 1},   [DT_U8] = {"U8", 1},   [DT_I16] = {"I16", 2},   [DT_I32] = {"I32", 4},
    [DT_I64] = {"I64", 8}, [DT_BOOL] = {"BOOL", 1},
};

size_t dtype_size(DType t) { return (unsigned)t < DT_COUNT ? k_dtypes[t].size : 0; }
const char *dtype_name(DType t) { return (unsigned)t < DT_COUNT ? k_dtypes[t].name : "?"; }

int dtype_from_name(const char *s, DType *out) {
    for (int i = 0; i < DT_COUNT; i++)
        if (!strcmp(s, k_dtypes[i].name)) {
            *out = (DType)i;
            return 0;
        }
    return -1;
}

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t tensor_bytes(const Tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

Tensor tensor_make(void *data, DType dtype, int ndim, ...) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.ndim = ndim;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < TENSOR_MAX_DIMS; i++) t.shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    return t;
}

Tensor tensor_reshape(Tensor t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t before = tensor_numel(&t);
    int64_t dims[4] = {d0, d1, d2, d3};
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = dims[i];
    CHECK(tensor_numel(&t) == before, "reshape of %s changes its size", t.name ? t.name : "(unnamed)");
    return t;
}

Tensor tensor_none(void) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = 1;
    return t;
}

const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
    return buf;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow to inf */
    if (absx < 0x38800000u) {                                   /* subnormal or zero in f16 */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e; /* 14 + (113 - e) */
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = absx + 0xfff + ((absx >> 13) & 1) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

float bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

float f64_to_f32_odd(double d) {
    float f = (float)d;
    if (isnan(d) || (double)f == d) return f;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    /* f and its neighbour towards d bracket d; one of them is odd */
    if (!(bits & 1)) f = nextafterf(f, d > (double)f ? INFINITY : -INFINITY);
    return f;
}

int convert_to_f32(float *dst, const void *src, DType src_dtype, size_t n) {
    switch (src_dtype) {
    case DT_F32: memcpy(dst, src, n * 4); return 0;
    case DT_F16: {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        return 0;
    }
    case DT_BF16: {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
        return 0;
    }
    case DT_F64: {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    }
    default: return -1;
    }
}

int convert_from_f32(void *dst, DType dst_dtype, const float *src, size_t n) {
    uint8_t *p = dst;
    switch (dst_dtype) {
    case DT_F32: memcpy(dst, src, n * 4); return 0;
    case DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = f32_to_f16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return 0;
    case DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return 0;
    default: return -1;
    }
}

int dtype_is_floating(DType t) { return t == DT_F32 || t == DT_F16 || t == DT_BF16 || t == DT_F64; }

int convert_dtype(void *dst, DType dst_dtype, const void *src, DType src_dtype, size_t n) {
    if (!dtype_is_floating(dst_dtype) || !dtype_is_floating(src_dtype)) return -1;
    size_t src_size = dtype_size(src_dtype), dst_size = dtype_size(dst_dtype);
    if (dst_dtype == src_dtype) {
        if (n) memcpy(dst, src, n * src_size);
        return 0;
    }
    const uint8_t *in = src;
    uint8_t *out = dst;
    float chunk[256]; /* staged through F32 a chunk at a time: no allocation for tensors of any size */
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 256 ? n - done : 256;
        const uint8_t *from = in + done * src_size;
        if (src_dtype == DT_F64) {
            for (size_t i = 0; i < k; i++) {
                double d;
                memcpy(&d, from + 8 * i, 8);
                /* F32 is d rounded once; F16/BF16 round F32's odd neighbour once more, which is d rounded once */
                chunk[i] = dst_dtype == DT_F32 ? (float)d : f64_to_f32_odd(d);
            }
        } else {
            convert_to_f32(chunk, from, src_dtype, k); /* exact: F16 and BF16 are F32 values */
        }
        if (dst_dtype == DT_F64) {
            for (size_t i = 0; i < k; i++) {
                double d = chunk[i];
                memcpy(out + 8 * (done + i), &d, 8);
            }
        } else {
            convert_from_f32(out + done * dst_size, dst_dtype, chunk, k);
        }
        done += k;
    }
    return 0;
}
