/* dfer predict: a trained run on a video, per sliding window and for the clip
 * (train/predict.h), as a table, JSON or CSV. */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "train/predict.h"

static void usage(void) {
    printf("usage: dfer predict --checkpoint RUN_DIR --video FILE|FOLDER [--window-s S --stride-s S] "
           "[--json|--csv]\n"
           "                    [--annotate OUT.mp4] [options]\n\n"
           "Runs a trained run (a `dfer train` or matrix job directory: config.ini, model.safetensors, result.json)\n"
           "on any video FFmpeg reads. The video is decoded with its presentation times (variable frame rates keep\n"
           "their timing) and turned upright (rotation metadata); dlib finds and follows the face (the largest,\n"
           "then the same person), whose box is smoothed over time and cropped as a square of --crop-scale times\n"
           "its size, as the datasets' face crops. Each window of --window-s seconds, every --stride-s seconds,\n"
           "samples the run's data.frames frames among its frames with a face (segment centres) and gets class\n"
           "probabilities; a window without a face gets none (\"face\": false). The clip's prediction is the mean\n"
           "over the windows with a face. A video shorter than a window gives one window over all of it. A video\n"
           "that decodes to well under the length its container gives (a file cut short) gets a warning. A folder\n"
           "of frame images (a dataset's clip folder: DFEW, FERV39k, MAFW faces) is read as a video in name order\n"
           "at --fps frames per second. Times (start_s, end_s) are seconds from the first decoded frame; a player's\n"
           "clock starts at the container's start time instead, so the first frame is at start_offset_s on it (0 for\n"
           "ordinary files; later for a video that starts after its audio): player_start_s and player_end_s are\n"
           "the windows on the player's clock.\n\n"
           "  --checkpoint DIR   the run directory (also --run)\n"
           "  --video FILE       the video, or a folder of its frames (jpg, png, bmp, ppm, webp)\n"
           "  --fps F            a frame folder's frame rate (default 25; a video file has its own)\n"
           "  --window-s S       window length in seconds (default 2)\n"
           "  --stride-s S       window start every S seconds (default 1)\n"
           "  --json             one JSON object: video, run, classes, fps, duration, start_offset_s, truncated, "
           "rotation, windows, clip\n"
           "  --csv              one row per window (start_s,end_s,frames,face_frames,face,face_share,top,<classes>,\n"
           "                     player_start_s,player_end_s)\n"
           "  --annotate OUT     also write the upright video with the face box and each window's top 3 classes\n"
           "  --best             the run's best_model.safetensors (default: model.safetensors)\n"
           "  --crop-scale F     crop side / detector box side (default 1.3)\n"
           "  --smooth-s S       box smoothing span in seconds (default 0.3)\n"
           "  --upsample N       retry frames without a face doubled up to N times (0..3, default 1)\n"
           "  --threads N        model threads (default: the run's train.threads)\n"
           "  --detect-threads N face detector threads (default: all cores, at most 16)\n"
           "  --batch N          windows per forward pass (default 4, at most 64)\n"
           "  --model PATH       dlib 68-point model "
           "(default /usr/share/dlib/shape_predictor_68_face_landmarks.dat)\n"
           "  --quiet            no progress lines on stderr\n\n"
           "Exit status: 0 (also when no face is found: every window says so); 1 a missing or unreadable run, video\n"
           "or model, named (also a model whose outputs are not finite), or an --annotate copy that cannot be\n"
           "written: a folder that is missing or not writable before anything runs, a failure while writing it\n"
           "after the predictions are printed; 2 usage error.\n");
}

static double share(const PredictWindow *w) { return w->frames ? (double)w->face_frames / w->frames : 0.0; }

static cJSON *probs_json(const PredictResult *r, const double *p) {
    cJSON *o = cJSON_CreateObject();
    for (int c = 0; c < r->num_classes; c++) cJSON_AddNumberToObject(o, r->classes[c], p[c]);
    return o;
}

