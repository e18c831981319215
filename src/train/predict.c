#include "train/predict.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "data/av_frames.h"
#include "data/preprocess.h"
#include "data/sampler.h"
#include "face/face_track.h"
#include "face/render.h"
#include "io/json_file.h"
#include "model/finecliper.h"
#include "text/descriptions.h"
#include "text/verbalize.h"
#include "train/job_model.h"
#include "train/plan.h"

void predict_options_default(PredictOptions *o) {
    memset(o, 0, sizeof *o);
    o->window_s = 2.0;
    o->stride_s = 1.0;
    face_video_config_default(&o->face);
    o->batch = 4;
    o->dlib_model = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
}

int predict_windows(const char *video, double duration, double window_s, double stride_s, double **starts,
                    double **ends, int *n, Err *err) {
    double count = duration > window_s + 1e-9 ? ceil((duration - window_s) / stride_s - 1e-9) + 1 : 1;
    if (!(count <= PREDICT_MAX_WINDOWS)) /* NaN too */
        return err_set(err, "%s: %g s of video at a stride of %g s is %g windows, more than %d (a frame folder's --fps "
                            "far too low, or timestamps far apart?)", video, duration, stride_s, count,
                       PREDICT_MAX_WINDOWS);
    int k = (int)count;
    /* a stride longer than the window leaves gaps; no window may start at or past the end (it had no frames) */
    while (k > 1 && (k - 1) * stride_s >= duration - 1e-9) k--;
    *starts = xmalloc((size_t)k * sizeof(double));
    *ends = xmalloc((size_t)k * sizeof(double));
    /* only a video shorter than a window gets one window over all of it (a stride past the end also leaves
     * one window, of --window-s) */
    int whole = duration <= window_s + 1e-9;
    for (int i = 0; i < k; i++) {
        (*starts)[i] = i * stride_s;
        (*ends)[i] = whole ? duration : fmin(i * stride_s + window_s, duration);
    }
    *n = k;
    return 0;
}

void predict_top3(const PredictResult *r, const double *probs, int top[3]) {
    int used[DFER_MAX_CLASSES] = {0};
    for (int k = 0; k < 3; k++) {
        top[k] = -1;
        for (int c = 0; c < r->num_classes; c++)
            if (!used[c] && (top[k] < 0 || probs[c] > probs[top[k]])) top[k] = c;
        if (top[k] >= 0) used[top[k]] = 1;
    }
}

int predict_run_classes(const char *run_dir, const Config *cfg, const char **names, int *n, Err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/result.json", run_dir);
    if (!fs_exists(path)) { /* a run still training: the dataset's classes (a list's: data.classes) */
        const ClassTable *t = class_table(cfg->dataset);
        int list = !strcmp(cfg->dataset, "list");
        if (!t || (list && !cfg->classes))
            return err_set(err, "%s: missing, and data.dataset = %s does not tell the classes%s", path, cfg->dataset,
                           list ? " (data.classes = 0)" : "");
        *n = list ? cfg->classes : t->num_classes;
        for (int c = 0; c < *n; c++) names[c] = k_class_names[c];
        return 0;
    }
    cJSON *o;
    if (json_read_file(path, &o, err) != 0) return -1;
    const cJSON *cls = cJSON_GetObjectItem(o, "classes");
    int count = cJSON_IsArray(cls) ? cJSON_GetArraySize(cls) : 0, rc = 0;
    if (count < 1 || count > DFER_MAX_CLASSES)
        rc = err_set(err, "%s: \"classes\" must list 1 to %d class names", path, DFER_MAX_CLASSES);
    for (int c = 0; rc == 0 && c < count; c++) {
        const cJSON *e = cJSON_GetArrayItem(cls, c);
        int k = cJSON_IsString(e) ? class_index(e->valuestring) : -1;
        if (k != c)
            rc = err_set(err, "%s: class %d is %s, expected %s (dfer's class order)", path, c,
                         cJSON_IsString(e) ? e->valuestring : "not a string", k_class_names[c]);
        else names[c] = k_class_names[c];
    }
    if (rc == 0) *n = count;
    cJSON_Delete(o);
    return rc;
}

void predict_result_free(PredictResult *r) {
    for (int i = 0; i < r->n_windows; i++) free(r->windows[i].description);
    free(r->windows);
    face_video_free(&r->v);
    memset(r, 0, sizeof *r);
}

