#include "data/synth.h"

#include <cJSON.h>
#include <dirent.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/rng.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "data/encode.h"
#include "data/synth_face.h"

void synth_config_default(SynthConfig *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->layout, sizeof c->layout, "dfew");
    c->clips = 300;
    c->seed = 1;
    c->classes = 7;
    c->difficulty = 1;
    c->size = 112;
    c->min_frames = 12;
    c->max_frames = 40;
    c->threads = 2;
    c->leak_rate = 0.3;
}

/* ---- texts ------------------------------------------------------------------------ */

static const char *k_movements[DFER_MAX_CLASSES][3] = {
    {"the corners of the mouth rise", "the cheeks lift", "the eyes narrow slightly"},
    {"the corners of the mouth turn down", "the inner ends of the eyebrows rise", "the eyelids droop a little"},
    {"the face stays relaxed", "the mouth remains closed and still", "the eyebrows stay level"},
    {"the eyebrows draw down and together", "the lips press tightly", "the eyes narrow"},
    {"the eyebrows shoot up", "the eyes open wide", "the jaw drops open"},
    {"the nose wrinkles", "the upper lip rises", "the eyebrows lower"},
    {"the eyebrows rise and pull together", "the eyes widen", "the lips stretch sideways"},
    {"one corner of the mouth lifts", "the other side of the face stays still", "the chin tilts up slightly"},
    {"the lips press together", "the inner eyebrows lift slightly", "the eyes open a little wider"},
    {"the gaze drops downward", "the mouth corners sag", "the head lowers"},
    {"the mouth corners sag", "the eyebrows lower", "the eyes narrow"},
};
static const char *k_emotion_words[DFER_MAX_CLASSES] = {"happy", "sad", "calm", "angry", "surprised", "disgusted",
                                                        "afraid", "contemptuous", "anxious", "helpless",
                                                        "disappointed"};
static const char *k_chinese[DFER_MAX_CLASSES] = {
    "嘴角上扬，脸颊抬起", "嘴角下垂，眉头上扬", "面部放松，没有变化",
    "眉头紧锁，嘴唇紧闭", "眉毛上扬，眼睛睁大", "鼻子皱起，上唇抬起",
    "眉毛上扬，嘴唇拉伸", "一侧嘴角上扬", "嘴唇紧抿，眉头微抬",
    "目光下垂，嘴角下垂", "嘴角下垂，眉毛低垂"};
static const char *k_ferv_emotion[7] = {"Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"};
static const char *k_ferv_scene[5] = {"Action", "Daily", "Interview", "Party", "Speech"};

static void caption_text(Rng *r, const ClipScript *s, char *buf, size_t n) {
    const char *who = rng_uniform(r) < 0.5 ? "The man" : "The woman";
    const char *m = k_movements[s->label][rng_int(r, 3)];
    int named = rng_uniform(r) < 0.4; /* MAFW's human captions often name the emotion */
    snprintf(buf, n, "%s's face changes: %s%s%s.", who, m, named ? ", and the person looks " : "",
             named ? k_emotion_words[s->label] : "");
}

static void description_text(Rng *r, const ClipScript *s, int leak, char *buf, size_t n) {
    size_t off = 0;
#define ADD(...) (off += (size_t)snprintf(buf + off, off < n ? n - off : 0, __VA_ARGS__))
    ADD("At the beginning of the video the person's face is %s. ", s->onset > 2 ? "fairly relaxed" : "already moving");
    ADD("Over the next frames %s, and %s. ", k_movements[s->label][0], k_movements[s->label][1]);
    if (s->talk_amp > 0) ADD("The mouth also moves as if the person were talking. ");
    if (s->n_blinks) ADD("The person blinks %s. ", s->n_blinks > 1 ? "a few times" : "once");
    ADD("Towards the end %s and the change %s.", k_movements[s->label][2],
        s->residual > 0.6 ? "remains visible" : "partly fades");
    if (leak) {
        static const char *forms[3] = {" These changes suggest that the person feels %s.", " The person looks %s.",
                                       " Overall the expression appears %s."};
        ADD(forms[rng_int(r, 3)], k_emotion_words[s->label]);
    }
#undef ADD
}

