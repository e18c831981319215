/* The CLIP name layer (clip.md §1, §3, §7) on random tiny models from
 * clip_init_random: HF <-> OpenAI both ways bit-exactly, the q/k/v split and the
 * two transposes element by element, prefixes and open_clip / sub-model /
 * Long-CLIP variants, config inference for every preset (B/32 = 151,277,313
 * parameters), the initialisation's statistics, and missing or mis-shaped
 * tensors reported with the file, the tensor and both shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/clip_names.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "testlib.h"

static void tiny_model(TensorMap *hf, ClipConfig *cfg, uint64_t seed) {
    Err err;
    EXPECT(clip_config_preset("tiny", cfg, &err) == 0, "%s", err.msg);
    EXPECT(clip_init_random(cfg, seed, hf, &err) == 0, "%s", err.msg);
    int n = clip_perturb_for_tests(hf, seed, 0.1f);
    /* per layer 6 biases (q, k, v, out, fc1, fc2) + 2 layer norms x (weight, bias);
     * plus the pre/post/final layer norms (weight, bias each) */
    int expect = (cfg->vision_layers + cfg->text_layers) * 10 + 6;
    EXPECT(n == expect, "perturbed %d bias/norm tensors, expected %d", n, expect);
}

static int same_tensor(const TensorEntry *a, const TensorEntry *b) {
    if (!a || !b || a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k]) return 0;
    return !a->nbytes || !memcmp(a->data, b->data, a->nbytes);
}

static void expect_same_maps(const TensorMap *a, const TensorMap *b, const char *what) {
    EXPECT(a->count == b->count, "%s: %d vs %d tensors", what, a->count, b->count);
    int bad = 0;
    for (int i = 0; i < a->count; i++)
        if (!same_tensor(&a->items[i], tmap_find(b, a->items[i].name)) && bad++ < 5)
            EXPECT(0, "%s: tensor %s differs or is missing", what, a->items[i].name);
}

static float at(const TensorEntry *e, int64_t i) {
    float v;
    memcpy(&v, e->data + 4 * (size_t)i, 4);
    return v;
}