static void print_json(const PredictResult *r) {
    const FaceVideo *v = &r->v;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "video", r->video);
    cJSON_AddStringToObject(o, "run", r->run);
    cJSON_AddStringToObject(o, "parameters", r->params);
    cJSON_AddStringToObject(o, "method", r->method);
    if (!strcmp(r->method, "finecliper")) cJSON_AddStringToObject(o, "variant", r->variant);
    cJSON *cls = cJSON_AddArrayToObject(o, "classes");
    for (int c = 0; c < r->num_classes; c++) cJSON_AddItemToArray(cls, cJSON_CreateString(r->classes[c]));
    cJSON_AddBoolToObject(o, "frame_folder", v->frame_folder); /* fps: --fps, not the file's */
    cJSON_AddNumberToObject(o, "fps", v->fps);
    cJSON_AddNumberToObject(o, "nominal_fps", v->nominal_fps);
    cJSON_AddBoolToObject(o, "variable_frame_rate", v->vfr);
    cJSON_AddNumberToObject(o, "duration", v->duration);
    /* the windows' times count from the first decoded frame; a player's clock from the container's start time
     * (an MPEG-TS's ~1.4 s, "container_start_s", null for a frame folder): the first frame is at start_offset_s
     * on it, and each window's player_start_s and player_end_s are its span there */
    cJSON_AddNumberToObject(o, "start_offset_s", v->start_offset);
    cJSON_AddItemToObject(o, "container_start_s",
                          isfinite(v->container_start) ? cJSON_CreateNumber(v->container_start) : cJSON_CreateNull());
    /* the container's own figures for the video stream (null where it gives none), and whether decoding ended
     * well before them */
    cJSON_AddItemToObject(o, "declared_duration",
                          v->declared_duration > 0 ? cJSON_CreateNumber(v->declared_duration) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "declared_frames",
                          v->declared_frames > 0 ? cJSON_CreateNumber((double)v->declared_frames) : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "truncated", v->truncated);
    cJSON_AddNumberToObject(o, "frames", v->frames);
    cJSON_AddNumberToObject(o, "face_frames", v->face_frames);
    cJSON_AddNumberToObject(o, "rotation", v->rotation);
    cJSON_AddNumberToObject(o, "width", v->width);
    cJSON_AddNumberToObject(o, "height", v->height);
    cJSON_AddNumberToObject(o, "frames_per_window", r->frames_per_window);
    cJSON *ws = cJSON_AddArrayToObject(o, "windows");
    for (int i = 0; i < r->n_windows; i++) {
        const PredictWindow *w = &r->windows[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "start_s", w->start_s);
        cJSON_AddNumberToObject(e, "end_s", w->end_s);
        cJSON_AddNumberToObject(e, "player_start_s", w->start_s + v->start_offset);
        cJSON_AddNumberToObject(e, "player_end_s", w->end_s + v->start_offset);
        cJSON_AddNumberToObject(e, "frames", w->frames);
        cJSON_AddNumberToObject(e, "face_frames", w->face_frames);
        cJSON_AddBoolToObject(e, "face", w->face);
        cJSON_AddNumberToObject(e, "face_share", share(w));
        if (w->face) {
            cJSON_AddItemToObject(e, "probs", probs_json(r, w->probs));
            cJSON_AddStringToObject(e, "top", r->classes[w->top]);
        }
        if (w->description) cJSON_AddStringToObject(e, "description", w->description);
        cJSON_AddItemToArray(ws, e);
    }
    cJSON *clip = cJSON_AddObjectToObject(o, "clip");
    cJSON_AddBoolToObject(clip, "face", r->clip_top >= 0);
    cJSON_AddNumberToObject(clip, "windows_with_face", r->windows_with_face);
    if (r->clip_top >= 0) {
        cJSON_AddItemToObject(clip, "probs", probs_json(r, r->clip_probs));
        cJSON_AddStringToObject(clip, "top", r->classes[r->clip_top]);
    }
    char *s = cJSON_Print(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void print_csv(const PredictResult *r) {
    /* the player's times last: the columns that were there keep their places */
    printf("start_s,end_s,frames,face_frames,face,face_share,top");
    for (int c = 0; c < r->num_classes; c++) printf(",%s", r->classes[c]);
    printf(",player_start_s,player_end_s\n");
    for (int i = 0; i < r->n_windows; i++) {
        const PredictWindow *w = &r->windows[i];
        /* times to the microsecond at any length (%.6g cut 10000.25 s to 10000.2) */
        printf("%.6f,%.6f,%d,%d,%s,%.6g,%s", w->start_s, w->end_s, w->frames, w->face_frames,
               w->face ? "true" : "false", share(w), w->face ? r->classes[w->top] : "");
        for (int c = 0; c < r->num_classes; c++) {
            if (w->face) printf(",%.6g", w->probs[c]);
            else printf(",");
        }
        printf(",%.6f,%.6f\n", w->start_s + r->v.start_offset, w->end_s + r->v.start_offset);
    }
}

static void print_table(const PredictResult *r) {
    const FaceVideo *v = &r->v;
    printf("video: %s (%dx%d upright, rotation %d, %.2f s, %d frames, %.2f fps%s; a face in %d frames)\n", r->video,
           v->width, v->height, v->rotation, v->duration, v->frames, v->fps, v->vfr ? " variable" : "", v->face_frames);
    if (fabs(v->start_offset) >= 0.0005) /* the windows count from the first frame, which a player shows later */
        printf("       its first frame is at %.3f s on a player's clock: add it to the windows' times\n",
               v->start_offset);
    printf("run:   %s (%s%s%s)\n\n", r->params, r->method, strcmp(r->method, "finecliper") ? "" : " ",
           strcmp(r->method, "finecliper") ? "" : r->variant);
    printf("%-17s %6s %5s  %s\n", "window (s)", "frames", "face", "top classes");
    for (int i = 0; i < r->n_windows; i++) {
        const PredictWindow *w = &r->windows[i];
        char span[40];
        snprintf(span, sizeof span, "%.2f-%.2f", w->start_s, w->end_s);
        printf("%-17s %6d %4.0f%%  ", span, w->frames, 100 * share(w));
        if (!w->face) {
            printf("%s\n", w->frames ? "no face" : "no frames");
            continue;
        }
        int t[3];
        predict_top3(r, w->probs, t);
        for (int k = 0; k < 3 && t[k] >= 0; k++) printf("%s%s %.3f", k ? ", " : "", r->classes[t[k]], w->probs[t[k]]);
        printf("\n");
    }
    if (r->clip_top < 0) {
        printf("\nclip: no face found in any window: no prediction\n");
        return;
    }
    int t[3];
    predict_top3(r, r->clip_probs, t);
    printf("\nclip: %s (", r->classes[r->clip_top]);
    for (int k = 0; k < 3 && t[k] >= 0; k++) printf("%s%s %.3f", k ? ", " : "", r->classes[t[k]], r->clip_probs[t[k]]);
    printf("; mean of %d window%s with a face)\n", r->windows_with_face, r->windows_with_face == 1 ? "" : "s");
}

int cmd_predict(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"run", required_argument, 0, 'c'},
        {"video", required_argument, 0, 'v'},      {"window-s", required_argument, 0, 'w'},
        {"stride-s", required_argument, 0, 's'},   {"json", no_argument, 0, 'j'},
        {"csv", no_argument, 0, 'C'},              {"annotate", required_argument, 0, 'a'},
        {"best", no_argument, 0, 'b'},             {"crop-scale", required_argument, 0, 'k'},
        {"smooth-s", required_argument, 0, 'S'},   {"upsample", required_argument, 0, 'u'},
        {"threads", required_argument, 0, 't'},    {"detect-threads", required_argument, 0, 'D'},
        {"batch", required_argument, 0, 'B'},      {"model", required_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'q'},            {"help", no_argument, 0, 'h'},
        {"fps", required_argument, 0, 'F'},
        {0, 0, 0, 0}};
    PredictOptions o;
    predict_options_default(&o);
    int json = 0, csv = 0, c, bad = 0;
    double x = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o.run_dir = optarg; break;
        case 'v': o.video = optarg; break;
        /* at least 10 ms (a frame at 100 fps): a stride of 1e-12 s asked for more windows than an int holds */
        case 'w': bad = cli_double_option("predict", "--window-s", optarg, 0.01, 0, INFINITY, &o.window_s); break;
        case 's': bad = cli_double_option("predict", "--stride-s", optarg, 0.01, 0, INFINITY, &o.stride_s); break;
        case 'k': /* a tenth of the face box at least (1e-50 became a crop of 0 pixels as a float) */
            bad = cli_double_option("predict", "--crop-scale", optarg, 0.1, 0, 100, &x);
            o.face.crop_scale = (float)x;
            break;
        case 'S': bad = cli_double_option("predict", "--smooth-s", optarg, 0, 0, INFINITY, &o.face.smooth_s); break;
        case 'j': json = 1; break;
        case 'C': csv = 1; break;
        case 'a': o.annotate = optarg; break;
        case 'b': o.best = 1; break;
        case 'u': bad = cli_int_option("predict", "--upsample", optarg, 0, 3, &o.face.upsample); break;
        case 't': bad = cli_int_option("predict", "--threads", optarg, 0, 256, &o.threads); break;
        case 'D': bad = cli_int_option("predict", "--detect-threads", optarg, 1, 16, &o.face.threads); break;
        case 'B': bad = cli_int_option("predict", "--batch", optarg, 1, 64, &o.batch); break;
        case 'm': o.dlib_model = optarg; break;
        case 'F': bad = cli_double_option("predict", "--fps", optarg, 0, 1, 1000, &o.face.folder_fps); break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("predict", c, argv, opts);
        }
        if (bad) return bad;
    }
    if (optind < argc) return cli_usage_error("predict", "unexpected argument '%s'", argv[optind]);
    if (!o.run_dir) return cli_usage_error("predict", "--checkpoint RUN_DIR is required");
    if (!o.video) return cli_usage_error("predict", "--video FILE is required");
    if (json && csv) return cli_usage_error("predict", "--json and --csv exclude each other");
    if (o.annotate) { /* an MP4 is written whatever the name says; never over the video it reads */
        size_t len = strlen(o.annotate);
        if (len < 4 || strcasecmp(o.annotate + len - 4, ".mp4"))
            return cli_usage_error("predict", "--annotate writes an MP4 file: give a name ending in .mp4, not '%s'",
                                   o.annotate);
        struct stat in_st, out_st;
        if (stat(o.video, &in_st) == 0 && stat(o.annotate, &out_st) == 0 && in_st.st_dev == out_st.st_dev &&
            in_st.st_ino == out_st.st_ino)
            return cli_usage_error("predict", "--annotate %s is the input video: give another file", o.annotate);
    }
    PredictResult r;
    Err err;
    int rc = predict_run(&o, &r, &err);
    if (rc == 0) {
        if (json) print_json(&r);
        else if (csv) print_csv(&r);
        else print_table(&r);
        if (fflush(stdout) != 0 || ferror(stdout)) /* a closed or full standard output lost the results */
            rc = err_set(&err, "cannot write the results to standard output: %s", strerror(errno));
        /* the annotated copy after the results: a copy that cannot be written (a full disk after an hour of
         * video) no longer loses the predictions with it (the exit status still says it failed) */
        if (rc == 0 && o.annotate) rc = predict_annotate(&r, o.annotate, &err);
        if (rc == 0 && o.annotate && !o.quiet) fprintf(stderr, "predict: wrote %s\n", o.annotate);
    }
    predict_result_free(&r);
    return rc ? cli_fail(&err) : 0;
}