static int to_gbk(const char *utf8, char *out, size_t n) {
    iconv_t cd = iconv_open("GBK", "UTF-8");
    if (cd == (iconv_t)-1) return -1;
    char *in = (char *)utf8, *o = out;
    size_t il = strlen(utf8), ol = n - 1;
    size_t rc = iconv(cd, &in, &il, &o, &ol);
    iconv_close(cd);
    *o = 0;
    return rc == (size_t)-1 ? -1 : 0;
}

/* ---- one clip --------------------------------------------------------------------- */

typedef struct ClipPlan {
    int index, label, frames, fold, scene;
    char id[32];
    char key[96];           /* the clip's id as the dataset reader forms it (FERV39k: Scene/Emotion/id): the
                             * ground truth's name under synth/landmarks and synth/parsing, where the loader looks */
    char frame_dir[4096];   /* where the face frames go */
    char video[4096];       /* MAFW: the mp4, else "" */
    char rel[512];          /* clip path relative to the root, for clips.jsonl */
    ClipScript script;
    FaceIdentity identity;
    int leak;
    char caption[512], description[2048];
} ClipPlan;

typedef struct Gen {
    const SynthConfig *cfg;
    char root[4096];
    ClipPlan *plans;
    int next, done, failed;
    Err first_err;
    pthread_mutex_t mu;
} Gen;