static void test_hf_openai_both_ways(void) {
    ClipConfig cfg;
    TensorMap hf, oa, back, oa2;
    Err err;
    tiny_model(&hf, &cfg, 5);
    EXPECT(clip_names_hf_to_openai(&hf, &oa, &err) == 0, "%s", err.msg);
    /* OpenAI: 12 tensors per layer instead of HF's 16 */
    EXPECT(oa.count == hf.count - 4 * (cfg.vision_layers + cfg.text_layers), "%d OpenAI tensors for %d HF", oa.count,
           hf.count);
    const TensorEntry *ip = tmap_find(&oa, "visual.transformer.resblocks.1.attn.in_proj_weight");
    const TensorEntry *q = tmap_find(&hf, "vision_model.encoder.layers.1.self_attn.q_proj.weight");
    const TensorEntry *v = tmap_find(&hf, "vision_model.encoder.layers.1.self_attn.v_proj.weight");
    const TensorEntry *ib = tmap_find(&oa, "transformer.resblocks.0.attn.in_proj_bias");
    const TensorEntry *kb = tmap_find(&hf, "text_model.encoder.layers.0.self_attn.k_proj.bias");
    int64_t X = cfg.vision_width, T = cfg.text_width;
    EXPECT(ip && q && v && ip->shape[0] == 3 * X && ip->shape[1] == X, "in_proj_weight is [3X, X]");
    if (ip && q && v) {
        EXPECT(!memcmp(ip->data, q->data, q->nbytes), "in_proj rows 0..X-1 are q");
        EXPECT(!memcmp(ip->data + 2 * q->nbytes, v->data, v->nbytes), "in_proj rows 2X..3X-1 are v");
    }
    EXPECT(ib && kb && !memcmp(ib->data + kb->nbytes, kb->data, kb->nbytes), "in_proj_bias middle third is k");
    const TensorEntry *proj = tmap_find(&oa, "visual.proj"), *vp = tmap_find(&hf, "visual_projection.weight");
    const TensorEntry *tp = tmap_find(&oa, "text_projection"), *tph = tmap_find(&hf, "text_projection.weight");
    EXPECT(proj && proj->shape[0] == X && proj->shape[1] == cfg.embed_dim, "visual.proj is [W, E]");
    EXPECT(tp && tp->shape[0] == T && tp->shape[1] == cfg.embed_dim, "text_projection is [T, E]");
    if (proj && vp && tp && tph) {
        int ok = 1;
        for (int64_t i = 0; i < X && ok; i++)
            for (int64_t j = 0; j < cfg.embed_dim && ok; j++) ok = at(proj, i * cfg.embed_dim + j) == at(vp, j * X + i);
        EXPECT(ok, "visual.proj[i][j] == visual_projection.weight[j][i]");
        ok = 1;
        for (int64_t i = 0; i < T && ok; i++)
            for (int64_t j = 0; j < cfg.embed_dim && ok; j++) ok = at(tp, i * cfg.embed_dim + j) == at(tph, j * T + i);
        EXPECT(ok, "text_projection[i][j] == text_projection.weight[j][i]");
    }
    EXPECT(tmap_find(&oa, "transformer.resblocks.0.mlp.c_fc.bias") && tmap_find(&oa, "visual.ln_pre.weight") &&
               tmap_find(&oa, "positional_embedding") && tmap_find(&oa, "logit_scale") &&
               !tmap_find(&oa, "text_projection.weight"),
           "OpenAI names present");
    /* HF -> OpenAI -> HF and OpenAI -> HF -> OpenAI are both the identity, bit for bit */
    NamingScheme scheme = NAMES_HF;
    EXPECT(clip_names_to_hf_scheme(&oa, &back, &scheme, &err) == 0 && scheme == NAMES_OPENAI, "%s", err.msg);
    expect_same_maps(&hf, &back, "HF -> OpenAI -> HF");
    EXPECT(clip_names_hf_to_openai(&back, &oa2, &err) == 0, "%s", err.msg);
    expect_same_maps(&oa, &oa2, "OpenAI -> HF -> OpenAI");
    /* HF names pass through unchanged */
    TensorMap hf2;
    EXPECT(clip_names_to_hf_scheme(&hf, &hf2, &scheme, &err) == 0 && scheme == NAMES_HF, "%s", err.msg);
    expect_same_maps(&hf, &hf2, "HF -> HF");
    tmap_free(&hf2), tmap_free(&oa2), tmap_free(&back), tmap_free(&oa), tmap_free(&hf);
}

/* Renames every tensor of src with a prefix (and optional open_clip text nesting). */
static void renamed(const TensorMap *src, TensorMap *dst, const char *prefix, int nest_text) {
    Err err;
    tmap_init(dst, "renamed.safetensors");
    for (int i = 0; i < src->count; i++) {
        const TensorEntry *e = &src->items[i];
        char n[400];
        int text = nest_text && strncmp(e->name, "visual.", 7) && strcmp(e->name, "logit_scale");
        snprintf(n, sizeof n, "%s%s%s", prefix, text ? "text." : "", e->name);
        EXPECT(tmap_add(dst, n, e->dtype, e->ndim, e->shape, e->data, 0, &err) == 0, "%s", err.msg);
    }
}

