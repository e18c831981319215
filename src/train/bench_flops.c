/* The model FLOPs of a training step, counted from the architecture (matrix products only,
 * 2 FLOPs per multiply-add): what `dfer bench` divides by the step time for MFU. Declared in
 * train/bench.h; tests/bench_cli.sh checks it against an independent recount. */
#include <string.h>

#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "model/layers.h"
#include "train/bench.h"
#include "train/job_model.h"

/* ---- model FLOPs ------------------------------------------------------------------------------ */

/* y[n,out] = x[n,in] W^T: forward 2 n in out; the input gradient and the weight gradient one product each when
 * needed. */
static void linear(BenchFlops *f, double n, double in, double out, int need_input_grad, int need_weight_grad) {
    double p = 2.0 * n * in * out;
    f->forward += p;
    if (need_input_grad) f->backward_input += p;
    if (need_weight_grad) f->backward_weight += p;
}

/* Attention over seqs sequences of len tokens, width = heads x head size: q k^T and p v forward (2 len^2 width
 * FLOPs each per sequence), dq, dk, dv, dp backward. */
static void attention(BenchFlops *f, double seqs, double len, double width, int need_grad) {
    double p = 2.0 * seqs * len * len * width;
    f->forward += 2 * p;
    if (need_grad) f->backward_input += 4 * p;
    if (need_grad && f->attention_recomputes) f->recompute += p; /* q k^T again (CUDA keeps no probabilities) */
}

/* An adapter x -> fc2(gelu(fc1 x)), both trainable; fc1's input gradient only when the gradient goes on below.
 * Its backward computes fc1 x again (recompute). */
static void adapter(BenchFlops *f, double n, double width, double hidden, int input_grad) {
    linear(f, n, width, hidden, input_grad, 1);
    linear(f, n, hidden, width, 1, 1);
    f->recompute += 2.0 * n * width * hidden;
}

/* A pre-LN transformer block's products on seqs x len tokens of width X with MLP width mlp. */
static void block(BenchFlops *f, double seqs, double len, double X, double mlp, int input_grad, int weight_grad) {
    double n = seqs * len;
    linear(f, n, X, 3 * X, input_grad, weight_grad);
    attention(f, seqs, len, X, input_grad);
    linear(f, n, X, X, input_grad, weight_grad);
    linear(f, n, X, mlp, input_grad, weight_grad);
    linear(f, n, mlp, X, input_grad, weight_grad);
}

/* One block of FineCLIPER's AIM video encoder on N = B x T frames of S tokens (aim_vision.h). */
static void aim_block(BenchFlops *f, double B, double T, double S, double W, int adapters, double hidden, int train) {
    double N = B * T, n = N * S;
    if (!adapters) {
        block(f, N, S, W, 4 * W, train, 0);
        return;
    }
    /* temporal: the frozen attention over the T frames of each token position, then its adapter */
    linear(f, n, W, 3 * W, train, 0);
    attention(f, B * S, T, W, train);
    linear(f, n, W, W, train, 0);
    if (train) adapter(f, n, W, hidden, 1);
    else linear(f, n, W, hidden, 0, 0), linear(f, n, hidden, W, 0, 0);
    /* spatial: the same attention over the S tokens of each frame, then its adapter */
    linear(f, n, W, 3 * W, train, 0);
    attention(f, N, S, W, train);
    linear(f, n, W, W, train, 0);
    if (train) adapter(f, n, W, hidden, 1);
    else linear(f, n, W, hidden, 0, 0), linear(f, n, hidden, W, 0, 0);
    /* MLP and the MLP adapter beside it */
    linear(f, n, W, 4 * W, train, 0);
    linear(f, n, 4 * W, W, train, 0);
    if (train) adapter(f, n, W, hidden, 1);
    else linear(f, n, W, hidden, 0, 0), linear(f, n, hidden, W, 0, 0);
}

/* What a training step's backward runs again at a recompute level (layers.h's Recompute) for one ViT block on n
 * tokens of width W with `attentions` attention sublayers: qkv each attention's qkv product, qkv-fc1 fc1's too,
 * blocks the block's forward (block_forward) but for the last block, whose activations the forward left in place. */
