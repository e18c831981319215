/* `dfer predict`: a trained run (FineCLIPER, any variant, or DFER-CLIP) on
 * any FFmpeg-readable video, per sliding window and for the whole clip.
 *
 * The video is decoded, turned upright and its face followed and cropped as
 * train/predict_video.h describes. Windows are spans of presentation time:
 * [k * stride, k * stride + window) for k = 0, 1, ... until one reaches the
 * end (the last ends at the duration, so it may be shorter); a video no
 * longer than one window gives one window over all of it. A frame belongs to
 * the window its start time falls in.
 *
 * Per window, the frames with a detected face are its input: the run's
 * data.frames of them at the segment centres (data/sampler.h, test mode; edge
 * padding when there are fewer), each crop resized to the model's resolution
 * and normalised as the run was (job_model_normalise_clip). The middle
 * level's parsing and landmark maps are rendered from the frames' landmarks
 * in the crop (face/render.h); the high level's description is written from
 * the window's landmark tracks by text/verbalize.h (frames without a face
 * count as missing there). A window without any face frame gets no
 * prediction (face = 0). The clip's probabilities are the mean of those of
 * the windows with a face; with none, the clip has no prediction either. */
#ifndef DFER_TRAIN_PREDICT_H
#define DFER_TRAIN_PREDICT_H

#include "core/check.h"
#include "data/classes.h"
#include "train/config.h"
#include "train/predict_video.h"

typedef struct PredictOptions {
    const char *run_dir, *video;
    double window_s, stride_s; /* 2, 1 */
    int best;                  /* best_model.safetensors instead of model.safetensors */
    FaceVideoConfig face;
    int threads;               /* model threads; 0: the run's train.threads */
    int batch;                 /* windows per forward pass; default 4 */
    const char *dlib_model;
    const char *annotate;      /* the annotated video (predict_run checks it can be created; the caller writes it
                                * with predict_annotate after giving out the predictions), or NULL */
    int quiet;                 /* no progress lines on stderr */
} PredictOptions;

typedef struct PredictWindow {
    double start_s, end_s;
    int frames, face_frames;
    int face;                        /* face_frames > 0: probs and top are set */
    double probs[DFER_MAX_CLASSES];
    int top;
    char *description;               /* the high level's text, or NULL */
} PredictWindow;

typedef struct PredictResult {
    char run[4096], params[4096], video[4096];
    char method[32], variant[32];
    int num_classes;
    const char *classes[DFER_MAX_CLASSES];
    int frames_per_window;           /* the run's data.frames */
    FaceVideo v;                     /* the decoded video's times, faces and crops */
    int n_windows;
    PredictWindow *windows;
    int windows_with_face;
    double clip_probs[DFER_MAX_CLASSES];
    int clip_top;                    /* -1 when no window has a face */
} PredictResult;

void predict_options_default(PredictOptions *o);
int predict_run(const PredictOptions *o, PredictResult *r, Err *err);
void predict_result_free(PredictResult *r);

/* The most windows a video may have: a day of video at the smallest stride (0.01 s) is 8.64 million. */
#define PREDICT_MAX_WINDOWS 10000000
/* The window spans of a video of `duration` seconds: starts/ends [*n] (allocated). -1 (err names the video) where
 * they would be more than PREDICT_MAX_WINDOWS (a frame folder at --fps 1e-300, timestamps a million years apart: the
 * count overflowed int). */
int predict_windows(const char *video, double duration, double window_s, double stride_s, double **starts,
                    double **ends, int *n, Err *err);
/* The indices of the three most probable of r's classes, best first (-1 past num_classes). */
void predict_top3(const PredictResult *r, const double *probs, int top[3]);
/* The classes of a run: result.json's "classes", else the dataset's (config); errors name the path. */
int predict_run_classes(const char *run_dir, const Config *cfg, const char **names, int *n, Err *err);

/* The video with the smoothed face box and each frame's window's top three
 * classes drawn (cairo), one output frame per decoded frame at its own time
 * (H.264 yuv420p, 8 bits, whatever the input's format); odd sizes are padded
 * by one edge pixel (H.264 needs even ones). Written to a temporary file,
 * then renamed. */
int predict_annotate(const PredictResult *r, const char *out_path, Err *err);

#endif
