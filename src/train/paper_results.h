/* Published results the tables can show beside a matrix's own (dfer table --paper), for the same
 * method, variant, dataset and backbone architecture; transcribed from the papers in
 * ../shared/papers:
 *   FineCLIPER Table 1 (supervised UAR/WAR, CLIP ViT-B/16, all four variants) and Table 2 (DFEW
 *   per-class accuracy); DFER-CLIP Table 5 (CLIP ViT-B/32, the mean of three seeds).
 * The zero-shot table is left out: the paper's captions ("video caption", "fine-grained caption")
 * do not map one to one onto a setting here. */
#ifndef DFER_TRAIN_PAPER_RESULTS_H
#define DFER_TRAIN_PAPER_RESULTS_H

typedef struct PaperResult {
    const char *method;  /* as the tables label a row: "finecliper (low+mid)", "dfer_clip" */
    const char *arch;    /* as clip_config_describe names it: "ViT-B/16" */
    const char *dataset; /* dfew | ferv39k | mafw */
    double uar, war;
    int n_recall;        /* per-class accuracy in the dataset's class order (0: not published) */
    double recall[7];
    const char *source;  /* "FineCLIPER Table 1" ... */
} PaperResult;

/* The published result, or NULL. arch may carry more after a comma (", Long-CLIP text ..."). */
const PaperResult *paper_result(const char *method, const char *arch, const char *dataset);

#endif