static void recomputed(BenchFlops *f, int recompute, int last_block, double n, double W, int attentions,
                       double block_forward) {
    if (recompute == RECOMPUTE_QKV || recompute == RECOMPUTE_QKV_FC1) f->recompute += attentions * 2.0 * n * W * 3 * W;
    if (recompute == RECOMPUTE_QKV_FC1) f->recompute += 2.0 * n * W * 4 * W;
    if (recompute == RECOMPUTE_BLOCKS && !last_block) f->recompute += block_forward;
}

/* The AIM video encoder on B clips of T frames. The trainable temporal embedding enters before the first block,
 * so the gradient crosses every block; nothing below it (patch embedding) needs one. Training with a recompute
 * level runs products again in the backward (layers.h's Recompute): counted as recompute. */
static void aim_pass(BenchFlops *f, const ClipConfig *c, double B, double T, int adapters, double hidden, int train,
                     int recompute) {
    double g = clip_grid(c), S = clip_vision_tokens(c), W = c->vision_width, n = B * T * S;
    linear(f, B * T * g * g, 3.0 * c->patch_size * c->patch_size, W, 0, 0);
    for (int l = 0; l < c->vision_layers; l++) {
        aim_block(f, B, T, S, W, adapters, hidden, train);
        if (!train) continue;
        BenchFlops again = {0}; /* the temporal attention only with adapters */
        aim_block(&again, B, T, S, W, adapters, hidden, 0);
        recomputed(f, recompute, l == c->vision_layers - 1, n, W, adapters ? 2 : 1, again.forward);
    }
    linear(f, B * T, W, c->embed_dim, train, 0); /* visual projection of each frame's class token */
}

enum { TEXT_FROZEN = 0, TEXT_ADAPTERS = 1, TEXT_INPUT = 2 };

/* A text tower on seqs sequences of len tokens (text_tower.h). TEXT_ADAPTERS: a trainable adapter after every
 * block; the first block lies below every trainable tensor (no backward), the first adapter's fc1 needs no input
 * gradient. TEXT_INPUT: frozen blocks, gradient to the input embeddings (DFER-CLIP's contexts). */
static void text_pass(BenchFlops *f, double seqs, double len, double X, int layers, double E, double hidden, int mode) {
    for (int l = 0; l < layers; l++) {
        int grad = mode == TEXT_INPUT || (mode == TEXT_ADAPTERS && l > 0);
        block(f, seqs, len, X, 4 * X, grad, 0);
        if (mode == TEXT_ADAPTERS) adapter(f, seqs * len, X, hidden, l > 0);
    }
    linear(f, seqs, X, E, mode != TEXT_FROZEN, 0); /* text projection of the pooled rows */
}

