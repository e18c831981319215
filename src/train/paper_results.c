#include "train/paper_results.h"

#include <string.h>

/* DFEW's class order (happiness, sadness, neutral, anger, surprise, disgust, fear) is the papers'. */
static const PaperResult k_published[] = {
    /* FineCLIPER, Table 1 (Table 2 for DFEW's per-class accuracy); the variants: FineCLIPER = low,
     * FineCLIPER* = low+mid, FineCLIPER† = low+high, FineCLIPER*† = low+mid+high */
    {"finecliper (low)", "ViT-B/16", "dfew", 62.81, 72.86, 7,
     {89.99, 81.79, 75.42, 80.12, 61.03, 7.12, 32.98}, "FineCLIPER Tables 1-2"},
    {"finecliper (low)", "ViT-B/16", "ferv39k", 42.88, 52.01, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low)", "ViT-B/16", "mafw", 42.19, 53.12, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low+mid)", "ViT-B/16", "dfew", 64.89, 75.05, 7,
     {92.86, 83.88, 76.10, 83.56, 64.69, 13.02, 38.13}, "FineCLIPER Tables 1-2"},
    {"finecliper (low+mid)", "ViT-B/16", "ferv39k", 44.15, 52.12, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low+mid)", "ViT-B/16", "mafw", 43.02, 54.69, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low+high)", "ViT-B/16", "dfew", 65.72, 75.01, 7,
     {94.59, 85.17, 78.03, 85.09, 64.03, 22.98, 37.11}, "FineCLIPER Tables 1-2"},
    {"finecliper (low+high)", "ViT-B/16", "ferv39k", 43.86, 53.02, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low+high)", "ViT-B/16", "mafw", 43.91, 54.11, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low+mid+high)", "ViT-B/16", "dfew", 65.98, 76.21, 7,
     {94.71, 86.22, 78.19, 86.19, 65.01, 26.58, 38.20}, "FineCLIPER Tables 1-2"},
    {"finecliper (low+mid+high)", "ViT-B/16", "ferv39k", 45.22, 53.98, 0, {0}, "FineCLIPER Table 1"},
    {"finecliper (low+mid+high)", "ViT-B/16", "mafw", 45.01, 56.91, 0, {0}, "FineCLIPER Table 1"},
    /* FineCLIPER, Table 4: the levels alone. Its Low-level Only and Low-Middle-High rows are Table 1's FineCLIPER
     * and FineCLIPER*-dagger; the middle and the high level alone leave the frames out (model.variant = mid,
     * high) */
    {"finecliper (mid)", "ViT-B/16", "dfew", 61.91, 72.62, 0, {0}, "FineCLIPER Table 4"},
    {"finecliper (mid)", "ViT-B/16", "ferv39k", 42.92, 52.22, 0, {0}, "FineCLIPER Table 4"},
    {"finecliper (mid)", "ViT-B/16", "mafw", 43.02, 53.11, 0, {0}, "FineCLIPER Table 4"},
    {"finecliper (high)", "ViT-B/16", "dfew", 63.15, 73.95, 0, {0}, "FineCLIPER Table 4"},
    {"finecliper (high)", "ViT-B/16", "ferv39k", 43.13, 52.97, 0, {0}, "FineCLIPER Table 4"},
    {"finecliper (high)", "ViT-B/16", "mafw", 44.12, 54.60, 0, {0}, "FineCLIPER Table 4"},
    /* FineCLIPER, Table 8 (appendix): the full model (20 M tunable parameters) on the other backbones; its
     * ViT-B/16 row is Table 1's FineCLIPER*-dagger */
    {"finecliper (low+mid+high)", "ViT-B/32", "dfew", 66.78, 77.39, 0, {0}, "FineCLIPER Table 8"},
    {"finecliper (low+mid+high)", "ViT-B/32", "ferv39k", 46.99, 55.03, 0, {0}, "FineCLIPER Table 8"},
    {"finecliper (low+mid+high)", "ViT-B/32", "mafw", 46.79, 57.89, 0, {0}, "FineCLIPER Table 8"},
    {"finecliper (low+mid+high)", "ViT-L/14", "dfew", 68.01, 78.93, 0, {0}, "FineCLIPER Table 8"},
    {"finecliper (low+mid+high)", "ViT-L/14", "ferv39k", 47.89, 56.41, 0, {0}, "FineCLIPER Table 8"},
    {"finecliper (low+mid+high)", "ViT-L/14", "mafw", 47.79, 58.26, 0, {0}, "FineCLIPER Table 8"},
    /* FineCLIPER's ablations of its low level (and, Table 5, of the middle level's maps), keyed as the tables key a
     * run of them: the variant and, in brackets, what config_ablation says differs from the paper's model. Their
     * rows with nothing changed are Table 1's FineCLIPER (low) and FineCLIPER* (low+mid).
     * Table 5: parsing maps only, landmarks only (with the low level) */
    {"finecliper (low+mid) [mid_streams=parsing]", "ViT-B/16", "dfew", 63.66, 73.86, 0, {0}, "FineCLIPER Table 5"},
    {"finecliper (low+mid) [mid_streams=parsing]", "ViT-B/16", "ferv39k", 43.66, 52.00, 0, {0}, "FineCLIPER Table 5"},
    {"finecliper (low+mid) [mid_streams=parsing]", "ViT-B/16", "mafw", 42.78, 53.59, 0, {0}, "FineCLIPER Table 5"},
    {"finecliper (low+mid) [mid_streams=landmarks]", "ViT-B/16", "dfew", 63.71, 74.16, 0, {0}, "FineCLIPER Table 5"},
    {"finecliper (low+mid) [mid_streams=landmarks]", "ViT-B/16", "ferv39k", 43.53, 52.08, 0, {0},
     "FineCLIPER Table 5"},
    {"finecliper (low+mid) [mid_streams=landmarks]", "ViT-B/16", "mafw", 42.56, 53.16, 0, {0}, "FineCLIPER Table 5"},
    /* Table 6, Text x Video: text adapters with the PN descriptors or the positive ones only, and the video (AIM)
     * adapters, as docs/method.md reads the table. Its row without either set is DFER-CLIP's Table 5 digit for
     * digit; it stands under ours of both sets off, which trains the temporal embedding alone */
    {"finecliper (low) [text_adapters=false, video_adapters=false]", "ViT-B/16", "dfew", 59.61, 71.25, 0, {0},
     "FineCLIPER Table 6"},
    {"finecliper (low) [text_adapters=false, video_adapters=false]", "ViT-B/16", "ferv39k", 41.27, 51.65, 0, {0},
     "FineCLIPER Table 6"},
    {"finecliper (low) [text_adapters=false, video_adapters=false]", "ViT-B/16", "mafw", 39.89, 52.55, 0, {0},
     "FineCLIPER Table 6"},
    {"finecliper (low) [negative=none, video_adapters=false]", "ViT-B/16", "dfew", 60.32, 71.55, 0, {0},
     "FineCLIPER Table 6"},
    {"finecliper (low) [negative=none, video_adapters=false]", "ViT-B/16", "ferv39k", 41.51, 51.70, 0, {0},
     "FineCLIPER Table 6"},
    {"finecliper (low) [negative=none, video_adapters=false]", "ViT-B/16", "mafw", 40.47, 52.62, 0, {0},
     "FineCLIPER Table 6"},
    {"finecliper (low) [video_adapters=false]", "ViT-B/16", "dfew", 61.19, 71.95, 0, {0}, "FineCLIPER Table 6"},
    {"finecliper (low) [video_adapters=false]", "ViT-B/16", "ferv39k", 42.29, 51.72, 0, {0}, "FineCLIPER Table 6"},
    {"finecliper (low) [video_adapters=false]", "ViT-B/16", "mafw", 40.71, 52.86, 0, {0}, "FineCLIPER Table 6"},
    {"finecliper (low) [text_adapters=false]", "ViT-B/16", "dfew", 61.88, 72.08, 0, {0}, "FineCLIPER Table 6"},
    {"finecliper (low) [text_adapters=false]", "ViT-B/16", "ferv39k", 41.56, 51.77, 0, {0}, "FineCLIPER Table 6"},
    {"finecliper (low) [text_adapters=false]", "ViT-B/16", "mafw", 41.26, 51.44, 0, {0}, "FineCLIPER Table 6"},
    /* Table 7: the negative descriptor "less" in place of "no" */
    {"finecliper (low) [negative=less]", "ViT-B/16", "dfew", 62.15, 72.51, 0, {0}, "FineCLIPER Table 7"},
    {"finecliper (low) [negative=less]", "ViT-B/16", "ferv39k", 42.11, 51.79, 0, {0}, "FineCLIPER Table 7"},
    {"finecliper (low) [negative=less]", "ViT-B/16", "mafw", 41.97, 52.91, 0, {0}, "FineCLIPER Table 7"},
    /* Table 9 (appendix): the MLP adapter's scale s, 0.3 and 0.7 beside the model's 0.5 */
    {"finecliper (low) [mlp_adapter_scale=0.3]", "ViT-B/16", "dfew", 62.51, 72.68, 0, {0}, "FineCLIPER Table 9"},
    {"finecliper (low) [mlp_adapter_scale=0.3]", "ViT-B/16", "ferv39k", 42.61, 51.19, 0, {0}, "FineCLIPER Table 9"},
    {"finecliper (low) [mlp_adapter_scale=0.3]", "ViT-B/16", "mafw", 41.84, 52.71, 0, {0}, "FineCLIPER Table 9"},
    {"finecliper (low) [mlp_adapter_scale=0.7]", "ViT-B/16", "dfew", 62.58, 72.70, 0, {0}, "FineCLIPER Table 9"},
    {"finecliper (low) [mlp_adapter_scale=0.7]", "ViT-B/16", "ferv39k", 42.57, 51.46, 0, {0}, "FineCLIPER Table 9"},
    {"finecliper (low) [mlp_adapter_scale=0.7]", "ViT-B/16", "mafw", 41.76, 53.66, 0, {0}, "FineCLIPER Table 9"},
    /* DFER-CLIP, Table 5 (8 learnable context tokens, one temporal layer) */
    {"dfer_clip", "ViT-B/32", "dfew", 59.61, 71.25, 0, {0}, "DFER-CLIP Table 5"},
    {"dfer_clip", "ViT-B/32", "ferv39k", 41.27, 51.65, 0, {0}, "DFER-CLIP Table 5"},
    {"dfer_clip", "ViT-B/32", "mafw", 39.89, 52.55, 0, {0}, "DFER-CLIP Table 5"},
    /* DFER-CLIP's ablations (all on ViT-B/32), keyed as config_ablation names a run of them: "dfer_clip", then in
     * brackets what differs of the paper's model (temporal_layers 1, contexts 8, class_text descriptor,
     * context_position end, class_specific_contexts true). Their rows of the paper's model (Table 1's 8 contexts with
     * one temporal layer, Table 3's w/ TM descriptors, Table 4's End with class-specific contexts) are Table 5's above,
     * digit for digit.
     * Table 1: 4, 8 and 16 contexts without the temporal model (w/o TM: temporal_layers = 0), 8 with 2 and 3 layers.
     * Its 8 contexts w/o TM is also Table 3's w/o TM "[Learnable Prompt] [Descriptors]" (the same digits): this one
     * entry serves both */
    {"dfer_clip [temporal_layers=0, contexts=4]", "ViT-B/32", "dfew", 56.91, 69.01, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=0, contexts=4]", "ViT-B/32", "ferv39k", 40.26, 50.96, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=0, contexts=4]", "ViT-B/32", "mafw", 38.03, 50.62, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=0]", "ViT-B/32", "dfew", 57.39, 69.00, 0, {0}, "DFER-CLIP Tables 1, 3"},
    {"dfer_clip [temporal_layers=0]", "ViT-B/32", "ferv39k", 40.64, 50.92, 0, {0}, "DFER-CLIP Tables 1, 3"},
    {"dfer_clip [temporal_layers=0]", "ViT-B/32", "mafw", 38.51, 50.91, 0, {0}, "DFER-CLIP Tables 1, 3"},
    {"dfer_clip [temporal_layers=0, contexts=16]", "ViT-B/32", "dfew", 57.32, 68.96, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=0, contexts=16]", "ViT-B/32", "ferv39k", 40.22, 50.64, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=0, contexts=16]", "ViT-B/32", "mafw", 37.98, 50.40, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=2]", "ViT-B/32", "dfew", 58.87, 70.92, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=2]", "ViT-B/32", "ferv39k", 40.41, 51.08, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=2]", "ViT-B/32", "mafw", 39.13, 52.10, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=3]", "ViT-B/32", "dfew", 58.64, 70.80, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=3]", "ViT-B/32", "ferv39k", 40.35, 50.98, 0, {0}, "DFER-CLIP Table 1"},
    {"dfer_clip [temporal_layers=3]", "ViT-B/32", "mafw", 38.90, 51.86, 0, {0}, "DFER-CLIP Table 1"},
    /* Table 3: w/o TM "a photo of [Class]" and "an expression of [Class]" (no learnable contexts), "[Learnable
     * Prompt] [Class]" (the class name after 8 contexts); w/ TM "[Learnable Prompt] [Class]" */
    {"dfer_clip [temporal_layers=0, contexts=0, class_text=photo_of_name]", "ViT-B/32", "dfew", 56.21, 68.44, 0, {0},
     "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, contexts=0, class_text=photo_of_name]", "ViT-B/32", "ferv39k", 39.44, 49.94, 0, {0},
     "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, contexts=0, class_text=photo_of_name]", "ViT-B/32", "mafw", 37.91, 50.87, 0, {0},
     "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, contexts=0, class_text=name_with_context]", "ViT-B/32", "dfew", 56.16, 68.73,
     0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, contexts=0, class_text=name_with_context]", "ViT-B/32", "ferv39k", 39.28, 50.41,
     0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, contexts=0, class_text=name_with_context]", "ViT-B/32", "mafw", 37.71, 51.08,
     0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, class_text=name]", "ViT-B/32", "dfew", 57.37, 68.86, 0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, class_text=name]", "ViT-B/32", "ferv39k", 40.42, 50.50, 0, {0},
     "DFER-CLIP Table 3"},
    {"dfer_clip [temporal_layers=0, class_text=name]", "ViT-B/32", "mafw", 38.01, 50.81, 0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [class_text=name]", "ViT-B/32", "dfew", 58.28, 70.29, 0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [class_text=name]", "ViT-B/32", "ferv39k", 40.60, 51.18, 0, {0}, "DFER-CLIP Table 3"},
    {"dfer_clip [class_text=name]", "ViT-B/32", "mafw", 39.64, 51.21, 0, {0}, "DFER-CLIP Table 3"},
    /* Table 4: the descriptors in the middle of the contexts, with contexts shared by the classes or not; at the end
     * with shared contexts */
    {"dfer_clip [context_position=middle, class_specific_contexts=false]", "ViT-B/32", "dfew", 58.91, 71.19, 0, {0},
     "DFER-CLIP Table 4"},
    {"dfer_clip [context_position=middle, class_specific_contexts=false]", "ViT-B/32", "ferv39k", 40.36, 51.22, 0, {0},
     "DFER-CLIP Table 4"},
    {"dfer_clip [context_position=middle, class_specific_contexts=false]", "ViT-B/32", "mafw", 39.55, 52.54, 0, {0},
     "DFER-CLIP Table 4"},
    {"dfer_clip [context_position=middle]", "ViT-B/32", "dfew", 59.24, 71.33, 0, {0}, "DFER-CLIP Table 4"},
    {"dfer_clip [context_position=middle]", "ViT-B/32", "ferv39k", 40.71, 51.32, 0, {0}, "DFER-CLIP Table 4"},
    {"dfer_clip [context_position=middle]", "ViT-B/32", "mafw", 39.26, 52.19, 0, {0}, "DFER-CLIP Table 4"},
    {"dfer_clip [class_specific_contexts=false]", "ViT-B/32", "dfew", 58.97, 71.12, 0, {0}, "DFER-CLIP Table 4"},
    {"dfer_clip [class_specific_contexts=false]", "ViT-B/32", "ferv39k", 40.50, 51.21, 0, {0}, "DFER-CLIP Table 4"},
    {"dfer_clip [class_specific_contexts=false]", "ViT-B/32", "mafw", 39.46, 52.45, 0, {0}, "DFER-CLIP Table 4"},
};

