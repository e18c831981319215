#include "model/clip_config.h"

#include <stdio.h>
#include <string.h>

typedef struct Preset {
    const char *name;
    ClipConfig cfg;
} Preset;

/*                          R    P   W    L   H   ctx  vocab  T   L  H   E  vis txt */
static const Preset k_presets[] = {
    {"b32", {224, 32, 768, 12, 12, 77, 49408, 512, 12, 8, 512, 1, 1, 0, 0}},
    {"b16", {224, 16, 768, 12, 12, 77, 49408, 512, 12, 8, 512, 1, 1, 0, 0}},
    {"l14", {224, 14, 1024, 24, 16, 77, 49408, 768, 12, 12, 768, 1, 1, 0, 0}},
    {"l14-336", {336, 14, 1024, 24, 16, 77, 49408, 768, 12, 12, 768, 1, 1, 0, 0}},
    /* Test and demo sizes: run in seconds on a CPU. */
    {"tiny", {32, 8, 128, 2, 2, 77, 49408, 128, 2, 2, 128, 1, 1, 0, 0}},
    {"small", {64, 16, 256, 4, 4, 77, 49408, 256, 4, 4, 256, 1, 1, 0, 0}},
    /* The demo's backbone: 64 px and 8 px patches keep the small facial movements of the
     * synthetic benchmark visible (8 x 8 tokens), while training in minutes on 2 cores. */
    {"demo", {64, 8, 192, 3, 3, 77, 49408, 128, 2, 2, 128, 1, 1, 0, 0}},
};

int clip_config_preset(const char *name, ClipConfig *cfg, Err *err) {
    for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++)
        if (!strcmp(name, k_presets[i].name)) {
            *cfg = k_presets[i].cfg;
            return 0;
        }
    return err_set(err, "unknown architecture '%s' (known: %s)", name, clip_config_preset_names());
}

const char *clip_config_preset_names(void) { return "b32, b16, l14, l14-336, tiny, small, demo"; }

const char *clip_config_describe(const ClipConfig *c, char *buf, int n) {
    if (c->has_vision && c->vision_width == 768 && c->vision_layers == 12 && c->image_size == 224 &&
        (c->patch_size == 32 || c->patch_size == 16))
        snprintf(buf, (size_t)n, "ViT-B/%d", c->patch_size);
    else if (c->has_vision && c->vision_width == 1024 && c->vision_layers == 24 && c->patch_size == 14)
        snprintf(buf, (size_t)n, c->image_size == 336 ? "ViT-L/14@336" : "ViT-L/14");
    else if (c->has_vision)
        snprintf(buf, (size_t)n, "custom ViT (W=%d, L=%d, P=%d, R=%d)", c->vision_width, c->vision_layers,
                 c->patch_size, c->image_size);
    else
        snprintf(buf, (size_t)n, "text-only (T=%d, L=%d)", c->text_width, c->text_layers);
    if (c->long_clip) {
        size_t len = strlen(buf);
        snprintf(buf + len, (size_t)n - len, ", Long-CLIP text (%d positions)", c->context_length);
    }
    return buf;
}

int clip_config_validate(const ClipConfig *c, Err *err) {
    if (c->has_vision) {
        if (c->patch_size <= 0 || c->image_size <= 0 || c->image_size % c->patch_size)
            return err_set(err, "image size %d is not a multiple of the patch size %d", c->image_size, c->patch_size);
        if (c->vision_heads <= 0 || c->vision_width % c->vision_heads)
            return err_set(err, "vision width %d is not divisible by %d heads", c->vision_width, c->vision_heads);
        if (c->vision_layers <= 0) return err_set(err, "vision tower has no layers");
    }
    if (c->has_text) {
        if (c->text_heads <= 0 || c->text_width % c->text_heads)
            return err_set(err, "text width %d is not divisible by %d heads", c->text_width, c->text_heads);
        if (c->text_layers <= 0) return err_set(err, "text tower has no layers");
        if (c->context_length < 2) return err_set(err, "text context length %d is too short", c->context_length);
        if (c->vocab_size < 49408)
            return err_set(err, "vocabulary of %d rows is smaller than CLIP's 49408", c->vocab_size);
    }
    if (c->embed_dim <= 0) return err_set(err, "embedding size %d is invalid", c->embed_dim);
    return 0;
}
