/* dfer synth: the synthetic DFER benchmark, written in the official layout of
 * DFEW, FERV39k or MAFW (so it goes through the same adapters as the real
 * datasets), with ground truth the real ones lack: per-frame landmarks and
 * parsing maps, and per-clip captions and "MLLM-style" descriptions, some of
 * which leak the emotion word (to test the refinement). Deterministic for a
 * seed whatever the thread count. */
#ifndef DFER_DATA_SYNTH_H
#define DFER_DATA_SYNTH_H

#include "core/check.h"

/* the frame rate of the MAFW-layout .mp4 copies */
#define SYNTH_FPS 25

typedef struct SynthConfig {
    char layout[16];   /* dfew | ferv39k | mafw */
    int clips;
    unsigned long long seed;
    int classes;       /* 7 or 11 */
    int difficulty;    /* 0 easy, 1 medium, 2 hard */
    int size;          /* frame side in pixels */
    int min_frames, max_frames;
    int threads;
    double leak_rate;  /* share of descriptions naming the emotion */
    int force;         /* write into a non-empty directory */
} SynthConfig;

void synth_config_default(SynthConfig *c);
/* -1 with a message naming the first value that is not valid (dfer synth gives it as a usage error). */
int synth_config_check(const SynthConfig *c, Err *err);
int synth_generate(const SynthConfig *c, const char *out_dir, Err *err);
/* A grid of frames from several clips of each class, for looking at. */
int synth_contact_sheet(const SynthConfig *c, const char *png_path, Err *err);

#endif