/* ---- windows ------------------------------------------------------------------------------- */

/* Frames of window w: [*first, *last) (frame times are sorted). */
static void window_frames(const FaceVideo *v, const PredictWindow *w, int last_window, int *first, int *last) {
    int a = 0;
    while (a < v->frames && v->t[a] < w->start_s - 1e-6) a++;
    int b = a;
    while (b < v->frames && (last_window || v->t[b] < w->end_s - 1e-6)) b++;
    *first = a, *last = b;
}

/* The T sampled frames of a window (segment centres over its face frames, each of which has a
 * smoothed box: its own detection); returns the number of face frames (0: nothing sampled). */
static int window_sample(const FaceVideo *v, int first, int last, int T, int *out) {
    int *faces = xmalloc((size_t)(last > first ? last - first : 1) * sizeof(int)), n = 0;
    for (int f = first; f < last; f++)
        if (v->det[f]) faces[n++] = f;
    if (n) {
        int *idx = xmalloc((size_t)T * sizeof(int));
        sample_frame_indices(n, T, 0, NULL, idx);
        for (int t = 0; t < T; t++) out[t] = faces[idx[t]];
        free(idx);
    }
    free(faces);
    return n;
}

/* The high level's text for a window: its landmark tracks, frames without a face missing. */
static char *window_description(const FaceVideo *v, int first, int last) {
    int n = last - first;
    float *xy = xmalloc((size_t)(n ? n : 1) * 2 * FACE_POINTS * sizeof(float));
    for (int f = first; f < last; f++) {
        float *dst = xy + (size_t)(f - first) * 2 * FACE_POINTS;
        if (v->det[f]) memcpy(dst, v->xy + (size_t)f * 2 * FACE_POINTS, 2 * FACE_POINTS * sizeof(float));
        else
            for (int k = 0; k < 2 * FACE_POINTS; k++) dst[k] = NAN;
    }
    char text[1024];
    if (verbalize_landmarks(xy, n, text, sizeof text) < 0) snprintf(text, sizeof text, "A face.");
    free(xy);
    return xstrdup(text);
}

/* ---- model inputs -------------------------------------------------------------------------- */

typedef struct Inputs {
    int T, R, f64, streams;
    float mean[3], std[3];
    FaceMapLut lut_parsing, lut_dots; /* the loader's colouring of the maps */
    void *frames, *parsing, *landmarks;
    float *chw; /* [3,R,R] scratch */
    uint8_t *labels;
} Inputs;

static void put_plane(const Inputs *in, void *dst, size_t at, const float *src, size_t n) {
    if (in->f64)
        for (size_t i = 0; i < n; i++) ((double *)dst)[at + i] = src[i];
    else memcpy((float *)dst + at, src, n * sizeof(float));
}

/* An index map through a LUT (the loader's colouring of parsing and landmark maps) into sample slot at. */
static void put_indexed(Inputs *in, void *dst, size_t at, const uint8_t *idx, const FaceMapLut *lut) {
    size_t n = (size_t)in->R * in->R;
    face_map_to_chw(lut, idx, n, in->chw);
    put_plane(in, dst, at, in->chw, 3 * n);
}

static void fill_window(Inputs *in, const FaceVideo *v, const ImageU8 *crops, const int *sample, int slot) {
    size_t plane = (size_t)3 * in->R * in->R;
    for (int t = 0; t < in->T; t++) {
        int f = sample[t];
        size_t at = ((size_t)slot * in->T + t) * plane;
        if (in->frames) { /* NULL for a model without the frames */
            image_to_chw_float(&crops[f], in->mean, in->std, in->chw);
            put_plane(in, in->frames, at, in->chw, plane);
        }
        if (!in->streams) continue;
        float q[2 * FACE_POINTS];
        face_video_crop_points(v, f, in->R, q);
        if (in->streams & FC_MID_PARSING) {
            face_render_parsing(q, in->R, in->R, in->labels);
            put_indexed(in, in->parsing, at, in->labels, &in->lut_parsing);
        }
        if (in->streams & FC_MID_LANDMARKS) {
            face_render_landmark_mask(q, in->R, in->R, in->labels);
            put_indexed(in, in->landmarks, at, in->labels, &in->lut_dots);
        }
    }
}

