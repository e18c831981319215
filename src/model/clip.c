#include "model/clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/clip_names.h"
#include "io/safetensors.h"
#include "io/tensormap.h"

/* ---- loading -----------------------------------------------------------------
 * Every frozen tensor is a slice of one device allocation. Loading walks a list
 * of (Hugging Face name, destination) pairs twice: once to size the block, once
 * to read each tensor (converted from the file's dtype straight to the model's,
 * rounded once, shape-checked by tmap_read_as) and upload it. The q/k/v
 * projections land in consecutive rows of one [3X, X] matrix so attention runs
 * one GEMM. */

typedef struct Loader {
    Ops *ops;
    const TensorMap *hf;
    char *block;      /* device base (NULL during the sizing pass) */
    size_t offset;    /* elements used so far */
    DType dtype;      /* F32, BF16 (the mixed-precision model) or F64 */
    void *host;       /* staging buffer, in the model's dtype: sized for the largest tensor */
    size_t host_bytes;
    Err *err;
    int failed;
} Loader;

/* Places a tensor of the given shape at the next offset. */
static Tensor place(Loader *ld, const char *name, int ndim, int64_t d0, int64_t d1) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = ld->dtype;
    t.ndim = ndim;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.name = name;
    int64_t n = ndim == 1 ? d0 : d0 * d1;
    t.data = ld->block ? ld->block + ld->offset * dtype_size(ld->dtype) : NULL;
    size_t align = 64 / dtype_size(ld->dtype); /* 64-byte alignment for every tensor (vector loads) */
    ld->offset += ((size_t)n + align - 1) / align * align;
    return t;
}

/* Reads `name` (shape as given in the file) into dst at element offset `at`. */
static void fill(Loader *ld, const char *name, int ndim, const int64_t *file_shape, Tensor *dst, int64_t at) {
    if (!ld->block || ld->failed || ops_is_counting(ld->ops)) return; /* sizing, or a counting context */
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= file_shape[i];
    size_t bytes = (size_t)n * dtype_size(ld->dtype);
    if (bytes > ld->host_bytes) {
        ld->host_bytes = bytes;
        ld->host = xrealloc(ld->host, ld->host_bytes);
    }
    /* read as the model's dtype, not through F32: an F64 file into an F64 model keeps every bit, and F64 into BF16
     * rounds once (through F32 it rounded twice) */
    if (tmap_read_as(ld->hf, name, ndim, file_shape, ld->dtype, ld->host, ld->err) != 0) {
        ld->failed = 1;
        return;
    }
    ops_upload(ld->ops, (char *)dst->data + (size_t)at * dtype_size(ld->dtype), ld->host, bytes);
}

static Tensor param(Loader *ld, const char *name, int ndim, int64_t d0, int64_t d1) {
    Tensor t = place(ld, name, ndim, d0, d1);
    int64_t shape[2] = {d0, d1};
    fill(ld, name, ndim, shape, &t, 0);
    return t;
}

static char *fmt_name(const char *prefix, int layer, const char *suffix) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s.encoder.layers.%d.%s", prefix, layer, suffix);
    return xstrdup(buf);
}

/* Tensor names point into strings the model owns (freed with it). */
static const char *keep(ClipModel *m, char *s) {
    if (m->name_count == m->name_cap) {
        m->name_cap = m->name_cap ? 2 * m->name_cap : 64;
        m->names = xrealloc(m->names, (size_t)m->name_cap * sizeof *m->names);
    }
    m->names[m->name_count++] = s;
    return s;
}