static void test_prefixes_and_variants(void) {
    ClipConfig cfg, got;
    TensorMap hf, oa, pre, back;
    Err err;
    tiny_model(&hf, &cfg, 7);
    EXPECT(clip_names_hf_to_openai(&hf, &oa, &err) == 0, "%s", err.msg);
    static const char *prefixes[] = {"module.", "model.", "state_dict.", "module.model.", "_orig_mod."};
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
        renamed(&oa, &pre, prefixes[p], 0);
        EXPECT(clip_names_to_hf(&pre, &back, &err) == 0, "%s: %s", prefixes[p], err.msg);
        expect_same_maps(&hf, &back, prefixes[p]);
        tmap_free(&back), tmap_free(&pre);
    }
    /* open_clip CustomTextCLIP: text tower under "text.", projection as a Linear [E, T] */
    renamed(&oa, &pre, "", 1);
    TensorMap oc;
    tmap_init(&oc, "open_clip.safetensors");
    for (int i = 0; i < pre.count; i++) {
        const TensorEntry *e = &pre.items[i];
        if (!strcmp(e->name, "text.text_projection")) continue;
        tmap_add(&oc, e->name, e->dtype, e->ndim, e->shape, e->data, 0, &err);
    }
    const TensorEntry *lin = tmap_find(&hf, "text_projection.weight");
    tmap_add(&oc, "text.text_projection.weight", lin->dtype, 2, lin->shape, lin->data, 0, &err);
    /* and the buffers that must be ignored */
    static const float dummy[4] = {0};
    int64_t s1[2] = {1, 1};
    tmap_add(&oc, "text.attn_mask", DT_F32, 2, s1, dummy, 0, &err);
    tmap_add(&oc, "input_resolution", DT_F32, 0, NULL, dummy, 0, &err);
    EXPECT(clip_names_to_hf(&oc, &back, &err) == 0, "open_clip: %s", err.msg);
    expect_same_maps(&hf, &back, "open_clip CustomTextCLIP");
    tmap_free(&back), tmap_free(&oc), tmap_free(&pre);

    /* HF sub-models: a CLIPTextModelWithProjection copy inside a diffusion checkpoint */
    TensorMap sub;
    tmap_init(&sub, "sd.safetensors");
    int64_t pid_shape[2] = {1, 77};
    static const int64_t pids[77] = {0};
    for (int i = 0; i < hf.count; i++) {
        const TensorEntry *e = &hf.items[i];
        if (strncmp(e->name, "text_", 5)) continue;
        char n[400];
        snprintf(n, sizeof n, "cond_stage_model.transformer.%s", e->name);
        tmap_add(&sub, n, e->dtype, e->ndim, e->shape, e->data, 0, &err);
    }
    tmap_add(&sub, "cond_stage_model.transformer.text_model.embeddings.position_ids", DT_I64, 2, pid_shape, pids, 0,
             &err);
    EXPECT(clip_names_to_hf(&sub, &back, &err) == 0 && !tmap_find(&back, "text_model.embeddings.position_ids"),
           "text sub-model: %s", err.msg);
    EXPECT(clip_infer_config(&back, &got, &err) == 0 && got.has_text && !got.has_vision && got.text_width == 128 &&
               got.text_layers == 2 && got.embed_dim == 128,
           "text-only config inferred: %s", err.msg);
    EXPECT(clip_check_shapes(&back, &got, &err) == 0, "%s", err.msg);
    tmap_free(&back), tmap_free(&sub);
    /* a vision-only model */
    tmap_init(&sub, "vision.safetensors");
    for (int i = 0; i < hf.count; i++)
        if (!strncmp(hf.items[i].name, "vision_", 7) || !strncmp(hf.items[i].name, "visual_", 7))
            tmap_add(&sub, hf.items[i].name, hf.items[i].dtype, hf.items[i].ndim, hf.items[i].shape, hf.items[i].data,
                     0, &err);
    EXPECT(clip_names_to_hf(&sub, &back, &err) == 0 && clip_infer_config(&back, &got, &err) == 0 && got.has_vision &&
               !got.has_text && got.image_size == 32 && got.patch_size == 8 && got.vision_layers == 2,
           "vision-only config inferred: %s", err.msg);
    tmap_free(&back), tmap_free(&sub);
    tmap_free(&oa), tmap_free(&hf);
}

/* Long-CLIP: positional_embedding and positional_embedding_res [248, T] merge to
 * rows 0..19 from the first and 20..247 from the second. */
