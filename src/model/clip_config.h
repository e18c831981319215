/* CLIP architecture hyperparameters. Always inferred from a checkpoint's
 * tensor shapes (io/clip_names.c) or taken from a named preset (dfer init);
 * never assumed from a table when weights are at hand. */
#ifndef DFER_MODEL_CLIP_CONFIG_H
#define DFER_MODEL_CLIP_CONFIG_H

#include "core/check.h"

typedef struct ClipConfig {
    /* Vision tower */
    int image_size;    /* R: input resolution (224, 336, or small for tests) */
    int patch_size;    /* P */
    int vision_width;  /* W */
    int vision_layers;
    int vision_heads;  /* W / 64 for OpenAI models; any divisor for test configs */
    /* Text tower */
    int context_length; /* 77 (CLIP) or 248 (Long-CLIP) */
    int vocab_size;     /* 49408 */
    int text_width;     /* T */
    int text_layers;
    int text_heads;
    /* Shared */
    int embed_dim;      /* E: joint embedding size */
    int has_vision;     /* 0 for text-only checkpoints */
    int has_text;       /* 0 for vision-only checkpoints */
    int long_clip;      /* 1: Long-CLIP positional input (first 20 rows + _res rows) */
    int gelu_erf;       /* 0: QuickGELU (OpenAI); 1: exact erf GELU (non-OpenAI open_clip) */
} ClipConfig;

static inline int clip_grid(const ClipConfig *c) { return c->image_size / c->patch_size; }
static inline int clip_vision_tokens(const ClipConfig *c) { return clip_grid(c) * clip_grid(c) + 1; }

/* Named presets for `dfer init`: "b32", "b16", "l14", "l14-336", "tiny", "small".
 * Returns -1 with a message listing the known names. */
int clip_config_preset(const char *name, ClipConfig *cfg, Err *err);
/* Comma-separated preset names, for help texts. */
const char *clip_config_preset_names(void);
/* Short human name: "ViT-B/16" when the shapes match an OpenAI model, else
 * "custom (W=128, L=2, P=8, R=32)". */
const char *clip_config_describe(const ClipConfig *c, char *buf, int n);
/* Checks internal consistency (divisibility of widths by heads, grid). */
int clip_config_validate(const ClipConfig *c, Err *err);

#endif