static void load_layer(Loader *ld, ClipModel *names, const char *prefix, int i, int64_t x, ClipLayer *L) {
    L->ln1_g = param(ld, keep(names, fmt_name(prefix, i, "layer_norm1.weight")), 1, x, 0);
    L->ln1_b = param(ld, keep(names, fmt_name(prefix, i, "layer_norm1.bias")), 1, x, 0);
    L->qkv_w = place(ld, keep(names, fmt_name(prefix, i, "self_attn.qkv.weight")), 2, 3 * x, x);
    L->qkv_b = place(ld, keep(names, fmt_name(prefix, i, "self_attn.qkv.bias")), 1, 3 * x, 0);
    static const char *parts[3] = {"q_proj", "k_proj", "v_proj"};
    for (int p = 0; p < 3; p++) {
        char w[64], b[64];
        snprintf(w, sizeof w, "self_attn.%s.weight", parts[p]);
        snprintf(b, sizeof b, "self_attn.%s.bias", parts[p]);
        int64_t ws[2] = {x, x}, bs[1] = {x};
        char *wn = fmt_name(prefix, i, w), *bn = fmt_name(prefix, i, b);
        fill(ld, wn, 2, ws, &L->qkv_w, p * x * x);
        fill(ld, bn, 1, bs, &L->qkv_b, p * x);
        free(wn);
        free(bn);
    }
    L->out_w = param(ld, keep(names, fmt_name(prefix, i, "self_attn.out_proj.weight")), 2, x, x);
    L->out_b = param(ld, keep(names, fmt_name(prefix, i, "self_attn.out_proj.bias")), 1, x, 0);
    L->ln2_g = param(ld, keep(names, fmt_name(prefix, i, "layer_norm2.weight")), 1, x, 0);
    L->ln2_b = param(ld, keep(names, fmt_name(prefix, i, "layer_norm2.bias")), 1, x, 0);
    L->fc1_w = param(ld, keep(names, fmt_name(prefix, i, "mlp.fc1.weight")), 2, 4 * x, x);
    L->fc1_b = param(ld, keep(names, fmt_name(prefix, i, "mlp.fc1.bias")), 1, 4 * x, 0);
    L->fc2_w = param(ld, keep(names, fmt_name(prefix, i, "mlp.fc2.weight")), 2, x, 4 * x);
    L->fc2_b = param(ld, keep(names, fmt_name(prefix, i, "mlp.fc2.bias")), 1, x, 0);
}

static void layout(Loader *ld, ClipModel *m) {
    const ClipConfig *c = &m->cfg;
    if (c->has_vision) {
        int64_t w = c->vision_width, p = c->patch_size, g = clip_grid(c);
        m->patch_w = place(ld, "vision_model.embeddings.patch_embedding.weight", 2, w, 3 * p * p);
        int64_t conv_shape[4] = {w, 3, p, p};
        fill(ld, "vision_model.embeddings.patch_embedding.weight", 4, conv_shape, &m->patch_w, 0);
        m->class_emb = param(ld, "vision_model.embeddings.class_embedding", 1, w, 0);
        m->vis_pos = param(ld, "vision_model.embeddings.position_embedding.weight", 2, g * g + 1, w);
        m->ln_pre_g = param(ld, "vision_model.pre_layrnorm.weight", 1, w, 0);
        m->ln_pre_b = param(ld, "vision_model.pre_layrnorm.bias", 1, w, 0);
        for (int i = 0; i < c->vision_layers; i++) load_layer(ld, m, "vision_model", i, w, &m->vis_layers[i]);
        m->ln_post_g = param(ld, "vision_model.post_layernorm.weight", 1, w, 0);
        m->ln_post_b = param(ld, "vision_model.post_layernorm.bias", 1, w, 0);
        m->vis_proj = param(ld, "visual_projection.weight", 2, c->embed_dim, w);
    }
    if (c->has_text) {
        int64_t t = c->text_width;
        m->tok_emb = param(ld, "text_model.embeddings.token_embedding.weight", 2, c->vocab_size, t);
        m->txt_pos = param(ld, "text_model.embeddings.position_embedding.weight", 2, c->context_length, t);
        for (int i = 0; i < c->text_layers; i++) load_layer(ld, m, "text_model", i, t, &m->txt_layers[i]);
        m->ln_final_g = param(ld, "text_model.final_layer_norm.weight", 1, t, 0);
        m->ln_final_b = param(ld, "text_model.final_layer_norm.bias", 1, t, 0);
        m->txt_proj = param(ld, "text_projection.weight", 2, c->embed_dim, t);
    }
}