static void inputs_init(Inputs *in, const JobModel *jm, const Config *cfg, int batch) {
    memset(in, 0, sizeof *in);
    in->T = cfg->frames, in->R = jm->image_size, in->f64 = jm->f64, in->streams = jm->mid_streams;
    int clip = job_model_normalise_clip(jm, cfg);
    for (int c = 0; c < 3; c++) in->mean[c] = clip ? k_clip_mean[c] : 0.0f, in->std[c] = clip ? k_clip_std[c] : 1.0f;
    face_map_lut_init(&in->lut_parsing, FACE_MAP_PARSING, in->mean, in->std);
    face_map_lut_init(&in->lut_dots, FACE_MAP_DOTS, in->mean, in->std);
    size_t bytes = (size_t)batch * in->T * 3 * in->R * in->R * (in->f64 ? sizeof(double) : sizeof(float));
    if (!jm->no_frames) in->frames = xcalloc(bytes, 1);
    if (in->streams & FC_MID_PARSING) in->parsing = xcalloc(bytes, 1);
    if (in->streams & FC_MID_LANDMARKS) in->landmarks = xcalloc(bytes, 1);
    in->chw = xmalloc((size_t)3 * in->R * in->R * sizeof(float));
    in->labels = xmalloc((size_t)in->R * in->R);
}

static void inputs_free(Inputs *in) {
    free(in->frames), free(in->parsing), free(in->landmarks), free(in->chw), free(in->labels);
}

static void softmax_row(const void *logits, int f64, int row, int C, double *probs) {
    double mx = -INFINITY, sum = 0;
    for (int c = 0; c < C; c++) {
        double z = f64 ? ((const double *)logits)[row * C + c] : ((const float *)logits)[row * C + c];
        probs[c] = z;
        mx = fmax(mx, z);
    }
    for (int c = 0; c < C; c++) sum += probs[c] = exp(probs[c] - mx);
    for (int c = 0; c < C; c++) probs[c] /= sum;
}

