// The shape of one attention call, shared by the paths that take it (attention.cu: the
// contract, the dispatch and the tiled path; attention_gemm.cu: the gemm path):
// qkv [B,S,3W], W = H*Dh; scores scaled by 1/sqrt(Dh), causal masks key j > query i.
#pragma once

#include <math.h>
#include <stdint.h>

struct AttnShape {
    int seq, heads, hd;
    int64_t width; // H * Dh
    float scale;
    int causal;
};

static inline AttnShape attn_shape_of(int64_t seq, int heads, int hd, int causal) {
    AttnShape a;
    a.seq = (int)seq;
    a.heads = heads;
    a.hd = hd;
    a.width = (int64_t)heads * hd;
    a.scale = 1.0f / sqrtf((float)hd);
    a.causal = causal;
    return a;
}