static size_t count_params(const ClipConfig *c) {
    size_t count = 0;
    if (c->has_vision) {
        int64_t w = c->vision_width, p = c->patch_size, g = clip_grid(c);
        count += (size_t)(w * 3 * p * p + w + (g * g + 1) * w + 4 * w + c->embed_dim * w);
        count += (size_t)c->vision_layers * (size_t)(12 * w * w + 13 * w);
    }
    if (c->has_text) {
        int64_t t = c->text_width;
        count += (size_t)(c->vocab_size * t + c->context_length * t + 2 * t + c->embed_dim * t);
        count += (size_t)c->text_layers * (size_t)(12 * t * t + 13 * t);
    }
    return count + 1; /* logit_scale */
}

int clip_model_from_hf(Ops *ops, const TensorMap *hf, const ClipConfig *cfg, DType dtype, ClipModel *m, Err *err) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->ops = ops;
    m->dtype = dtype;
    CHECK(dtype == DT_F32 || dtype == DT_BF16 || dtype == DT_F64, "CLIP weights are held in F32, BF16 or F64");
    if (clip_config_validate(cfg, err) != 0) return -1;
    m->vis_layers = xcalloc((size_t)(cfg->vision_layers > 0 ? cfg->vision_layers : 1), sizeof(ClipLayer));
    m->txt_layers = xcalloc((size_t)(cfg->text_layers > 0 ? cfg->text_layers : 1), sizeof(ClipLayer));

    Loader sizing = {.ops = ops, .hf = hf, .err = err, .dtype = dtype};
    layout(&sizing, m);
    for (int i = 0; i < m->name_count; i++) free(m->names[i]);
    m->name_count = 0;

    Loader ld = {.ops = ops, .hf = hf, .err = err, .dtype = dtype};
    ld.block = ops_alloc(ops, sizing.offset * dtype_size(dtype));
    m->params = ld.block;
    layout(&ld, m);
    free(ld.host);
    m->logit_scale = logf(100.0f);
    const TensorEntry *ls = tmap_find(hf, "logit_scale");
    if (!ld.failed && ls && !ops_is_counting(ops)) { /* a counting context has shapes only */
        float v[1] = {0};
        int64_t one[1] = {1};
        /* asked for as [1], which tmap_read_f32 takes for 0-d too; another shape is an error, not a stack overrun
         * (clip_check_shapes refuses it before) */
        if (tmap_read_f32(hf, "logit_scale", 1, one, v, err) != 0) ld.failed = 1;
        m->logit_scale = v[0];
        m->logit_scale_read = 1;
    }
    if (ld.failed) {
        clip_model_free(m);
        return -1;
    }
    m->param_count = count_params(cfg);
    return 0;
}

int clip_model_load(Ops *ops, const char *path, DType dtype, ClipModel *m, Err *err) {
    TensorMap hf;
    ClipConfig cfg;
    /* on a counting context (the planner) nothing reads the tensors' bytes: they are not hashed either (a plan of
     * L/14's 1.7 GB would hash them at every recompute level it tries); the header is checked as ever */
    int checked = safetensors_check_digests(!ops_is_counting(ops));
    int rc = clip_load_hf(path, &hf, &cfg, err);
    safetensors_check_digests(checked);
    if (rc != 0) return -1;
    /* a NaN in the weights made every training step skip (non-finite loss) for an epoch, then failed the evaluation
     * without naming the file; not on a counting context, which reads no values */
    if (!ops_is_counting(ops) && tmap_check_finite(&hf, err) != 0) {
        tmap_free(&hf);
        return -1;
    }
    rc = clip_model_from_hf(ops, &hf, &cfg, dtype, m, err);
    tmap_free(&hf);
    return rc;
}