const PaperResult *paper_result(const char *method, const char *arch, const char *dataset) {
    size_t arch_len = strcspn(arch, ",");
    for (size_t i = 0; i < sizeof k_published / sizeof k_published[0]; i++) {
        const PaperResult *p = &k_published[i];
        if (!strcmp(p->method, method) && strlen(p->arch) == arch_len && !strncmp(p->arch, arch, arch_len) &&
            !strcmp(p->dataset, dataset))
            return p;
    }
    return NULL;
}

/* FineCLIPER, Table 3: pretraining dataset (kind of caption) x evaluation dataset; "-" in the paper is left out */
static const PaperZeroShot k_zero_shot[] = {
    {"FineCLIPER†", "ViT-B/16", "mafw", "dataset", "dfew", 47.52, 57.12},
    {"FineCLIPER†", "ViT-B/16", "mafw", "dataset", "ferv39k", 34.59, 42.28},
    {"FineCLIPER†", "ViT-B/16", "mafw", "dataset", "mafw", 34.02, 40.23},
    {"FineCLIPER†", "ViT-B/16", "mafw", "descriptions", "dfew", 52.26, 62.03},
    {"FineCLIPER†", "ViT-B/16", "mafw", "descriptions", "ferv39k", 39.72, 46.01},
    {"FineCLIPER†", "ViT-B/16", "mafw", "descriptions", "mafw", 38.77, 46.12},
    {"FineCLIPER†", "ViT-B/16", "dfew", "descriptions", "dfew", 57.48, 65.45},
    {"FineCLIPER†", "ViT-B/16", "dfew", "descriptions", "ferv39k", 40.10, 46.91},
    {"FineCLIPER†", "ViT-B/16", "ferv39k", "descriptions", "dfew", 55.13, 63.89},
    {"FineCLIPER†", "ViT-B/16", "ferv39k", "descriptions", "ferv39k", 40.79, 48.63},
};

const PaperZeroShot *paper_zero_shot(const char *method, const char *arch, const char *trained_on, const char *captions,
                                     const char *eval_dataset) {
    /* the paper's model: no ablation (a key "finecliper (low) [negative=less]" is not it) */
    if (strncmp(method, "finecliper (", 12) != 0 || strchr(method, '[')) return NULL;
    size_t arch_len = strcspn(arch, ",");
    for (size_t i = 0; i < sizeof k_zero_shot / sizeof k_zero_shot[0]; i++) {
        const PaperZeroShot *z = &k_zero_shot[i];
        if (strlen(z->arch) == arch_len && !strncmp(z->arch, arch, arch_len) && !strcmp(z->trained_on, trained_on) &&
            !strcmp(z->captions, captions) && !strcmp(z->eval_dataset, eval_dataset))
            return z;
    }
    return NULL;
}