void bench_flops(const BenchShape *s, BenchFlops *f) {
    memset(f, 0, sizeof *f);
    f->attention_recomputes = s->attention_recomputes;
    const ClipConfig *c = &s->clip;
    double B = s->batch, T = s->frames, C = s->classes, E = c->embed_dim;
    if (s->finecliper) {
        int div = s->bottleneck_divisor;
        if (s->low) aim_pass(f, c, B, T, s->video_adapters, c->vision_width / div, 1, s->recompute);
        for (int k = 0; k < s->mid_streams; k++) {
            /* the shared middle-level encoder */
            aim_pass(f, c, B, T, 1, c->vision_width / s->mid_high_divisor, 1, s->recompute);
            linear(f, B, E, E, 1, 1);                          /* the stream's projection */
        }
        if (s->high) {
            text_pass(f, B, s->desc_len, s->desc_width, s->desc_layers, s->desc_embed,
                      s->desc_width / s->mid_high_divisor, TEXT_ADAPTERS);
            linear(f, B, s->desc_embed, E, 1, 1); /* projector */
        }
        int mode = s->text_adapters ? TEXT_ADAPTERS : TEXT_FROZEN;
        text_pass(f, C, s->len_pos, c->text_width, c->text_layers, E, c->text_width / div, mode);
        if (s->use_negative) text_pass(f, C, s->len_neg, c->text_width, c->text_layers, E, c->text_width / div, mode);
        return;
    }
    /* DFER-CLIP: the image encoder (fine-tuned: every weight gets a gradient, the input gradient crosses every
     * block down to the patch embedding, whose weight gradient is the last product), the temporal transformer
     * (all trainable; E/64 heads, MLP 2E; none: the mean of the frames, no product), the frozen text tower with the
     * contexts at its input (none: no backward) */
    int ft = s->train_image_encoder;
    double g = clip_grid(c), S = clip_vision_tokens(c), W = c->vision_width, N = B * T;
    linear(f, N * g * g, 3.0 * c->patch_size * c->patch_size, W, 0, ft);
    for (int l = 0; l < c->vision_layers; l++) {
        block(f, N, S, W, 4 * W, ft, ft);
        if (!ft) continue;
        BenchFlops again = {0};
        block(&again, N, S, W, 4 * W, 0, 0);
        recomputed(f, s->recompute, l == c->vision_layers - 1, N * S, W, 1, again.forward);
    }
    linear(f, N, W, E, ft, ft);
    for (int l = 0; l < s->temporal_layers; l++) block(f, B, T + 1, E, 2 * E, 1, 1);
    text_pass(f, C, s->len_text, c->text_width, c->text_layers, E, 0, s->contexts ? TEXT_INPUT : TEXT_FROZEN);
}

void bench_flops_passes(const BenchShape *s, int batch, int micro_batch, BenchFlops *f) {
    memset(f, 0, sizeof *f);
    f->attention_recomputes = s->attention_recomputes;
    int mb = micro_batch > 0 && micro_batch < batch ? micro_batch : batch;
    for (int at = 0; at < batch; at += mb) {
        BenchShape p = *s;
        p.batch = batch - at < mb ? batch - at : mb;
        BenchFlops one;
        bench_flops(&p, &one);
        f->forward += one.forward, f->backward_input += one.backward_input, f->backward_weight += one.backward_weight;
        f->recompute += one.recompute;
    }
}

BenchShape bench_shape(const JobModel *m, int batch) {
    int finecliper = !strcmp(m->method, "finecliper");
    BenchShape sh = {.clip = m->clip.cfg, .finecliper = finecliper, .batch = batch, .frames = m->frames,
                     .classes = m->num_classes,
                     .attention_recomputes = ops_attention_recomputes_scores(ops_backend(m->ops))};
    if (finecliper) {
        const FineCliper *f = m->impl;
        sh.low = f->cfg.low, sh.video_adapters = f->cfg.video_adapters, sh.text_adapters = f->cfg.text_adapters;
        sh.use_negative = f->cfg.use_negative, sh.bottleneck_divisor = f->cfg.bottleneck_divisor;
        sh.mid_high_divisor = finecliper_mid_high_divisor(&f->cfg);
        sh.mid_streams =
            (f->cfg.mid_streams & FC_MID_PARSING ? 1 : 0) + (f->cfg.mid_streams & FC_MID_LANDMARKS ? 1 : 0);
        sh.high = f->cfg.high;
        sh.recompute = f->cfg.recompute;
        sh.len_pos = (int)f->text_pos.len, sh.len_neg = f->cfg.use_negative ? (int)f->text_neg.len : 0;
        if (sh.high) {
            sh.desc_len = f->cfg.description_length, sh.desc_width = m->desc_clip.cfg.text_width;
            sh.desc_layers = m->desc_clip.cfg.text_layers, sh.desc_embed = m->desc_clip.cfg.embed_dim;
        }
    } else {
        const DferClip *d = m->impl;
        sh.train_image_encoder = d->cfg.train_image_encoder, sh.len_text = (int)d->text.len;
        sh.recompute = d->cfg.recompute;
        sh.temporal_layers = d->cfg.temporal_layers, sh.contexts = d->cfg.contexts;
    }
    return sh;
}