static void test_long_clip(void) {
    ClipConfig cfg, got;
    TensorMap hf, oa, lc, back;
    Err err;
    tiny_model(&hf, &cfg, 11);
    EXPECT(clip_names_hf_to_openai(&hf, &oa, &err) == 0, "%s", err.msg);
    int64_t T = cfg.text_width, shape[2] = {248, T};
    float *pos = xmalloc(248 * (size_t)T * 4), *res = xmalloc(248 * (size_t)T * 4);
    for (int64_t i = 0; i < 248 * T; i++) pos[i] = (float)i, res[i] = -(float)i - 1;
    tmap_init(&lc, "longclip.pt");
    for (int i = 0; i < oa.count; i++)
        if (strcmp(oa.items[i].name, "positional_embedding"))
            tmap_add(&lc, oa.items[i].name, oa.items[i].dtype, oa.items[i].ndim, oa.items[i].shape, oa.items[i].data, 0,
                     &err);
    tmap_add(&lc, "positional_embedding", DT_F32, 2, shape, pos, 0, &err);
    tmap_add(&lc, "positional_embedding_res", DT_F32, 2, shape, res, 0, &err);
    EXPECT(clip_names_to_hf(&lc, &back, &err) == 0, "%s", err.msg);
    const TensorEntry *pe = tmap_find(&back, "text_model.embeddings.position_embedding.weight");
    EXPECT(pe && pe->shape[0] == 248 && pe->shape[1] == T, "merged positions are [248, T]");
    if (pe) {
        int ok = 1;
        for (int64_t r = 0; r < 248 && ok; r++)
            for (int64_t c = 0; c < T && ok; c++) ok = at(pe, r * T + c) == (r < 20 ? pos : res)[r * T + c];
        EXPECT(ok, "rows < 20 from positional_embedding, rows >= 20 from positional_embedding_res");
    }
    EXPECT(clip_infer_config(&back, &got, &err) == 0 && got.long_clip == 1 && got.context_length == 248,
           "Long-CLIP inferred: %s", err.msg);
    EXPECT(clip_check_shapes(&back, &got, &err) == 0, "%s", err.msg);
    tmap_free(&back);
    /* _res with a different shape is an error naming the file */
    int64_t bad[2] = {247, T};
    tmap_free(&lc);
    tmap_init(&lc, "badlong.pt");
    tmap_add(&lc, "positional_embedding", DT_F32, 2, shape, pos, 0, &err);
    tmap_add(&lc, "positional_embedding_res", DT_F32, 2, bad, res, 0, &err);
    EXPECT(clip_names_to_hf(&lc, &back, &err) != 0 && strstr(err.msg, "badlong.pt") &&
               strstr(err.msg, "positional_embedding_res"),
           "mismatched Long-CLIP positions: %s", err.msg);
    tmap_free(&lc), tmap_free(&oa), tmap_free(&hf);
    free(pos), free(res);
}

static void test_inference_all_presets(void) {
    const char *names[] = {"b32", "b16", "l14", "l14-336", "tiny", "small", "demo"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ClipConfig cfg, got;
        Err err;
        EXPECT(clip_config_preset(names[i], &cfg, &err) == 0, "%s", err.msg);
        TensorMap hf;
        EXPECT(clip_init_shapes(&cfg, &hf, &err) == 0, "%s", err.msg);
        EXPECT(clip_infer_config(&hf, &got, &err) == 0 && !memcmp(&got, &cfg, sizeof cfg), "%s inferred back: %s",
               names[i], err.msg);
        EXPECT(clip_check_shapes(&hf, &got, &err) == 0, "%s shapes: %s", names[i], err.msg);
        if (!strcmp(names[i], "b32")) {
            int64_t vis = 0, txt = 0;
            for (int k = 0; k < hf.count; k++) {
                int64_t n = 1;
                for (int d = 0; d < hf.items[k].ndim; d++) n *= hf.items[k].shape[d];
                if (!strncmp(hf.items[k].name, "vision_", 7) || !strncmp(hf.items[k].name, "visual_", 7)) vis += n;
                else if (!strncmp(hf.items[k].name, "text_", 5)) txt += n;
            }
            EXPECT(tmap_numel(&hf) == 151277313, "B/32 has %lld parameters, expected 151,277,313",
                   (long long)tmap_numel(&hf));
            EXPECT(vis == 87849216 && txt == 63428096, "B/32 split vision %lld / text %lld", (long long)vis,
                   (long long)txt);
            EXPECT(hf.count == 398, "HF B/32 has %d tensors, expected 398", hf.count);
        }
        if (!strcmp(names[i], "l14")) EXPECT(hf.count == 590, "HF L/14 has %d tensors, expected 590", hf.count);
        tmap_free(&hf);
    }
}