int clip_text_view_stretched(const ClipModel *src, ClipModel *view, Err *err) {
    const int keep = 20;
    int L = src->cfg.context_length, n = 4 * L - 3 * keep;
    if (!src->cfg.has_text || L <= keep + 1)
        return err_set(err, "positional stretching needs a text tower with more than %d positions", keep + 1);
    if (src->cfg.long_clip) return err_set(err, "this CLIP already has %d text positions (Long-CLIP)", L);
    int64_t T = src->cfg.text_width;
    size_t row = (size_t)T * dtype_size(src->dtype);
    double *old = xmalloc((size_t)L * T * sizeof(double)), *pos = xmalloc((size_t)n * T * sizeof(double));
    ops_download_f64(src->ops, old, src->txt_pos);
    /* new[0:20] = old[0:20]; new[20+4i+k] = (1-k/4) old[20+i] + (k/4) old[21+i] for i < L-21;
     * the last 4 rows continue the last step: new[n-4+k] = old[L-1] + (k/4)(old[L-1] - old[L-2]) */
    for (int r = 0; r < n; r++)
        for (int64_t j = 0; j < T; j++) {
            double v;
            if (r < keep) v = old[(size_t)r * T + j];
            else if (r < n - 4) {
                int i = (r - keep) / 4, k = (r - keep) % 4;
                v = (1 - k / 4.0) * old[(size_t)(keep + i) * T + j] + (k / 4.0) * old[(size_t)(keep + i + 1) * T + j];
            } else {
                int k = r - (n - 4);
                double last = old[(size_t)(L - 1) * T + j], prev = old[(size_t)(L - 2) * T + j];
                v = last + (k / 4.0) * (last - prev);
            }
            pos[(size_t)r * T + j] = v;
        }
    *view = *src;
    view->params = NULL;
    view->names = NULL;
    view->name_count = view->name_cap = 0;
    view->vis_layers = view->txt_layers = NULL;
    size_t layers = (size_t)src->cfg.text_layers * sizeof(ClipLayer);
    view->txt_layers = xmalloc(layers);
    memcpy(view->txt_layers, src->txt_layers, layers);
    view->cfg.context_length = n;
    view->cfg.has_vision = 0; /* a text tower only */
    view->view_owned = ops_alloc(src->ops, (size_t)n * row);
    view->txt_pos.data = view->view_owned;
    view->txt_pos.shape[0] = n;
    ops_upload_f64(src->ops, view->txt_pos, pos);
    free(old), free(pos);
    return 0;
}

void clip_model_free(ClipModel *m) {
    if (m->view_owned) ops_free(m->ops, m->view_owned);
    if (m->params) ops_free(m->ops, m->params);
    for (int i = 0; i < m->name_count; i++) free(m->names[i]);
    free(m->names);
    free(m->vis_layers);
    free(m->txt_layers);
    memset(m, 0, sizeof *m);
}

/* ---- forward -------------------------------------------------------------------- */

static Tensor view(float *data, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = DT_F32;
    t.ndim = ndim;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.shape[2] = d2;
    t.name = name;
    return t;
}

static Tensor no_tensor(void) {
    Tensor t;
    memset(&t, 0, sizeof t);
    return t;
}

size_t clip_block_scratch_floats(int64_t batch, int64_t seq, int64_t width) {
    return (size_t)(9 * batch * seq * width);
}

void clip_block_forward(Ops *ops, const ClipLayer *L, Tensor x, int heads, int causal, Activation act, float *scratch) {
    int64_t batch = x.shape[0], seq = x.shape[1], w = x.shape[2], n = batch * seq;
    Tensor xn = view(scratch, "block.ln_out", 3, batch, seq, w);                 /* [B,S,X] */
    Tensor qkv = view(scratch + n * w, "block.qkv", 3, batch, seq, 3 * w);       /* [B,S,3X] */
    Tensor att = view(scratch + 4 * n * w, "block.attn_out", 3, batch, seq, w);  /* [B,S,X] */
    Tensor hid = view(scratch + 5 * n * w, "block.mlp_hidden", 3, batch, seq, 4 * w); /* [B,S,4X] */
    op_layernorm(ops, xn, no_tensor(), no_tensor(), x, L->ln1_g, L->ln1_b, 1e-5f);
    op_linear(ops, qkv, xn, L->qkv_w, &L->qkv_b);
    op_attention(ops, att, no_tensor(), qkv, heads, causal);
    op_linear(ops, xn, att, L->out_w, &L->out_b);
    op_add(ops, x, x, xn);
    op_layernorm(ops, xn, no_tensor(), no_tensor(), x, L->ln2_g, L->ln2_b, 1e-5f);
    op_linear(ops, hid, xn, L->fc1_w, &L->fc1_b);
    op_activation(ops, act, hid, hid);
    op_linear(ops, xn, hid, L->fc2_w, &L->fc2_b);
    op_add(ops, x, x, xn);
}

