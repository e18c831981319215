// Warp-level tensor-core building blocks shared by the kernels that run their own products
// (attention_flash.cu, adapter.cu): mma.sync.m16n8k16 with BF16 operands and F32 accumulators,
// 64 x 64 BF16 tiles staged in shared memory, and the fragment moves between them.
//
// Fragments (PTX ISA, mma.m16n8k16 with .bf16): lane = 4*g + t (g = lane >> 2, t = lane & 3).
//   A (16 x 16, row): reg0 = A[g][2t..2t+1], reg1 = A[g+8][2t..], reg2 = A[g][2t+8..],
//                     reg3 = A[g+8][2t+8..] (the lower column in the lower 16 bits)
//   B (16 x 8, col):  reg0 = B[2t..2t+1][g], reg1 = B[2t+8..2t+9][g]
//   C (16 x 8, F32):  c0, c1 = C[g][2t], C[g][2t+1]; c2, c3 = C[g+8][2t], C[g+8][2t+1]
// so the C fragments of two adjacent 8-column tiles are, packed to BF16 pairs, the A fragment
// of a 16-column block: one product's result feeds the next without leaving the registers. A B
// operand whose k index runs along a row of memory is one 32-bit load; one whose k runs down a
// column is staged transposed. Staged rows are padded to MMA_LD = 72 BF16 (36 words): the 32
// lanes of a fragment load hit 32 different banks.
#pragma once

#include <cuda_bf16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

constexpr int MMA_T = 64;              // rows and columns of a staged tile
constexpr int MMA_LD = MMA_T + 8;      // its padded row, BF16 elements
constexpr int MMA_TILE = MMA_T * MMA_LD; // elements of one staged tile

static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
static __device__ __forceinline__ uint32_t ld32(const bf16 *p) { return *reinterpret_cast<const uint32_t *>(p); }

// d += a b on the tensor cores (the warp's 32 lanes together).
static __device__ __forceinline__ void mma16816(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#ifdef DFER_CUDA_EMULATED
    emu_mma_bf16_m16n8k16(d, a, b0, b1);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// The A fragments of 16 rows (r0 = first row) x 64 columns of a row-major BF16 matrix in global
// memory (column offset col0, row stride rs elements); rows at or past `rows` read as zeros.
static __device__ __forceinline__ void load_a_rows(uint32_t f[4][4], const bf16 *base, int64_t rs, int64_t col0, int r0,
                                            int rows, int g, int t) {
    const int ra = r0 + g, rb = ra + 8;
#pragma unroll
    for (int c = 0; c < 4; c++) {
        const int64_t col = col0 + 16 * c + 2 * t;
        f[c][0] = ra < rows ? ld32(base + ra * rs + col) : 0u;
        f[c][1] = rb < rows ? ld32(base + rb * rs + col) : 0u;
        f[c][2] = ra < rows ? ld32(base + ra * rs + col + 8) : 0u;
        f[c][3] = rb < rows ? ld32(base + rb * rs + col + 8) : 0u;
    }
}

// Stages rows [r0, r0+64) x 64 columns (offset col0) of a row-major BF16 matrix into shared
// memory: `as_is` [row][col] and/or `transposed` [col][row] (either may be NULL), rows past
// `rows` and columns from `cols` on (a multiple of 8) as zeros. 16-byte global loads (rs and col0
// multiples of 8 elements).
static __device__ void stage_tile(bf16 *as_is, bf16 *transposed, const bf16 *base, int64_t rs, int64_t col0, int r0,
                                  int rows, int cols = MMA_T) {
    // As is only: eight consecutive threads read one row's 128 bytes (coalesced). With a transposed
    // copy: consecutive threads take consecutive rows (e = chunk * 64 + row), so a warp's 16-bit
    // transposed stores fall into consecutive words of one shared row, free of bank conflicts.
    const bool by_rows = transposed == NULL;
    for (int e = threadIdx.x; e < MMA_T * (MMA_T / 8); e += blockDim.x) {
        const int r = by_rows ? e / (MMA_T / 8) : e % MMA_T, ch = by_rows ? e % (MMA_T / 8) : e / MMA_T, i = r0 + r;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (i < rows && ch * 8 < cols) v = *reinterpret_cast<const uint4 *>(base + i * rs + col0 + ch * 8);
        if (as_is) *reinterpret_cast<uint4 *>(as_is + r * MMA_LD + ch * 8) = v;
        if (transposed) {
            const bf16 *h = reinterpret_cast<const bf16 *>(&v);
#pragma unroll
            for (int u = 0; u < 8; u++) transposed[(ch * 8 + u) * MMA_LD + r] = h[u];
        }
    }
}

// acc[j] (16 x 8 tiles j = 0..7: 16 rows x 64 columns) += A (16 x 64, fragments a) times the
// transpose of the staged tile `rows_tile` [column][k] (MMA_LD pitch): B[k][n] = rows_tile[n][k].
static __device__ __forceinline__ void mma_row_tile(float acc[8][4], const uint32_t a[4][4], const bf16 *rows_tile,
                                                    int g, int t) {
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const bf16 *p = rows_tile + (8 * j + g) * MMA_LD + 16 * c + 2 * t;
            mma16816(acc[j], a[c], ld32(p), ld32(p + 8));
        }
}

// The C fragments of a 16 x 64 F32 block as the A fragments of its BF16 rounding.
static __device__ __forceinline__ void c_to_a(uint32_t a[4][4], const float c[8][4]) {
#pragma unroll
    for (int k = 0; k < 4; k++) {
        a[k][0] = pack2(c[2 * k][0], c[2 * k][1]);
        a[k][1] = pack2(c[2 * k][2], c[2 * k][3]);
        a[k][2] = pack2(c[2 * k + 1][0], c[2 * k + 1][1]);
        a[k][3] = pack2(c[2 * k + 1][2], c[2 * k + 1][3]);
    }
}

static __device__ __forceinline__ void zero8x4(float a[8][4]) {
#pragma unroll
    for (int j = 0; j < 8; j++) a[j][0] = a[j][1] = a[j][2] = a[j][3] = 0.0f;
}

