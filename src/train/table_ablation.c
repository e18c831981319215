/* The papers' ablation tables of `dfer table`: their rows, by model (Result.key: what config_ablation says a job
 * changed of the paper's model, in brackets after the method). */
#include "train/table_ablation.h"

#include <math.h>
#include <stdlib.h>

const AblationTable k_ablation_tables[] = {
    {"Table 4: FineCLIPER's levels alone",
     "The frames alone (low), the parsing and landmark maps alone (mid), the descriptions alone (high) and all levels",
     {{"finecliper (low)", 0},
      {"finecliper (mid)", 1},
      {"finecliper (high)", 1},
      {"finecliper (mid+high)", 1},
      {"finecliper (low+mid+high)", 0}},
     {NULL, NULL, 0}},
    {"Table 5: the middle level's maps",
     "The low level alone, with the parsing maps, with the landmark maps, with both (model.mid_streams)",
     {{"finecliper (low)", 0},
      {"finecliper (low+mid) [mid_streams=parsing]", 1},
      {"finecliper (low+mid) [mid_streams=landmarks]", 1},
      {"finecliper (low+mid)", 0}},
     {NULL, NULL, 0}},
    {"Table 6: text and video adapters",
     "The low level without the text and the video adapters; text adapters with the positive descriptors only "
     "(model.negative = none) or the positive and negative ones, without video adapters; video adapters without text "
     "adapters; both (docs/method.md reads the paper's Text and Video columns so; its row without either set is "
     "DFER-CLIP's published numbers)",
     {{"finecliper (low) [text_adapters=false, video_adapters=false]", 1},
      {"finecliper (low) [negative=none, video_adapters=false]", 1},
      {"finecliper (low) [video_adapters=false]", 1},
      {"finecliper (low) [text_adapters=false]", 1},
      {"finecliper (low)", 0}},
     {NULL, NULL, 0}},
    {"Table 7: the negative descriptor",
     "\"... of less {class}.\" (model.negative = less) and the model's \"... of no {class}.\", the low level",
     {{"finecliper (low) [negative=less]", 1}, {"finecliper (low)", 0}},
     {NULL, NULL, 0}},
    {"Table 9: the MLP adapter's scale s", "The low level with model.mlp_adapter_scale at each value the results hold",
     {{NULL, 0}},
     {"finecliper (low)", "mlp_adapter_scale=", 0.5}},
    {"Figure 8: a fixed video weight",
     "All levels with the video feature's weight fixed at each model.fusion_video_weight the results hold, the other "
     "three modalities sharing the rest evenly (model.fusion_weights = fixed), then the adaptive weights (the paper "
     "gives this as a plot, without numbers)",
     {{NULL, 0}},
     {"finecliper (low+mid+high)", "fusion_weights=fixed, fusion_video_weight=", INFINITY}},
    /* DFER-CLIP's ablations (its Table 2 compares other methods): on CLIP ViT-B/32, as its paper ran them */
    {"DFER-CLIP Table 1: learnable contexts and the temporal model's depth",
     "4, 8 and 16 learnable context tokens (model.contexts) without the temporal model (model.temporal_layers = 0: the "
     "video feature is the mean of the frame features, this project's reading of the paper's \"w/o TM\"), then 8 "
     "with 1 (the paper's model), 2 and 3 temporal layers",
     {{"dfer_clip [temporal_layers=0, contexts=4]", 1},
      {"dfer_clip [temporal_layers=0]", 1},
      {"dfer_clip [temporal_layers=0, contexts=16]", 1},
      {"dfer_clip", 0},
      {"dfer_clip [temporal_layers=2]", 1},
      {"dfer_clip [temporal_layers=3]", 1}},
     {NULL, NULL, 0}},
    {"DFER-CLIP Table 3: prompts",
     "Without the temporal model (model.temporal_layers = 0): \"a photo of [class]\" (model.class_text = "
     "photo_of_name) and \"an expression of [class]\" (name_with_context) without learnable contexts (model.contexts "
     "= 0), then 8 contexts before the class name (name) or the descriptors; with it: the name, the descriptors",
     {{"dfer_clip [temporal_layers=0, contexts=0, class_text=photo_of_name]", 1},
      {"dfer_clip [temporal_layers=0, contexts=0, class_text=name_with_context]", 1},
      {"dfer_clip [temporal_layers=0, class_text=name]", 1},
      {"dfer_clip [temporal_layers=0]", 1},
      {"dfer_clip [class_text=name]", 1},
      {"dfer_clip", 0}},
     {NULL, NULL, 0}},
    {"DFER-CLIP Table 4: the learnable contexts' position and sharing",
     "The descriptors in the middle of the 8 learnable contexts (model.context_position = middle) or after them, the "
     "contexts shared by the classes (model.class_specific_contexts = false) or each class's own; the temporal model",
     {{"dfer_clip [context_position=middle, class_specific_contexts=false]", 1},
      {"dfer_clip [context_position=middle]", 1},
      {"dfer_clip [class_specific_contexts=false]", 1},
      {"dfer_clip", 0}},
     {NULL, NULL, 0}},
};
enum { ABLATION_TABLES = sizeof k_ablation_tables / sizeof k_ablation_tables[0] };
const int k_ablation_table_count = ABLATION_TABLES;

/* Where key stands in the sweep: its value when it is the swept model with that setting alone changed, the model's
 * place for the model itself; NAN for any other key. */
static double sweep_value(const char *key, const AblationSweep *s) {
    size_t n = strlen(s->of), k = strlen(s->setting);
    if (strncmp(key, s->of, n)) return NAN;
    if (!key[n]) return s->model_at;
    if (strncmp(key + n, " [", 2) || strncmp(key + n + 2, s->setting, k)) return NAN;
    char *end;
    double v = strtod(key + n + 2 + k, &end);
    return end != key + n + 2 + k && !strcmp(end, "]") ? v : NAN;
}

Names ablation_rows(const AblationTable *a, const Names *keys) {
    Names rows = {.n = 0};
    int triggered = 0;
    if (a->sweep.of) {
        double scale[MAX_NAMES];
        int order[MAX_NAMES], n = 0;
        for (int i = 0; i < keys->n; i++) {
            double s = sweep_value(keys->v[i], &a->sweep);
            if (isnan(s)) continue;
            triggered |= s != a->sweep.model_at;
            scale[n] = s;
            order[n++] = i;
        }
        for (int i = 1; i < n; i++) /* by value: a handful of rows */
            for (int k = i; k > 0 && scale[k - 1] > scale[k]; k--) {
                double ts = scale[k];
                int to = order[k];
                scale[k] = scale[k - 1], order[k] = order[k - 1];
                scale[k - 1] = ts, order[k - 1] = to;
            }
        for (int i = 0; triggered && i < n; i++) names_add(&rows, keys->v[order[i]]);
        return rows;
    }
    for (int r = 0; r < 6 && a->rows[r].key; r++)
        for (int i = 0; i < keys->n; i++)
            if (!strcmp(keys->v[i], a->rows[r].key)) {
                names_add(&rows, a->rows[r].key);
                triggered |= a->rows[r].trigger;
            }
    if (!triggered) rows.n = 0;
    return rows;
}

int ablation_triggers(const AblationTable *a, const char *key) {
    if (a->sweep.of) {
        double s = sweep_value(key, &a->sweep);
        return !isnan(s) && s != a->sweep.model_at;
    }
    for (int r = 0; r < 6 && a->rows[r].key; r++)
        if (!strcmp(key, a->rows[r].key)) return a->rows[r].trigger;
    return 0;
}