static Activation clip_activation(const ClipConfig *c) { return c->gelu_erf ? ACT_GELU_ERF : ACT_QUICKGELU; }

void clip_encode_images(ClipModel *m, const float *images, int batch, float *out) {
    const ClipConfig *c = &m->cfg;
    CHECK(c->has_vision, "this checkpoint has no vision tower");
    CHECK(m->dtype == DT_F32, "clip_encode_images runs F32 models");
    Ops *ops = m->ops;
    int64_t B = batch, R = c->image_size, P = c->patch_size, g = clip_grid(c), S = g * g + 1, W = c->vision_width;
    int64_t E = c->embed_dim;
    size_t img_floats = (size_t)(B * 3 * R * R), patch_floats = (size_t)(B * g * g * 3 * P * P);
    size_t x_floats = (size_t)(B * S * W), scratch_floats = clip_block_scratch_floats(B, S, W);
    /* the output [B,E], then the class-token rows (I32 [B], one float's room each): they were left out, and
     * the 64 spare floats overran for more than 64 images */
    float *dev = ops_alloc(ops, (img_floats + patch_floats + 2 * x_floats + scratch_floats + (size_t)(B * E) +
                                 (size_t)B + 64) *
                                    sizeof(float));
    float *d_img = dev, *d_patch = d_img + img_floats, *d_x = d_patch + patch_floats, *d_tmp = d_x + x_floats;
    float *d_scratch = d_tmp + x_floats, *d_out = d_scratch + scratch_floats;

    ops_upload(ops, d_img, images, img_floats * sizeof(float));
    Tensor img = view(d_img, "images", 4, B, 3, R);
    img.shape[3] = R;
    Tensor patches = view(d_patch, "patches", 2, B * g * g, 3 * P * P, 0);
    op_im2col_patches(ops, patches, img, (int)P);
    Tensor emb = view(d_tmp, "patch_embeddings", 3, B, g * g, W); /* conv1 as a GEMM, no bias */
    Tensor emb2d = view(d_tmp, "patch_embeddings", 2, B * g * g, W, 0);
    op_linear(ops, emb2d, patches, m->patch_w, NULL);
    Tensor x = view(d_x, "vision.x", 3, B, S, W);
    op_prepend_token(ops, x, emb, m->class_emb);
    op_add_broadcast(ops, x, m->vis_pos);
    op_layernorm(ops, x, no_tensor(), no_tensor(), x, m->ln_pre_g, m->ln_pre_b, 1e-5f);
    for (int l = 0; l < c->vision_layers; l++)
        clip_block_forward(ops, &m->vis_layers[l], x, c->vision_heads, 0, clip_activation(c), d_scratch);

    /* Class token of each image -> ln_post -> projection. */
    int32_t *idx = xmalloc((size_t)B * sizeof(int32_t));
    for (int64_t b = 0; b < B; b++) idx[b] = (int32_t)(b * S);
    Tensor d_idx = view((float *)d_out + B * E, "cls_index", 1, B, 0, 0);
    d_idx.dtype = DT_I32;
    ops_upload(ops, d_idx.data, idx, (size_t)B * sizeof(int32_t));
    free(idx);
    Tensor cls = view(d_tmp, "vision.cls", 2, B, W, 0);
    op_gather_rows(ops, cls, x, d_idx);
    op_layernorm(ops, cls, no_tensor(), no_tensor(), cls, m->ln_post_g, m->ln_post_b, 1e-5f);
    Tensor y = view(d_out, "image_embeddings", 2, B, E, 0);
    op_linear(ops, y, cls, m->vis_proj, NULL);
    ops_download(ops, out, d_out, (size_t)(B * E) * sizeof(float));
    ops_free(ops, dev);
}