static int argmax(const double *p, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

/* The model over every window with a face, batch windows at a time. */
static int run_model(const PredictOptions *o, PredictResult *r, const Config *cfg, Descriptions *descs,
                     const int *samples, Err *err) {
    JobModel jm;
    /* predict prepares normalised floats itself (fill_window), whatever the run trained with */
    Config floats = *cfg;
    snprintf(floats.uint8_frames, sizeof floats.uint8_frames, "off");
    if (job_model_load_run(o->run_dir, &floats, r->num_classes, 0, descs, o->best, &jm, NULL, 0, err) != 0) return -1;
    int T = cfg->frames, B = o->batch > 0 ? o->batch : 1;
    if (B > 64) B = 64;
    /* on CUDA, windows go through in micro-batches that fit train.gpu_mem */
    MemoryPlan plan;
    if (plan_apply_inference(&floats, r->num_classes, NULL, B, &jm, &plan, err) != 0) {
        job_model_free(&jm);
        return -1;
    }
    if (!o->quiet && plan.micro_batch && plan.micro_batch < B)
        fprintf(stderr, "predict: memory plan: %d windows per pass (%.2f of %.2f GiB)\n", plan.micro_batch,
                (double)plan.total / (1u << 30), (double)plan.cap / (1u << 30));
    if (!o->quiet && r->windows_with_face)
        fprintf(stderr, "predict: %s (%s%s%s), %d frames per window at %d px, %d window%s with a face\n", r->params,
                r->method, strcmp(r->method, "finecliper") ? "" : " ",
                strcmp(r->method, "finecliper") ? "" : r->variant, T, jm.image_size, r->windows_with_face,
                r->windows_with_face == 1 ? "" : "s");
    /* the crops are made as the windows come (they are in time order) and freed once no later window samples
     * them: a batch of windows' span of frames in memory, not the whole video's (an hour at 16 frames per 2 s
     * window was 4 GB of 224 px crops) */
    uint8_t *want = xcalloc((size_t)r->v.frames, 1);
    int *window_lo = xmalloc((size_t)(r->n_windows + 1) * sizeof(int)),
        *window_hi = xmalloc((size_t)r->n_windows * sizeof(int));
    for (int w = 0; w < r->n_windows; w++) {
        window_lo[w] = r->v.frames, window_hi[w] = -1;
        for (int t = 0; r->windows[w].face && t < T; t++) {
            int f = samples[(size_t)w * T + t];
            want[f] = 1;
            window_lo[w] = f < window_lo[w] ? f : window_lo[w];
            window_hi[w] = f > window_hi[w] ? f : window_hi[w];
        }
    }
    window_lo[r->n_windows] = r->v.frames;
    for (int w = r->n_windows - 1; w >= 0; w--) /* the lowest frame any window from w on samples */
        if (window_lo[w + 1] < window_lo[w]) window_lo[w] = window_lo[w + 1];
    ImageU8 *crops = xcalloc((size_t)r->v.frames, sizeof *crops);
    FaceCropper *cropper = NULL;
    int rc = r->windows_with_face ? face_cropper_open(r->video, &r->v, jm.image_size, &cropper, err) : 0, freed = 0;
    Inputs in;
    inputs_init(&in, &jm, cfg, B);
    void *logits = xmalloc((size_t)B * r->num_classes * sizeof(double));
    char ids[64][32];
    const char *id_ptrs[64];
    int slot_window[64];
    for (int w = 0, n = 0; rc == 0 && w <= r->n_windows; w++) {
        if (w < r->n_windows && r->windows[w].face) {
            if ((rc = face_cropper_advance(cropper, want, window_hi[w], crops, err)) != 0) break;
            fill_window(&in, &r->v, crops, samples + (size_t)w * T, n);
            snprintf(ids[n], sizeof ids[n], "window-%d", w);
            id_ptrs[n] = ids[n];
            slot_window[n++] = w;
        }
        if (n == B || (w == r->n_windows && n > 0)) {
            JobInputs ji = {.frames = in.frames, .parsing = in.parsing, .landmarks = in.landmarks, .clip_ids = id_ptrs};
            job_model_step(&jm, &ji, NULL, n, 0, 1.0f, logits);
            for (int i = 0; i < n && rc == 0; i++) {
                PredictWindow *pw = &r->windows[slot_window[i]];
                softmax_row(logits, jm.f64, i, r->num_classes, pw->probs);
                pw->top = argmax(pw->probs, r->num_classes);
                int finite = 1;
                for (int c = 0; c < r->num_classes; c++) finite &= isfinite(pw->probs[c]) != 0;
                if (!finite) /* dfer eval refuses such a model too: there is no prediction to give */
                    rc = err_set(err, "%s: window %d (%.2f-%.2f s) got non-finite logits (NaN or infinite): the "
                                      "model's parameters hold NaN or overflow (`dfer info %s` names the tensors)",
                                 r->params, slot_window[i], pw->start_s, pw->end_s, r->params);
            }
            n = 0;
            int keep_from = w < r->n_windows ? window_lo[w + 1] : r->v.frames;
            for (; freed < keep_from; freed++) image_free(&crops[freed]);
        }
    }
    free(logits);
    inputs_free(&in);
    face_cropper_close(cropper);
    for (int f = freed; f < r->v.frames; f++) image_free(&crops[f]);
    free(crops), free(want), free(window_lo), free(window_hi);
    job_model_free(&jm);
    return rc;
}

int predict_run(const PredictOptions *o, PredictResult *r, Err *err) {
    memset(r, 0, sizeof *r);
    r->clip_top = -1;
    snprintf(r->run, sizeof r->run, "%s", o->run_dir);
    snprintf(r->video, sizeof r->video, "%s", o->video);
    /* the run first: a bad run directory fails before the video is scanned */
    Config cfg;
    if (job_run_config(o->run_dir, &cfg, err) != 0) return -1;
    if (predict_run_classes(o->run_dir, &cfg, r->classes, &r->num_classes, err) != 0) return -1;
    if (job_run_params_path(o->run_dir, o->best, r->params, sizeof r->params, err) != 0) return -1;
    if (!fs_exists(cfg.weights))
        return err_set(err, "%s: the run's CLIP weights %s (model.weights in %s/config.ini) are missing", o->run_dir,
                       cfg.weights, o->run_dir);
    snprintf(r->method, sizeof r->method, "%s", cfg.method);
    snprintf(r->variant, sizeof r->variant, "%s", cfg.variant);
    r->frames_per_window = cfg.frames;
    if (o->threads > 0) cfg.threads = o->threads;
    if (!fs_exists(o->video)) return err_set(err, "%s: no such video file or frame folder", o->video);
    struct stat st;
    if (stat(o->video, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return err_set(err,
                       "%s: not a file or folder (a pipe or device?): predict reads the video more than once (the "
                       "face scan, the crops%s), so it must be a file",
                       o->video, o->annotate ? ", --annotate" : "");
    if (o->annotate) { /* a folder that is missing or not writable is found now, not after the scan and the model */
        AtomicFile probe;
        if (atomic_open(&probe, o->annotate, err) != 0) return err_prefix(err, "--annotate: ");
        atomic_abort(&probe);
    }

    DlibModel *dm = dlib_model_load(o->dlib_model, err);
    if (!dm) return -1;
    int rc = face_video_scan(o->video, dm, &o->face, &r->v, err);
    dlib_model_free(dm);
    if (rc) return -1;
    const FaceVideo *v = &r->v;
    double *starts, *ends;
    if (predict_windows(o->video, v->duration, o->window_s, o->stride_s, &starts, &ends, &r->n_windows, err) != 0)
        return -1;
    r->windows = xcalloc((size_t)r->n_windows, sizeof *r->windows);
    int T = cfg.frames, high = !strcmp(cfg.method, "finecliper") && strstr(cfg.variant, "high");
    int *samples = xcalloc((size_t)r->n_windows * T, sizeof(int));
    Descriptions *descs = NULL;
    if (high) {
        descs = xcalloc(1, sizeof *descs);
        descriptions_init(descs);
        snprintf(descs->source, sizeof descs->source, "the windows' landmark descriptions");
    }
    for (int w = 0; w < r->n_windows; w++) {
        PredictWindow *pw = &r->windows[w];
        pw->start_s = starts[w], pw->end_s = ends[w];
        int first, last;
        /* the window that reaches the video's end takes every frame to it (not the last of windows with gaps) */
        window_frames(v, pw, w == r->n_windows - 1 && ends[w] >= v->duration - 1e-9, &first, &last);
        pw->frames = last - first;
        pw->face_frames = window_sample(v, first, last, T, samples + (size_t)w * T);
        pw->face = pw->face_frames > 0;
        r->windows_with_face += pw->face;
        if (high && pw->face) {
            char id[32];
            snprintf(id, sizeof id, "window-%d", w);
            pw->description = window_description(v, first, last);
            descriptions_add(descs, id, pw->description, 0);
        }
    }
    free(starts), free(ends);
    if (!o->quiet)
        fprintf(stderr,
                "predict: %s: %d frames, %.2f s (%.2f fps%s%s), %dx%d upright (rotation %d), a face in %d frames; "
                "%d window%s, %d with a face\n",
                o->video, v->frames, v->duration, v->fps, v->vfr ? ", variable" : "",
                v->frame_folder ? ", a frame folder at --fps" : "", v->width, v->height, v->rotation, v->face_frames,
                r->n_windows, r->n_windows == 1 ? "" : "s", r->windows_with_face);
    if (v->truncated) { /* a warning even with --quiet: the predictions cover only what decoded */
        char declared[96];
        av_declared_text(declared, sizeof declared, v->declared_duration, v->declared_frames);
        fprintf(stderr, "predict: warning: %s: the container gives the video %s, but it decodes to %.2f s (%d frames): "
                        "the file is truncated or damaged; the predictions cover what decodes\n",
                o->video, declared, v->duration, v->frames);
    }
    if (descs && descriptions_index(descs, err) != 0) rc = -1;
    if (rc == 0) { /* with no window to run, still loaded: a damaged model is an error, not "no face" */
        rc = run_model(o, r, &cfg, descs, samples, err);
        descs = NULL; /* taken over by the model */
    }
    if (descs) descriptions_free(descs), free(descs);
    free(samples);
    if (rc) return -1;
    for (int w = 0; w < r->n_windows; w++)
        if (r->windows[w].face)
            for (int c = 0; c < r->num_classes; c++) r->clip_probs[c] += r->windows[w].probs[c] / r->windows_with_face;
    if (r->windows_with_face) r->clip_top = argmax(r->clip_probs, r->num_classes);
    return 0; /* the caller writes o->annotate (predict_annotate) once it has given out the predictions */
}