/* Finds an entry to corrupt (tests only: the map's entries are not const). */
static TensorEntry *entry(TensorMap *m, const char *name) {
    for (int k = 0; k < m->count; k++)
        if (!strcmp(m->items[k].name, name)) return &m->items[k];
    return NULL;
}

static void test_bad_shapes(void) {
    ClipConfig cfg, got;
    Err err;
    EXPECT(clip_config_preset("tiny", &cfg, &err) == 0, "%s", err.msg);
    TensorMap hf;
    EXPECT(clip_init_shapes(&cfg, &hf, &err) == 0, "%s", err.msg);
    snprintf(hf.source, sizeof hf.source, "%s", "weights.safetensors");
    EXPECT(clip_infer_config(&hf, &got, &err) == 0, "%s", err.msg);
    /* one layer's fc1 contradicting the architecture */
    TensorEntry *e = entry(&hf, "vision_model.encoder.layers.1.mlp.fc1.weight");
    e->shape[0] = 100;
    EXPECT(clip_check_shapes(&hf, &got, &err) != 0 && strstr(err.msg, "weights.safetensors") &&
               strstr(err.msg, "vision_model.encoder.layers.1.mlp.fc1.weight") && strstr(err.msg, "[100, 128]") &&
               strstr(err.msg, "[512, 128]"),
           "wrong shape: %s", err.msg);
    e->shape[0] = 512;
    EXPECT(clip_check_shapes(&hf, &got, &err) == 0, "restored: %s", err.msg);
    /* logit_scale is one number: [2] or [0] (as many bytes, or none) is refused, not read into one float */
    e = entry(&hf, "logit_scale");
    int saved_ndim = e->ndim;
    int64_t saved_shape0 = e->shape[0];
    e->ndim = 1, e->shape[0] = 2;
    EXPECT(clip_check_shapes(&hf, &got, &err) != 0 && strstr(err.msg, "weights.safetensors") &&
               strstr(err.msg, "logit_scale has shape [2], but it is one number"),
           "logit_scale of 2 numbers: %s", err.msg);
    e->shape[0] = 0;
    EXPECT(clip_check_shapes(&hf, &got, &err) != 0 && strstr(err.msg, "logit_scale has shape [0]"),
           "logit_scale of no number: %s", err.msg);
    e->ndim = saved_ndim, e->shape[0] = saved_shape0;
    EXPECT(clip_check_shapes(&hf, &got, &err) == 0, "restored: %s", err.msg);
    /* a tensor missing from the middle layer is reported, not silently dropped */
    e = entry(&hf, "text_model.encoder.layers.0.layer_norm1.weight");
    free(e->name);
    e->name = xstrdup("renamed.tensor");
    EXPECT(clip_infer_config(&hf, &got, &err) == 0 && got.text_layers == 2, "layers counted from the highest index");
    EXPECT(clip_check_shapes(&hf, &got, &err) != 0 && strstr(err.msg, "weights.safetensors") &&
               strstr(err.msg, "text_model.encoder.layers.0.layer_norm1.weight") && strstr(err.msg, "missing"),
           "missing tensor: %s", err.msg);
    tmap_free(&hf);
    /* the same through clip_load_hf: a file with one wrong shape */
    TensorMap m;
    EXPECT(clip_init_random(&cfg, 1, &m, &err) == 0, "%s", err.msg);
    e = entry(&m, "text_projection.weight");
    e->shape[0] = 64, e->shape[1] = 256; /* same bytes, wrong shape */
    char path[700];
    snprintf(path, sizeof path, "%s/wrong.safetensors", test_tmpdir());
    EXPECT(safetensors_write(path, &m, NULL, &err) == 0, "%s", err.msg);
    TensorMap loaded;
    EXPECT(clip_load_hf(path, &loaded, &got, &err) != 0 && strstr(err.msg, "wrong.safetensors") &&
               strstr(err.msg, "text_projection.weight") && strstr(err.msg, "[64, 256]"),
           "clip_load_hf names the file and tensor: %s", err.msg);
    tmap_free(&m);
}

/* What a header may claim and a conversion must not take: q/k/v of two dtypes of one size (F16, BF16) joined
 * into one tensor, a q_proj tensor that is neither weight nor bias, vision positions past any CLIP (their int
 * arithmetic overflowed), two tensors that strip to one positional embedding. */