int clip_eot_position(const int32_t *ids, int context) {
    int best = 0;
    for (int i = 1; i < context; i++)
        if (ids[i] > ids[best]) best = i; /* first maximum, as torch.argmax */
    return best;
}

void clip_encode_texts(ClipModel *m, const int32_t *ids, int batch, float *out) {
    const ClipConfig *c = &m->cfg;
    CHECK(c->has_text, "this checkpoint has no text tower");
    CHECK(m->dtype == DT_F32, "clip_encode_texts runs F32 models");
    Ops *ops = m->ops;
    int64_t B = batch, ctx = c->context_length, Tw = c->text_width, E = c->embed_dim;
    /* Causal mask + pooling at the first EOT: positions after the longest EOT
     * cannot change the result, so the sequence is cut there (exact). */
    int32_t *eot = xmalloc((size_t)B * sizeof(int32_t));
    int64_t S = 1;
    for (int64_t b = 0; b < B; b++) {
        eot[b] = clip_eot_position(ids + b * ctx, (int)ctx);
        if (eot[b] + 1 > S) S = eot[b] + 1;
    }
    int32_t *cut = xmalloc((size_t)(B * S) * sizeof(int32_t));
    for (int64_t b = 0; b < B; b++) {
        memcpy(cut + b * S, ids + b * ctx, (size_t)S * sizeof(int32_t));
        eot[b] += (int32_t)(b * S); /* row index in the flattened [B*S, T] activations */
    }
    size_t x_floats = (size_t)(B * S * Tw), scratch_floats = clip_block_scratch_floats(B, S, Tw);
    size_t int_floats = (size_t)(B * S + B);
    float *dev =
        ops_alloc(ops, (x_floats + scratch_floats + int_floats + (size_t)(B * Tw + B * E) + 64) * sizeof(float));
    float *d_x = dev, *d_scratch = d_x + x_floats, *d_ints = d_scratch + scratch_floats;
    float *d_pool = d_ints + int_floats, *d_out = d_pool + B * Tw;

    Tensor d_ids = view(d_ints, "token_ids", 1, B * S, 0, 0);
    d_ids.dtype = DT_I32;
    Tensor d_eot = view(d_ints + B * S, "eot_rows", 1, B, 0, 0);
    d_eot.dtype = DT_I32;
    ops_upload(ops, d_ids.data, cut, (size_t)(B * S) * sizeof(int32_t));
    ops_upload(ops, d_eot.data, eot, (size_t)B * sizeof(int32_t));
    free(cut);
    free(eot);

    Tensor x = view(d_x, "text.x", 3, B, S, Tw);
    op_embedding(ops, x, m->tok_emb, d_ids);
    Tensor pos = view(m->txt_pos.data, "text.positions", 2, S, Tw, 0);
    op_add_broadcast(ops, x, pos);
    for (int l = 0; l < c->text_layers; l++)
        clip_block_forward(ops, &m->txt_layers[l], x, c->text_heads, 1, clip_activation(c), d_scratch);
    Tensor pooled = view(d_pool, "text.pooled", 2, B, Tw, 0);
    op_gather_rows(ops, pooled, x, d_eot);
    op_layernorm(ops, pooled, no_tensor(), no_tensor(), pooled, m->ln_final_g, m->ln_final_b, 1e-5f);
    Tensor y = view(d_out, "text_embeddings", 2, B, E, 0);
    op_linear(ops, y, pooled, m->txt_proj, NULL);
    ops_download(ops, out, d_out, (size_t)(B * E) * sizeof(float));
    ops_free(ops, dev);
}
