/* Published results the tables can show beside a matrix's own (dfer table --paper), for the same
 * method, variant, dataset and backbone architecture; transcribed from the papers in
 * ../shared/papers:
 *   FineCLIPER Table 1 (supervised UAR/WAR, CLIP ViT-B/16, all four variants) and Table 2 (DFEW
 *   per-class accuracy), Table 4 (the middle and the high level alone, without the frames: variants mid and
 *   high), Tables 5, 6, 7 and 9 (the ablations: the middle level's maps, the text and video adapters with the
 *   PN or positive descriptors, the "less" negative descriptor, the MLP adapter's scale; keyed as config_ablation
 *   names each: "finecliper (low) [negative=less]"), Table 8 (the full model, low+mid+high, on ViT-B/32 and
 *   ViT-L/14); DFER-CLIP
 *   Table 5 (CLIP ViT-B/32, the mean of three seeds) and its ablations, on ViT-B/32 too: Table 1 (4, 8 and 16
 *   learnable contexts without the temporal model, 8 with 2 and 3 temporal layers), Table 3 (prompts: "a photo of"
 *   and "an expression of" the class, the class name after the learnable contexts, with and without the temporal
 *   model) and Table 4 (the descriptors in the middle of the contexts, contexts shared by the classes), keyed as
 *   config_ablation names each: "dfer_clip [temporal_layers=0, contexts=4]"; their rows of the paper's model are
 *   Table 5's (Table 2 compares other methods).
 *   FineCLIPER Table 3 (zero-shot, CLIP ViT-B/16), read as follows. The paper trains FineCLIPER†
 *   contrastively on one dataset's captions and classifies the others; its "video caption" is
 *   MAFW's own caption of each clip, here data.captions = dataset (result.json "captions":
 *   "dataset"), and its "fine-grained caption" is the generated description of the clip's facial
 *   changes, here data.captions = descriptions ("descriptions"). The dagger marks the use of those
 *   descriptions; in the zero-shot setting they enter as the captions, so the rows stand beside any
 *   FineCLIPER variant trained on the same dataset with the same kind of captions (dfer trains the
 *   low level in this setting, docs/method.md). EmoCLIP's and plain CLIP's rows are other methods. */
#ifndef DFER_TRAIN_PAPER_RESULTS_H
#define DFER_TRAIN_PAPER_RESULTS_H

typedef struct PaperResult {
    const char *method;  /* as the tables key a row (Result.key): "finecliper (low+mid)", "dfer_clip",
                          * "finecliper (low) [negative=less]", "dfer_clip [class_text=name]" */
    const char *arch;    /* as clip_config_describe names it: "ViT-B/16" */
    const char *dataset; /* dfew | ferv39k | mafw */
    double uar, war;
    int n_recall;        /* per-class accuracy in the dataset's class order (0: not published) */
    double recall[7];
    const char *source;  /* "FineCLIPER Table 1", "DFER-CLIP Table 4" ... */
} PaperResult;

/* The published result, or NULL. arch may carry more after a comma (", Long-CLIP text ..."). */
const PaperResult *paper_result(const char *method, const char *arch, const char *dataset);

typedef struct PaperZeroShot {
    const char *label;        /* the row's name: "FineCLIPER†" */
    const char *arch;         /* "ViT-B/16" */
    const char *trained_on;   /* dfew | ferv39k | mafw */
    const char *captions;     /* dataset | descriptions, as result.json's "captions" */
    const char *eval_dataset; /* dfew | ferv39k | mafw */
    double uar, war;
} PaperZeroShot;

/* The published zero-shot result for a FineCLIPER row ("finecliper (...)"), or NULL. */
const PaperZeroShot *paper_zero_shot(const char *method, const char *arch, const char *trained_on, const char *captions,
                                     const char *eval_dataset);

#endif