static int write_clip(Gen *g, ClipPlan *p, Err *err) {
    const SynthConfig *c = g->cfg;
    int S = c->size;
    char path[8192];
    if (fs_mkdirs(p->frame_dir, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/synth/parsing/%s", g->root, p->key);
    if (fs_mkdirs(path, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/synth/landmarks/%s", g->root, p->key);
    *strrchr(path, '/') = '\0'; /* FERV39k's Scene/Emotion folders */
    if (fs_mkdirs(path, err) != 0) return -1;
    uint8_t *rgb = xmalloc((size_t)S * S * 3), *parsing = xmalloc((size_t)S * S);
    double xy[2 * SYNTH_LANDMARKS];
    Rng noise;
    rng_init(&noise, c->seed, (uint64_t)p->index, 3, 0);
    VideoWriter *vw = NULL;
    int rc = p->video[0] ? video_writer_open(p->video, S, S, SYNTH_FPS, NULL, &vw, err) : 0;
    size_t lm_cap = (size_t)p->frames * SYNTH_LANDMARKS * 2 * 12 + 64, lm_len = 0;
    char *lm = xmalloc(lm_cap);
    for (int t = 0; t < p->frames && rc == 0; t++) {
        synth_landmarks(&p->identity, &p->script, t, S, xy);
        synth_render(&p->identity, &p->script, t, S, xy, rgb, parsing, &noise);
        snprintf(path, sizeof path, "%s/%s_%05d.jpg", p->frame_dir, p->id, t + 1);
        if (!strcmp(c->layout, "ferv39k")) snprintf(path, sizeof path, "%s/%05d.jpg", p->frame_dir, t + 1);
        rc = image_write_jpeg(path, rgb, S, S, 3, err);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/synth/parsing/%s/%05d.png", g->root, p->key, t + 1);
            rc = image_write_png(path, parsing, S, S, 1, err);
        }
        if (rc == 0 && vw) rc = video_writer_add_frame(vw, rgb, t / (double)SYNTH_FPS, 1.0 / SYNTH_FPS, err);
        for (int i = 0; i < 2 * SYNTH_LANDMARKS; i++)
            lm_len += (size_t)snprintf(lm + lm_len, lm_cap - lm_len, "%s%.2f", i ? " " : "", xy[i]);
        lm_len += (size_t)snprintf(lm + lm_len, lm_cap - lm_len, "\n");
    }
    if (vw) {
        int crc = video_writer_close(vw, rc == 0, err);
        if (rc == 0) rc = crc;
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/synth/landmarks/%s.txt", g->root, p->key);
        rc = fs_write_atomic(path, lm, lm_len, err);
    }
    free(lm);
    free(rgb);
    free(parsing);
    return rc;
}

static void *worker(void *arg) {
    Gen *g = arg;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        int i = g->failed ? g->cfg->clips : g->next++;
        pthread_mutex_unlock(&g->mu);
        if (i >= g->cfg->clips) break;
        Err err;
        int rc = write_clip(g, &g->plans[i], &err);
        pthread_mutex_lock(&g->mu);
        g->done++;
        if (rc && !g->failed) g->failed = 1, g->first_err = err;
        pthread_mutex_unlock(&g->mu);
    }
    return NULL;
}

/* ---- plan, split files, metadata ----------------------------------------------------- */

static void plan_clips(const SynthConfig *c, const char *root, ClipPlan *plans) {
    double weights[DFER_MAX_CLASSES], total = 0;
    Rng wr;
    rng_init(&wr, c->seed, 0xC1A55, 0, 0);
    for (int k = 0; k < c->classes; k++) total += weights[k] = rng_uniform_range(&wr, 0.7, 1.3); /* mild imbalance */
    for (int i = 0; i < c->clips; i++) {
        ClipPlan *p = &plans[i];
        memset(p, 0, sizeof *p);
        Rng r;
        rng_init(&r, c->seed, (uint64_t)i, 1, 0);
        p->index = i;
        double u = rng_uniform(&r) * total;
        p->label = 0;
        while (p->label < c->classes - 1 && u > weights[p->label]) u -= weights[p->label++];
        p->frames = c->min_frames + (int)rng_int(&r, c->max_frames - c->min_frames + 1);
        p->fold = 1 + (int)rng_int(&r, 5);
        p->scene = (int)rng_int(&r, 5);
        synth_identity(&r, &p->identity);
        synth_script(&r, p->label, p->frames, c->difficulty, &p->script);
        p->leak = rng_uniform(&r) < c->leak_rate;
        caption_text(&r, &p->script, p->caption, sizeof p->caption);
        description_text(&r, &p->script, p->leak, p->description, sizeof p->description);
        if (!strcmp(c->layout, "dfew")) {
            snprintf(p->id, sizeof p->id, "%05d", i + 1);
            snprintf(p->rel, sizeof p->rel, "Clip/clip_224x224/%s", p->id);
        } else if (!strcmp(c->layout, "ferv39k")) {
            snprintf(p->id, sizeof p->id, "%04d", i + 1);
            snprintf(p->rel, sizeof p->rel, "2_ClipsforFaceCrop/%s/%s/%s", k_ferv_scene[p->scene],
                     k_ferv_emotion[p->label], p->id);
        } else {
            snprintf(p->id, sizeof p->id, "%05d", i + 1);
            snprintf(p->rel, sizeof p->rel, "data/faces/%s", p->id);
            snprintf(p->video, sizeof p->video, "%s/clips/%s.mp4", root, p->id);
        }
        snprintf(p->frame_dir, sizeof p->frame_dir, "%s/%s", root, p->rel);
        if (!strcmp(c->layout, "ferv39k"))
            snprintf(p->key, sizeof p->key, "%s/%s/%s", k_ferv_scene[p->scene], k_ferv_emotion[p->label], p->id);
        else snprintf(p->key, sizeof p->key, "%s", p->id);
    }
}

typedef struct Text {
    char *p;
    size_t n, cap;
} Text;

static void tadd(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tadd(Text *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int need = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (t->p && t->n + (size_t)need < t->cap) {
            t->n += (size_t)need;
            return;
        }
        t->cap = (t->cap + (size_t)need + 1) * 2;
        t->p = xrealloc(t->p, t->cap);
    }
}

static int write_text(const char *root, const char *rel, Text *t, Err *err) {
    char path[8192], dir[8192];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    int rc = fs_mkdirs(dir, err);
    if (rc == 0) rc = fs_write_atomic(path, t->p ? t->p : "", t->n, err);
    free(t->p);
    memset(t, 0, sizeof *t);
    return rc;
}

static int write_splits(const SynthConfig *c, const char *root, const ClipPlan *plans, Err *err) {
    Text t = {0};
    char rel[512];
    if (!strcmp(c->layout, "dfew")) {
        for (int k = 1; k <= 5; k++)
            for (int test = 0; test < 2; test++) {
                tadd(&t, "video_name,label\n");
                for (int i = 0; i < c->clips; i++)
                    if ((plans[i].fold == k) == test) tadd(&t, "%d,%d\n", i + 1, plans[i].label + 1);
                snprintf(rel, sizeof rel, "EmoLabel_DataSplit/%s(single-labeled)/set_%d.csv", test ? "test" : "train",
                         k);
                if (write_text(root, rel, &t, err)) return -1;
            }
    } else if (!strcmp(c->layout, "ferv39k")) {
        for (int test = 0; test < 2; test++) {
            for (int i = 0; i < c->clips; i++)
                if ((plans[i].fold == 1) == test)
                    tadd(&t, "%s %s\n", plans[i].key, k_ferv_emotion[plans[i].label]);
            snprintf(rel, sizeof rel, "4_setups/All_scenes/%s_All.csv", test ? "test" : "train");
            if (write_text(root, rel, &t, err)) return -1;
        }
    } else {
        static const char *mafw_names[DFER_MAX_CLASSES] = {"happiness", "sadness", "neutral", "anger", "surprise",
                                                            "disgust", "fear", "contempt", "anxiety", "helplessness",
                                                            "disappointment"};
        for (int i = 0; i < c->clips; i++)
            tadd(&t, "%s.mp4\t%s\t%s\t%s\n", plans[i].id, mafw_names[plans[i].label], k_chinese[plans[i].label],
                 plans[i].caption);
        if (write_text(root, "caption-label/single_label.txt", &t, err)) return -1;
        for (int k = 1; k <= 5; k++)
            for (int test = 0; test < 2; test++) {
                for (int i = 0; i < c->clips; i++)
                    if ((plans[i].fold == k) == test)
                        tadd(&t, "%s.mp4 %s\r\n", plans[i].id, mafw_names[plans[i].label]);
                snprintf(rel, sizeof rel, "single/no_caption/set_%d/%s.txt", k, test ? "test" : "train");
                if (write_text(root, rel, &t, err)) return -1;
                for (int i = 0; i < c->clips; i++)
                    if ((plans[i].fold == k) == test) {
                        char gbk[256];
                        if (to_gbk(k_chinese[plans[i].label], gbk, sizeof gbk) != 0)
                            return err_set(err, "iconv cannot convert to GBK on this system");
                        tadd(&t, "%s.mp4\t%s\t%s\t%s\r\n", plans[i].id, mafw_names[plans[i].label], gbk,
                             plans[i].caption);
                    }
                snprintf(rel, sizeof rel, "single/with_caption/set_%d/%s.txt", k, test ? "test" : "train");
                if (write_text(root, rel, &t, err)) return -1;
            }
    }
    return 0;
}

static int write_metadata(const SynthConfig *c, const char *root, const ClipPlan *plans, Err *err) {
    Text t = {0};
    for (int i = 0; i < c->clips; i++) {
        const ClipPlan *p = &plans[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", p->id);
        cJSON_AddStringToObject(o, "path", p->video[0] ? strstr(p->video, "clips/") : p->rel);
        cJSON_AddStringToObject(o, "frames_path", p->rel);
        cJSON_AddStringToObject(o, "label_name", k_class_names[p->label]);
        cJSON_AddNumberToObject(o, "label", p->label);
        cJSON_AddNumberToObject(o, "frames", p->frames);
        cJSON_AddNumberToObject(o, "fold", p->fold);
        cJSON_AddStringToObject(o, "caption", p->caption);
        cJSON_AddStringToObject(o, "description", p->description);
        cJSON_AddBoolToObject(o, "leaks_label", p->leak);
        cJSON_AddNumberToObject(o, "intensity", p->script.peak);
        cJSON_AddNumberToObject(o, "onset", p->script.onset);
        cJSON_AddNumberToObject(o, "apex_start", p->script.apex_start);
        cJSON_AddNumberToObject(o, "apex_end", p->script.apex_end);
        char *s = cJSON_PrintUnformatted(o);
        tadd(&t, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    if (write_text(root, "synth/clips.jsonl", &t, err)) return -1;
    tadd(
        &t,
        "Synthetic DFER benchmark written by `dfer synth` (layout %s, %d clips, seed %llu, %d classes, difficulty %d,\n"
        "%d px frames). Not a real dataset: procedurally rendered faces with class-specific expression dynamics.\n"
        "clips.jsonl: one object per clip (label in the order %s...).\n"
        "landmarks/<id>.txt: one line per frame, 68 iBUG points as x0 y0 ... x67 y67 in pixels.\n"
        "parsing/<id>/<frame>.png: 11-class LaPa index maps (0 background, 1 skin, 2/3 left/right brow,\n"
        "4/5 left/right eye, 6 nose, 7 upper lip, 8 inner mouth, 9 lower lip, 10 hair).\n",
        c->layout, c->clips, c->seed, c->classes, c->difficulty, c->size, k_class_names[0]);
    return write_text(root, "synth/README.txt", &t, err);
}

/* The folds are drawn per clip, so a few clips may leave a fold without any (`--clips 5`, the guide's predict
 * example, drew all five folds only at odds of 5!/5^5, 4%, and left a test split empty): the largest fold's last
 * clip moves into each empty one. From 5 clips every fold's test and training split has a clip; a draw that filled
 * every fold is kept as it is, so no dataset synth wrote before changes unless it had an empty fold. */
static void fill_empty_folds(ClipPlan *plans, int clips) {
    if (clips < 5) return; /* warn_empty_splits says which stay empty */
    for (int k = 1; k <= 5; k++) {
        int in_fold[6] = {0}, largest = 1;
        for (int i = 0; i < clips; i++) in_fold[plans[i].fold]++;
        if (in_fold[k]) continue;
        for (int f = 2; f <= 5; f++)
            if (in_fold[f] > in_fold[largest]) largest = f;
        /* 5 clips or more in at most 4 folds: the largest holds 2 or more, so it keeps one */
        for (int i = clips - 1; i >= 0; i--)
            if (plans[i].fold == largest) {
                plans[i].fold = k;
                break;
            }
    }
}

/* Below 5 clips a fold's test split (or its training split) may be empty, which data check and training on that
 * fold refuse. Said here, where it is made. */
static void warn_empty_splits(const SynthConfig *c, const ClipPlan *plans) {
    int folds = !strcmp(c->layout, "ferv39k") ? 1 : 5, in_fold[6] = {0};
    for (int i = 0; i < c->clips; i++) in_fold[plans[i].fold]++;
    for (int k = 1; k <= folds; k++) {
        /* FERV39k: fold 1's clips are its test split, the rest its training split */
        int test = in_fold[k], train = folds == 1 ? c->clips - in_fold[1] : c->clips - in_fold[k];
        if (!test || !train)
            fprintf(stderr,
                    "synth: warning: with %d clips %s%.0d's %s split is empty (data check and training on it will "
                    "refuse it): give more clips or another seed\n",
                    c->clips, folds == 1 ? "the dataset" : "fold ", folds == 1 ? 0 : k, !test ? "test" : "training");
    }
}

/* --force: the dataset an earlier `dfer synth` wrote into dir goes first, whole. Written over in place, its
 * frames outlived it (a clip of 8 frames rewritten with 3 kept 8) and an interrupted rewrite mixed two datasets
 * under the old split files, which looked complete. Only what synth writes is removed, and only where dir holds
 * a synth/ folder; its completeness marker (synth/clips.jsonl, written last) and the split files go first, so an
 * interrupted removal leaves nothing that looks like a dataset. */
static int remove_synthetic_dataset(const char *dir, Err *err) {
    char path[8192];
    snprintf(path, sizeof path, "%s/synth", dir);
    if (!fs_is_dir(path))
        return err_set(err,
                       "%s holds files `dfer synth` did not write (it has no synth/ folder): --force replaces only "
                       "a synthetic dataset; give an empty or new folder",
                       dir);
    static const char *const written[] = {"synth/clips.jsonl", "EmoLabel_DataSplit", "4_setups", "single",
                                          "caption-label", "synth", "Clip", "2_ClipsforFaceCrop", "data", "clips"};
    for (size_t i = 0; i < sizeof written / sizeof written[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, written[i]);
        if (fs_remove_tree(path, err) != 0) return err_prefix(err, "synth --force: ");
    }
    return 0;
}

static int dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

int synth_config_check(const SynthConfig *c, Err *err) {
    if (strcmp(c->layout, "dfew") && strcmp(c->layout, "ferv39k") && strcmp(c->layout, "mafw"))
        return err_set(err, "--layout must be dfew, ferv39k or mafw, not '%s'", c->layout);
    if (c->clips < 1) return err_set(err, "--clips %d: at least 1", c->clips);
    if (c->size < 32 || c->size > 512) return err_set(err, "--size %d: 32..512 pixels", c->size);
    if (c->min_frames < 1) return err_set(err, "--min-frames %d: at least 1", c->min_frames);
    if (c->max_frames < c->min_frames)
        return err_set(err, "--max-frames %d is below --min-frames %d", c->max_frames, c->min_frames);
    if (c->classes != 7 && c->classes != 11) return err_set(err, "--classes %d: 7, or MAFW's 11", c->classes);
    if (c->classes == 11 && strcmp(c->layout, "mafw"))
        return err_set(err, "--classes 11 is MAFW's: only with --layout mafw");
    if (!strcmp(c->layout, "dfew") && c->clips > 99999)
        return err_set(err, "--clips %d: the DFEW layout numbers its clips with 5 digits (at most 99999)", c->clips);
    return 0;
}

int synth_generate(const SynthConfig *c, const char *out_dir, Err *err) {
    if (synth_config_check(c, err) != 0) return err_prefix(err, "synth: ");
    if (fs_exists(out_dir) && !dir_is_empty(out_dir)) {
        if (!c->force)
            return err_set(err, "%s is not empty (use --force to replace the synthetic dataset in it)", out_dir);
        if (remove_synthetic_dataset(out_dir, err) != 0) return -1;
    }
    Gen g = {.cfg = c};
    snprintf(g.root, sizeof g.root, "%s", out_dir);
    if (fs_mkdirs(out_dir, err) != 0) return -1;
    char sub[8192];
    snprintf(sub, sizeof sub, "%s/synth/landmarks", out_dir);
    if (fs_mkdirs(sub, err) != 0) return -1;
    if (!strcmp(c->layout, "mafw")) {
        snprintf(sub, sizeof sub, "%s/clips", out_dir);
        if (fs_mkdirs(sub, err) != 0) return -1;
    }
    g.plans = xcalloc((size_t)c->clips, sizeof(ClipPlan));
    plan_clips(c, out_dir, g.plans);
    fill_empty_folds(g.plans, c->clips);
    pthread_mutex_init(&g.mu, NULL);
    int nt = c->threads > 0 ? c->threads : 1;
    pthread_t *th = xmalloc((size_t)nt * sizeof *th);
    for (int i = 0; i < nt; i++) CHECK_ERRNUM(pthread_create(&th[i], NULL, worker, &g));
    double t0 = time_now(), last = t0;
    for (;;) {
        pthread_mutex_lock(&g.mu);
        int done = g.done, failed = g.failed;
        pthread_mutex_unlock(&g.mu);
        if (done >= c->clips || (failed && done >= g.next - nt)) break;
        if (time_now() - last > 2.0) {
            last = time_now();
            fprintf(stderr, "synth: %d/%d clips (%.1f clips/s)\n", done, c->clips, done / (last - t0));
        }
        time_sleep(0.02);
    }
    for (int i = 0; i < nt; i++) CHECK_ERRNUM(pthread_join(th[i], NULL));
    free(th);
    int rc = 0;
    if (g.failed) rc = err_set(err, "%s", g.first_err.msg);
    if (rc == 0) warn_empty_splits(c, g.plans);
    if (rc == 0) rc = write_splits(c, out_dir, g.plans, err);
    if (rc == 0) rc = write_metadata(c, out_dir, g.plans, err);
    if (rc == 0)
        fprintf(stderr, "synth: %d clips in the %s layout written to %s in %.1f s\n", c->clips, c->layout, out_dir,
                time_now() - t0);
    pthread_mutex_destroy(&g.mu);
    free(g.plans);
    return rc;
}

int synth_contact_sheet(const SynthConfig *c, const char *png_path, Err *err) {
    int S = c->size, cols = 6, rows = c->classes;
    uint8_t *sheet = xcalloc((size_t)rows * S * cols * S * 3, 1), *rgb = xmalloc((size_t)S * S * 3);
    for (int k = 0; k < rows; k++)
        for (int j = 0; j < cols; j++) {
            Rng r;
            rng_init(&r, c->seed, 0x5EE7, (uint64_t)k, (uint64_t)(j / 2));
            FaceIdentity id;
            ClipScript s;
            synth_identity(&r, &id);
            synth_script(&r, k, 24, c->difficulty, &s);
            s.talk_amp = 0, s.n_blinks = 0;
            int t = j % 2 ? s.apex_start : 0; /* a neutral start and the apex */
            double xy[2 * SYNTH_LANDMARKS];
            synth_landmarks(&id, &s, t, S, xy);
            synth_render(&id, &s, t, S, xy, rgb, NULL, &r);
            for (int y = 0; y < S; y++)
                memcpy(sheet + (((size_t)(k * S + y) * cols * S) + (size_t)j * S) * 3, rgb + (size_t)y * S * 3,
                       (size_t)S * 3);
        }
    int rc = image_write_png(png_path, sheet, cols * S, rows * S, 3, err);
    free(sheet);
    free(rgb);
    return rc;
}