static void test_bad_conversions(void) {
    ClipConfig cfg, got;
    Err err;
    TensorMap hf, out;
    tiny_model(&hf, &cfg, 3);
    snprintf(hf.source, sizeof hf.source, "%s", "mixed.safetensors");
    TensorEntry *k = entry(&hf, "vision_model.encoder.layers.0.self_attn.k_proj.weight");
    DType was = k->dtype;
    k->dtype = DT_BF16, k->nbytes /= 2; /* F32 -> a 2-byte dtype: the q of F16 below has as many bytes */
    TensorEntry *q = entry(&hf, "vision_model.encoder.layers.0.self_attn.q_proj.weight");
    TensorEntry *v = entry(&hf, "vision_model.encoder.layers.0.self_attn.v_proj.weight");
    q->dtype = DT_F16, q->nbytes /= 2, v->dtype = DT_F16, v->nbytes /= 2;
    EXPECT(clip_names_hf_to_openai(&hf, &out, &err) != 0 && strstr(err.msg, "mixed.safetensors") &&
               strstr(err.msg, "q_proj.weight has no k/v projections of its dtype (F16)"),
           "q/k/v of F16, BF16, F16: %s", err.msg);
    k->dtype = was, k->nbytes *= 2, q->dtype = was, q->nbytes *= 2, v->dtype = was, v->nbytes *= 2;
    EXPECT(clip_names_hf_to_openai(&hf, &out, &err) == 0, "restored: %s", err.msg);
    tmap_free(&out);
    static const float one[4] = {1, 2, 3, 4};
    int64_t shape4[4] = {1, 1, 1, 4};
    EXPECT(tmap_add(&hf, "vision_model.encoder.layers.0.self_attn.q_proj.extra", DT_F32, 4, shape4, one, 0, &err) == 0,
           "%s", err.msg);
    EXPECT(clip_names_hf_to_openai(&hf, &out, &err) != 0 &&
               strstr(err.msg, "q_proj.extra is not a projection's weight or bias"),
           "a 4-d q_proj.extra: %s", err.msg);
    tmap_free(&hf);
    tiny_model(&hf, &cfg, 3);
    TensorEntry *vp = entry(&hf, "vision_model.embeddings.position_embedding.weight");
    int64_t rows = vp->shape[0];
    vp->shape[0] = (int64_t)1 << 62; /* a header's claim (the data is not read to infer the config) */
    EXPECT(clip_infer_config(&hf, &got, &err) != 0 && strstr(err.msg, "not the sizes of a CLIP"),
           "2^62 vision positions: %s", err.msg);
    vp->shape[0] = rows;
    EXPECT(clip_infer_config(&hf, &got, &err) == 0, "restored: %s", err.msg);
    /* OpenAI names: "positional_embedding" and "module.positional_embedding" in one file */
    TensorMap oa, two;
    EXPECT(clip_names_hf_to_openai(&hf, &oa, &err) == 0, "%s", err.msg);
    renamed(&oa, &two, "", 0);
    const TensorEntry *pe = NULL;
    for (int i = 0; i < oa.count; i++)
        if (!strcmp(oa.items[i].name, "positional_embedding")) pe = &oa.items[i];
    EXPECT(pe && tmap_add(&two, "module.positional_embedding", pe->dtype, pe->ndim, pe->shape, pe->data, 0, &err) == 0,
           "%s", err.msg);
    TensorMap back;
    EXPECT(clip_names_to_hf(&two, &back, &err) != 0 &&
               strstr(err.msg, "positional_embedding and module.positional_embedding"),
           "two positional embeddings: %s", err.msg);
    tmap_free(&two), tmap_free(&oa), tmap_free(&hf);
}

/* OpenAI's initialisation: per-tensor keyed streams and the right scales. */
static void test_init(void) {
    ClipConfig cfg;
    Err err;
    EXPECT(clip_config_preset("tiny", &cfg, &err) == 0, "%s", err.msg);
    TensorMap a, b, c, t;
    EXPECT(clip_init_random(&cfg, 3, &a, &err) == 0 && clip_init_random(&cfg, 3, &b, &err) == 0 &&
               clip_init_random(&cfg, 4, &c, &err) == 0,
           "%s", err.msg);
    expect_same_maps(&a, &b, "same seed");
    EXPECT(!same_tensor(tmap_find(&a, "text_projection.weight"), tmap_find(&c, "text_projection.weight")),
           "another seed gives other values");
    /* a text-only model draws the same text tensors: keyed by name, not by order */
    ClipConfig text_only = cfg;
    text_only.has_vision = 0;
    EXPECT(clip_init_random(&text_only, 3, &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < t.count; i++)
        EXPECT(same_tensor(&t.items[i], tmap_find(&a, t.items[i].name)), "%s independent of the other tensors",
               t.items[i].name);
    /* standard deviations */
    struct {
        const char *name;
        double std;
    } k[] = {{"text_model.embeddings.token_embedding.weight", 0.02},
             {"text_model.embeddings.position_embedding.weight", 0.01},
             {"vision_model.embeddings.position_embedding.weight", 1 / sqrt(128.0)},
             {"vision_model.encoder.layers.0.self_attn.q_proj.weight", 1 / sqrt(128.0)},
             {"vision_model.encoder.layers.0.self_attn.out_proj.weight", 1 / sqrt(128.0) / 2},
             {"text_model.encoder.layers.1.mlp.fc1.weight", 1 / sqrt(256.0)},
             {"text_model.encoder.layers.1.mlp.fc2.weight", 1 / sqrt(128.0) / 2},
             {"visual_projection.weight", 1 / sqrt(128.0)}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const TensorEntry *e = tmap_find(&a, k[i].name);
        EXPECT(e != NULL, "%s exists", k[i].name);
        if (!e) continue;
        size_t n = e->nbytes / 4;
        double s = 0, s2 = 0;
        for (size_t j = 0; j < n; j++) s += at(e, (int64_t)j), s2 += (double)at(e, (int64_t)j) * at(e, (int64_t)j);
        double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
        EXPECT(fabs(sd / k[i].std - 1) < 0.05 && fabs(mean) < 4 * k[i].std / sqrt((double)n) + 1e-9,
               "%s: std %.5f (expected %.5f), mean %.2e over %zu values", k[i].name, sd, k[i].std, mean, n);
    }
    const TensorEntry *ls = tmap_find(&a, "logit_scale"),
                      *bias = tmap_find(&a, "text_model.encoder.layers.0.mlp.fc1.bias");
    const TensorEntry *ln = tmap_find(&a, "vision_model.pre_layrnorm.weight");
    EXPECT(ls && ls->ndim == 0 && fabs(at(ls, 0) - log(1 / 0.07)) < 1e-6, "logit_scale = ln(1/0.07)");
    EXPECT(bias && at(bias, 0) == 0 && at(bias, 511) == 0 && ln && at(ln, 0) == 1 && at(ln, 127) == 1,
           "biases 0, layer norms 1");
    /* perturbation touches biases and norms only */
    clip_perturb_for_tests(&b, 3, 0.5f);
    const TensorEntry *pb = tmap_find(&b, "text_model.encoder.layers.0.mlp.fc1.bias");
    const TensorEntry *pl = tmap_find(&b, "vision_model.pre_layrnorm.weight");
    EXPECT(pb && at(pb, 0) != 0 && pl && at(pl, 0) != 1, "perturbed bias and norm");
    EXPECT(same_tensor(tmap_find(&a, "visual_projection.weight"), tmap_find(&b, "visual_projection.weight")) &&
               same_tensor(tmap_find(&a, "logit_scale"), tmap_find(&b, "logit_scale")),
           "weights untouched by the perturbation");
    tmap_free(&a), tmap_free(&b), tmap_free(&c), tmap_free(&t);
}

int main(void) {
    TEST_RUN(test_bad_conversions);
    TEST_RUN(test_hf_openai_both_ways);
    TEST_RUN(test_prefixes_and_variants);
    TEST_RUN(test_long_clip);
    TEST_RUN(test_inference_all_presets);
    TEST_RUN(test_bad_shapes);
    TEST_RUN(test_init);
    return test_summary();
}
