/* The data side: the DFER-CLIP sampler against hand-computed indices, split
 * file parsing and its errors, the three layouts written by `dfer synth` read
 * back through the adapters (counts, label mapping, CRLF, GBK captions, real
 * frame counts), and the loader's determinism: the same global batch gives
 * bitwise the same samples with 1, 2 or 4 ranks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/rng.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/synth.h"
#include "data/video.h"
#include "testlib.h"

static void test_sampler(void) {
    int idx[16];
    Rng r;
    rng_init(&r, 1, 2, 3, 4);
    sample_frame_indices(40, 16, 0, &r, idx); /* tick 2.5: int(1.25 + 2.5 i) */
    int want40[16] = {1, 3, 6, 8, 11, 13, 16, 18, 21, 23, 26, 28, 31, 33, 36, 38};
    EXPECT(!memcmp(idx, want40, sizeof idx), "test sampling of 40 frames");
    sample_frame_indices(16, 16, 0, &r, idx);
    for (int i = 0; i < 16; i++) EXPECT(idx[i] == i, "16 frames at test time: 0..15");
    sample_frame_indices(7, 16, 0, &r, idx);
    EXPECT(idx[6] == 6 && idx[7] == 6 && idx[15] == 6 && idx[0] == 0, "edge padding of a 7-frame clip");
    sample_frame_indices(1, 16, 1, &r, idx);
    EXPECT(idx[0] == 0 && idx[15] == 0, "a 1-frame clip");
    sample_frame_indices(7, 16, 1, &r, idx);
    EXPECT(idx[6] == 6 && idx[15] == 6, "edge padding at training time");
    sample_frame_indices(50, 16, 1, &r, idx); /* avg 3: one frame in [3i, 3i+2]; frames 48, 49 never */
    for (int i = 0; i < 16; i++) EXPECT(idx[i] >= 3 * i && idx[i] <= 3 * i + 2, "segment %d: %d", i, idx[i]);
    int again[16];
    Rng r1, r2;
    rng_init(&r1, 9, 0, 5, 0), rng_init(&r2, 9, 0, 5, 0);
    sample_frame_indices(50, 16, 1, &r1, idx);
    sample_frame_indices(50, 16, 1, &r2, again);
    EXPECT(!memcmp(idx, again, sizeof idx), "the same key gives the same indices");
}

static void parse_error(const char *kind, const char *text, const char *needle) {
    Dataset d;
    Err err;
    EXPECT(dataset_parse(kind, text, strlen(text), "split.txt", "/root", &d, &err) != 0, "%s: '%s' rejected", kind,
           text);
    EXPECT(strstr(err.msg, needle) != NULL, "message '%s' contains '%s'", err.msg, needle);
}

/* The random sized crop's smallest area: 0.08 of the frame in DFER-CLIP's
 * presets; a configured bound keeps every drawn crop at least that large. */
static void test_crop_min_area(void) {
    /* the preset names a user may give; a prefix, "list" (a dataset kind, not a name to give) or "" are not */
    EXPECT(augment_preset_known("dfew") && augment_preset_known("ferv39k") && augment_preset_known("mafw"), "presets");
    EXPECT(!augment_preset_known("dfe") && !augment_preset_known("mafwx") && !augment_preset_known("list") &&
               !augment_preset_known(""),
           "a name that is no preset was taken");
    for (int k = 0; k < 2; k++) {
        AugmentConfig cfg;
        augment_preset("dfew", 112, 1, &cfg);
        EXPECT(cfg.crop_min_area == 0.08f, "DFEW preset crops from 8%% of the area");
        if (k) cfg.crop_min_area = 0.7f;
        double smallest = 1.0;
        for (int i = 0; i < 2000; i++) {
            Rng r;
            rng_init(&r, 3, (uint64_t)i, 0, 0);
            AugmentDraw d;
            augment_draw(&cfg, 160, 120, &r, &d);
            if (d.fallback) continue;
            double area = (double)d.crop_w * d.crop_h / (160.0 * 120.0);
            if (area < smallest) smallest = area;
        }
        if (k) EXPECT(smallest >= 0.69, "with a bound of 0.7 the smallest crop covers %.3f", smallest);
        else EXPECT(smallest < 0.2, "DFER-CLIP's rule draws small crops too (smallest %.3f)", smallest);
    }
}

/* A parsing map and landmarks follow the frame's augmentation: a 6x6 label
 * square around a point lands, after the draw, where augment_apply_points puts
 * the point (its centroid within 1.5 px), and NEAREST sampling keeps the labels. */
static void test_augment_maps(void) {
    static const char *presets[3] = {"dfew", "ferv39k", "mafw"};
    int checked = 0, bad_labels = 0;
    double worst = 0;
    for (int k = 0; k < 300; k++) {
        AugmentConfig cfg;
        augment_preset(presets[k % 3], 64, k % 5 != 4, &cfg);
        if (k % 3 == 1) cfg.rotation = 20.0f; /* large angles make a wrong rotation direction visible */
        cfg.crop_min_area = 0.3f;
        int w = 96 + k % 7, h = 80 + k % 5;
        Rng r;
        rng_init(&r, 9, (uint64_t)k, 0, 0);
        AugmentDraw d;
        augment_draw(&cfg, w, h, &r, &d);
        float p[2] = {(float)(20 + rng_int(&r, w - 40)), (float)(20 + rng_int(&r, h - 40))}, q[2];
        ImageU8 map, out;
        image_alloc(&map, w, h);
        memset(map.rgb, 0, (size_t)w * h * 3);
        for (int y = (int)p[1] - 3; y < (int)p[1] + 3; y++)
            for (int x = (int)p[0] - 3; x < (int)p[0] + 3; x++) memset(map.rgb + ((size_t)y * w + x) * 3, 7, 3);
        augment_apply_labels(&cfg, &d, &map, &out);
        augment_apply_points(&cfg, &d, w, h, p, 1, q);
        double sx = 0, sy = 0, n = 0;
        for (int y = 0; y < out.height; y++)
            for (int x = 0; x < out.width; x++) {
                uint8_t v = out.rgb[((size_t)y * out.width + x) * 3];
                if (v != 0 && v != 7) bad_labels++;
                if (v == 7) sx += x + 0.5, sy += y + 0.5, n++;
            }
        /* only squares well inside the output: a cut one has a shifted centroid */
        if (n > 0 && q[0] > 6 && q[0] < 58 && q[1] > 6 && q[1] < 58) {
            double e = hypot(sx / n - q[0], sy / n - q[1]);
            if (e > worst) worst = e;
            checked++;
        }
        image_free(&map), image_free(&out);
    }
    EXPECT(bad_labels == 0, "NEAREST keeps labels (%d other values)", bad_labels);
    EXPECT(checked > 150, "%d draws checked", checked);
    EXPECT(worst < 1.5, "landmarks follow the label map: worst centroid distance %.2f px", worst);
}

static void test_split_parsing(void) {
    Dataset d;
    Err err;
    const char *dfew = "video_name,label\r\n12,1\r\n7,0\r\n301,7\r\n";
    EXPECT(dataset_parse("dfew", dfew, strlen(dfew), "set_1.csv", "/d", &d, &err) == 0, "%s", err.msg);
    EXPECT(d.count == 2 && d.skipped == 1 && d.clips[0].label == 0 && d.clips[1].label == 6 &&
               !strcmp(d.clips[0].path, "/d/Clip/clip_224x224/00012"),
           "DFEW labels 1..7 -> 0..6, label 0 skipped, ids zero-padded");
    dataset_free(&d);
    const char *ferv = "Action/Happy/0001 Happy\nDaily/Angry/0002 Angry\n";
    EXPECT(dataset_parse("ferv39k", ferv, strlen(ferv), "train_All.csv", "/f", &d, &err) == 0 &&
               d.clips[1].label == 3 && !strcmp(d.clips[1].path, "/f/2_ClipsforFaceCrop/Daily/Angry/0002"),
           "FERV39k emotion names");
    dataset_free(&d);
    const char *mafw =
        "03747.mp4\tanger\t\xc5\xad\xc6\xf8\tAn angry man.\r\n00001.mp4\tcontempt\t\xb2\xe2\tA smirk.\r\n";
    EXPECT(dataset_parse("mafw", mafw, strlen(mafw), "train.txt", "/m", &d, &err) == 0 && d.count == 2 &&
               d.clips[0].label == 3 && d.clips[1].label == 7 && d.num_classes == 11 &&
               !strcmp(d.clips[0].caption, "An angry man.") && !strcmp(d.clips[0].id, "03747"),
           "MAFW with captions: GBK column skipped, CRLF stripped");
    dataset_free(&d);
    parse_error("dfew", "video_name,label\n12,9\n", "split.txt:2");
    parse_error("dfew", "video_name,label\nabc,1\n", "not 'number,number'");
    parse_error("ferv39k", "Action/Happy/0001 Joyful\n", "unknown FERV39k emotion");
    parse_error("mafw", "00001.mp4 anger_sadness\r\n", "compound");
    parse_error("list", "clip/a 12 3\nclip/b twelve 3\n", "split.txt:2");
    parse_error("list", "clip/a 12 11\n", "outside");
    parse_error("dfew", "video_name,label\n", "no clips");
    parse_error("list", "", "no clips");
}

static char g_root[3][600];

static void make_datasets(void) {
    static const char *layouts[3] = {"dfew", "ferv39k", "mafw"};
    for (int i = 0; i < 3; i++) {
        SynthConfig c;
        synth_config_default(&c);
        snprintf(c.layout, sizeof c.layout, "%s", layouts[i]);
        c.clips = 30, c.size = 48, c.min_frames = 6, c.max_frames = 20, c.threads = 2, c.seed = 3;
        c.classes = i == 2 ? 11 : 7;
        snprintf(g_root[i], sizeof g_root[i], "%s/%s", test_tmpdir(), layouts[i]);
        Err err;
        EXPECT(synth_generate(&c, g_root[i], &err) == 0, "synth %s: %s", layouts[i], err.msg);
    }
}

static void test_layouts_read_back(void) {
    Err err;
    Dataset tr, te;
    /* DFEW: the five test folds partition the clips */
    int total = 0;
    for (int f = 1; f <= 5; f++) {
        EXPECT(dataset_open("dfew", g_root[0], SPLIT_TEST, f, &te, &err) == 0 || strstr(err.msg, "no clips"), "%s",
               err.msg);
        total += te.count;
        dataset_free(&te);
    }
    EXPECT(total == 30, "DFEW test folds cover all 30 clips once (%d)", total);
    EXPECT(dataset_open("dfew", g_root[0], SPLIT_TRAIN, 1, &tr, &err) == 0, "%s", err.msg);
    EXPECT(dataset_open("dfew", g_root[0], SPLIT_TEST, 1, &te, &err) == 0, "%s", err.msg);
    EXPECT(tr.count + te.count == 30, "train + test = 30");
    /* the label in the split file agrees with the synthetic ground truth in clips.jsonl */
    char path[700], *jsonl;
    size_t len;
    snprintf(path, sizeof path, "%s/synth/clips.jsonl", g_root[0]);
    EXPECT(fs_read_all(path, &jsonl, &len, &err) == 0, "%s", err.msg);
    char needle[128];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", tr.clips[0].id);
    const char *at = strstr(jsonl, needle), *lab = at ? strstr(at, "\"label\":") : NULL;
    EXPECT(lab && atoi(lab + 8) == tr.clips[0].label, "label of clip %s matches the generator's", tr.clips[0].id);
    free(jsonl);
    ClipSource *cs;
    EXPECT(clip_source_open(tr.clips[0].path, &cs, &err) == 0, "%s", err.msg);
    int frames = clip_source_frame_count(cs);
    EXPECT(frames >= 6 && frames <= 20, "real frame count %d", frames);
    clip_source_close(cs);
    dataset_free(&tr), dataset_free(&te);
    EXPECT(dataset_open("ferv39k", g_root[1], SPLIT_TRAIN, 0, &tr, &err) == 0 && tr.count > 15, "FERV39k: %s", err.msg);
    dataset_free(&tr);
    EXPECT(dataset_open("mafw", g_root[2], SPLIT_TRAIN, 2, &tr, &err) == 0 && tr.num_classes == 11 &&
               tr.clips[0].caption,
           "MAFW with captions: %s", err.msg);
    /* an MAFW clip as a video file decodes to the same number of frames as its face-frame folder */
    char video[700];
    snprintf(video, sizeof video, "%s/clips/%s.mp4", g_root[2], tr.clips[0].id);
    ClipSource *vs, *fs;
    EXPECT(clip_source_open(video, &vs, &err) == 0 && clip_source_open(tr.clips[0].path, &fs, &err) == 0, "%s",
           err.msg);
    EXPECT(clip_source_frame_count(vs) == clip_source_frame_count(fs),
           "video %d frames, folder %d (every written frame decodes)", clip_source_frame_count(vs),
           clip_source_frame_count(fs));
    int idx[3] = {2, 0, 2};
    ImageU8 a[3], b[3];
    EXPECT(clip_source_read_frames(vs, idx, 3, a, &err) == 0 && clip_source_read_frames(fs, idx, 3, b, &err) == 0,
           "%s", err.msg);
    /* two lossy codecs of the same rendering: close, not equal */
    double diff = 0;
    for (int i = 0; i < 48 * 48 * 3; i++) diff += fabs((double)a[0].rgb[i] - b[0].rgb[i]);
    EXPECT(diff / (48 * 48 * 3) < 12, "video and JPEG frames of one clip agree (mean |diff| %.2f)",
           diff / (48 * 48 * 3));
    EXPECT(!memcmp(a[0].rgb, a[2].rgb, 48 * 48 * 3), "a repeated index gives the same frame");
    for (int i = 0; i < 3; i++) image_free(&a[i]), image_free(&b[i]);
    int out_of_range = 999;
    EXPECT(clip_source_read_frames(vs, &out_of_range, 1, a, &err) != 0 && strstr(err.msg, "frame 999"),
           "index beyond the clip");
    /* reads in sequential chunks continue the decoder where the last one stopped (dfer prep reads a
     * video 32 frames at a time), and a read that goes back starts again: the same frames, bitwise,
     * as one read of every frame from a fresh source */
    int nf = clip_source_frame_count(vs);
    ClipSource *ref_src;
    EXPECT(clip_source_open(video, &ref_src, &err) == 0, "%s", err.msg);
    int *all = xmalloc((size_t)nf * sizeof *all);
    for (int i = 0; i < nf; i++) all[i] = i;
    ImageU8 *ref = xcalloc((size_t)nf, sizeof *ref), *got = xcalloc((size_t)nf, sizeof *got);
    EXPECT(clip_source_read_frames(ref_src, all, nf, ref, &err) == 0, "%s", err.msg);
    int same = 1;
    for (int start = 0; start < nf; start += 3) {
        int m = nf - start < 3 ? nf - start : 3;
        EXPECT(clip_source_read_frames(vs, all + start, m, got + start, &err) == 0, "chunk at %d: %s", start, err.msg);
    }
    int back[2] = {1, 1};
    ImageU8 again[2];
    EXPECT(clip_source_read_frames(vs, back, 2, again, &err) == 0, "going back: %s", err.msg);
    for (int i = 0; i < nf; i++) same &= !memcmp(ref[i].rgb, got[i].rgb, (size_t)ref[i].width * ref[i].height * 3);
    same &= !memcmp(ref[1].rgb, again[0].rgb, (size_t)ref[1].width * ref[1].height * 3);
    EXPECT(nf >= 6 && same, "%d frames read in chunks of 3, then frame 1 again: bitwise the frames of one read", nf);
    for (int i = 0; i < nf; i++) image_free(&ref[i]), image_free(&got[i]);
    image_free(&again[0]), image_free(&again[1]);
    free(ref), free(got), free(all);
    clip_source_close(ref_src);
    clip_source_close(vs), clip_source_close(fs);
    dataset_free(&tr);
}

/* Loads the first global batch with `world` ranks and checks every rank's slot
 * against the single-rank batch, bitwise. */
/* Several folds' test splits as one dataset: every clip of each fold once, in the order given, its part the fold's
 * index; each part's split file kept; bad fold lists refused. */
static void test_open_folds(void) {
    Err err;
    Dataset all, one;
    int folds[3] = {3, 1, 5};
    EXPECT(dataset_open_folds("dfew", g_root[0], SPLIT_TEST, folds, 3, &all, &err) == 0, "%s", err.msg);
    EXPECT(all.parts == 3 && all.part_fold[0] == 3 && all.part_fold[2] == 5, "three parts, folds 3, 1, 5");
    int at = 0;
    for (int p = 0; p < 3; p++) {
        EXPECT(dataset_open("dfew", g_root[0], SPLIT_TEST, folds[p], &one, &err) == 0, "%s", err.msg);
        EXPECT(!strcmp(all.part_source[p], one.source), "part %d's split file %s (%s)", p, all.part_source[p],
               one.source);
        EXPECT(strstr(all.source, one.source) != NULL, "the combined source names %s", one.source);
        for (int i = 0; i < one.count; i++, at++)
            EXPECT(at < all.count && !strcmp(all.clips[at].id, one.clips[i].id) && all.clips[at].part == p &&
                       all.clips[at].label == one.clips[i].label,
                   "clip %d of fold %d at %d, part %d", i, folds[p], at, p);
        dataset_free(&one);
    }
    EXPECT(at == all.count, "nothing but the folds' clips (%d of %d)", at, all.count);
    dataset_free(&all);
    EXPECT(dataset_open_folds("dfew", g_root[0], SPLIT_TEST, folds + 1, 1, &all, &err) == 0 && all.parts == 0 &&
               all.count > 0 && all.clips[0].part == 0,
           "one fold is one split: %s", err.msg);
    dataset_free(&all);
    int twice[2] = {2, 2}, bad[2] = {1, 6};
    EXPECT(dataset_open_folds("dfew", g_root[0], SPLIT_TEST, twice, 2, &all, &err) != 0 &&
               strstr(err.msg, "fold 2 is named twice"),
           "a repeated fold: %s", err.msg);
    EXPECT(dataset_open_folds("dfew", g_root[0], SPLIT_TEST, bad, 2, &all, &err) != 0 &&
               strstr(err.msg, "folds 1..5, not 6"),
           "fold 6: %s", err.msg);
    EXPECT(dataset_open_folds("ferv39k", g_root[1], SPLIT_TEST, folds, 2, &all, &err) != 0 &&
               strstr(err.msg, "ferv39k has no folds"),
           "FERV39k: %s", err.msg);
}

static void test_loader_determinism(void) {
    Dataset d;
    Err err;
    EXPECT(dataset_open("dfew", g_root[0], SPLIT_TRAIN, 1, &d, &err) == 0, "%s", err.msg);
    LoaderConfig base = {.global_batch = 8, .rank = 0, .world = 1, .frames = 4, .size = 32, .train = 1, .seed = 11,
                         .normalise_clip = 1, .threads = 2, .prefetch = 2, .max_bad_fraction = 0.05f};
    Loader *one;
    EXPECT(loader_create(&d, &base, &one, &err) == 0, "%s", err.msg);
    loader_start_epoch(one, 1);
    Batch ref;
    EXPECT(loader_next(one, &ref, &err) == 0 && ref.n == 8, "single-rank batch");
    size_t sample = (size_t)4 * 3 * 32 * 32;
    float *ref_frames = malloc(8 * sample * sizeof(float));
    memcpy(ref_frames, ref.frames, 8 * sample * sizeof(float));
    int32_t ref_idx[8];
    memcpy(ref_idx, ref.indices, sizeof ref_idx);
    for (int world = 2; world <= 4; world *= 2)
        for (int rank = 0; rank < world; rank++) {
            LoaderConfig c = base;
            c.world = world, c.rank = rank, c.threads = 1 + rank % 2;
            Loader *l;
            EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
            loader_start_epoch(l, 1);
            Batch b;
            EXPECT(loader_next(l, &b, &err) == 0 && b.n == 8 / world, "slot size");
            int per = 8 / world;
            EXPECT(!memcmp(b.indices, ref_idx + rank * per, (size_t)per * sizeof(int32_t)), "world %d rank %d: clips",
                   world, rank);
            EXPECT(!memcmp(b.frames, ref_frames + (size_t)rank * per * sample, (size_t)per * sample * sizeof(float)),
                   "world %d rank %d: identical pixels", world, rank);
            loader_destroy(l);
        }
    /* another epoch reshuffles; the same epoch again repeats */
    loader_start_epoch(one, 2);
    Batch e2;
    loader_next(one, &e2, &err);
    EXPECT(memcmp(e2.indices, ref_idx, sizeof ref_idx) != 0, "epoch 2 has another order");
    loader_start_epoch(one, 1);
    loader_next(one, &e2, &err);
    EXPECT(!memcmp(e2.indices, ref_idx, sizeof ref_idx) && !memcmp(e2.frames, ref_frames, 8 * sample * sizeof(float)),
           "epoch 1 again: the same batch");
    loader_destroy(one);
    /* uint8 batches carry the same augmented pixels: raw float = byte / 255, exactly */
    LoaderConfig rawc = base, u8c = base;
    rawc.normalise_clip = 0;
    u8c.uint8 = 1;
    Loader *raw, *u8;
    EXPECT(loader_create(&d, &rawc, &raw, &err) == 0 && loader_create(&d, &u8c, &u8, &err) == 0, "%s", err.msg);
    loader_start_epoch(raw, 1), loader_start_epoch(u8, 1);
    Batch rb, ub;
    EXPECT(loader_next(raw, &rb, &err) == 0 && loader_next(u8, &ub, &err) == 0 && rb.n == ub.n,
           "raw and uint8 batches");
    size_t mismatches = 0;
    const float *rf = rb.frames;
    const uint8_t *uf = ub.frames;
    for (size_t k = 0; k < (size_t)rb.n * sample; k++) mismatches += rf[k] != (float)uf[k] / 255.0f;
    EXPECT(mismatches == 0 && !memcmp(rb.indices, ub.indices, (size_t)rb.n * sizeof(int32_t)),
           "uint8 batch = raw float batch x 255 (%zu mismatches)", mismatches);
    loader_destroy(raw), loader_destroy(u8);
    free(ref_frames);
    dataset_free(&d);
}

/* A training epoch over g_warn_list (one readable clip, three missing) in a child (test_exit_status_of): its
 * stderr holds the loader's warnings. */
static char g_warn_list[800];
static void train_epoch_of_warn_list(void) {
    Err err;
    Dataset d;
    CHECK(dataset_open("list", g_warn_list, SPLIT_TRAIN, 0, &d, &err) == 0, "%s", err.msg);
    LoaderConfig c = {.global_batch = 4, .rank = 0, .world = 1, .frames = 2, .size = 16, .train = 1, .seed = 1,
                      .threads = 1, .prefetch = 1, .max_bad_fraction = 1.0f};
    Loader *l;
    CHECK(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    Batch b;
    int rc;
    while ((rc = loader_next(l, &b, &err)) == 0) continue;
    CHECK(rc == 1, "%s", err.msg);
    loader_destroy(l);
    dataset_free(&d);
}

static void test_bad_clips(void) {
    /* a list with a missing folder, a zero-byte jpg, a text file named .jpg and a truncated mp4 */
    char dir[700], path[800];
    Err err;
    snprintf(dir, sizeof dir, "%s/bad", test_tmpdir());
    fs_mkdirs(dir, &err);
    snprintf(path, sizeof path, "%s/empty", dir), fs_mkdirs(path, &err);
    snprintf(path, sizeof path, "%s/empty/0001.jpg", dir), fs_write_atomic(path, "", 0, &err);
    snprintf(path, sizeof path, "%s/text", dir), fs_mkdirs(path, &err);
    snprintf(path, sizeof path, "%s/text/0001.jpg", dir), fs_write_atomic(path, "not an image\n", 13, &err);
    char *mp4;
    size_t len;
    snprintf(path, sizeof path, "%s/clips/00001.mp4", g_root[2]);
    fs_read_all(path, &mp4, &len, &err);
    snprintf(path, sizeof path, "%s/truncated.mp4", dir), fs_write_atomic(path, mp4, len / 3, &err);
    free(mp4);
    const char *cases[] = {"missing", "empty", "text", "truncated.mp4"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, cases[i]);
        ClipSource *c;
        ImageU8 img[1];
        int idx = 0;
        int rc = clip_source_open(path, &c, &err);
        if (rc == 0) {
            if (i == 3) EXPECT(clip_source_frame_count(c) >= 0, "a truncated video reports what it can decode");
            rc = i == 3 ? 0 : clip_source_read_frames(c, &idx, 1, img, &err);
            if (rc == 0 && i != 3) image_free(&img[0]);
            clip_source_close(c);
        }
        if (i < 3) EXPECT(rc != 0 && strstr(err.msg, cases[i]), "%s: clear error naming it (%s)", cases[i], err.msg);
    }
    /* a loader over a list with one unreadable clip: evaluation leaves it out, training replaces it, both
     * count it, and too many stop the run */
    char list[800];
    snprintf(list, sizeof list, "%s/list.txt", dir);
    char text[4096] = "";
    for (int i = 1; i <= 7; i++) { /* the missing clip fourth: the rows after it move up */
        if (i == 4) snprintf(text + strlen(text), sizeof text - strlen(text), "%s/missing 10 1\n", dir);
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s/data/faces/%05d 10 %d\n", g_root[2], i, i % 7);
    }
    fs_write_atomic(list, text, strlen(text), &err);
    Dataset d;
    EXPECT(dataset_open("list", list, SPLIT_TRAIN, 0, &d, &err) == 0 && d.count == 8, "%s", err.msg);
    LoaderConfig c = {.global_batch = 8, .rank = 0, .world = 1, .frames = 2, .size = 16, .train = 0, .seed = 1,
                      .normalise_clip = 0, .threads = 2, .prefetch = 1, .max_bad_fraction = 0.5f};
    Loader *l;
    EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    Batch b;
    long bad, tried;
    EXPECT(loader_next(l, &b, &err) == 0, "%s", err.msg);
    loader_read_counts(l, &bad, &tried);
    EXPECT(bad == 1 && tried == 8, "one bad clip of the 8 tried (%ld of %ld)", bad, tried);
    /* evaluation: the missing clip (index 3) is left out, every other clip is in the batch once, in order */
    int in_order = b.n == 7 && b.left_out == 1;
    for (int j = 0; in_order && j < 7; j++) {
        int want = j < 3 ? j : j + 1;
        in_order = b.indices[j] == want && b.labels[j] == d.clips[want].label;
    }
    EXPECT(in_order, "evaluation leaves the unreadable clip out (%d clips, %d left out)", b.n, b.left_out);
    size_t clip_bytes = (size_t)2 * 3 * 16 * 16 * sizeof(float);
    float *first = xmalloc(clip_bytes * 7);
    memcpy(first, b.frames, clip_bytes * 7);
    loader_destroy(l);
    /* training: the next readable clip in the order takes its place (the batch keeps its size) */
    c.train = 1;
    EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    EXPECT(loader_next(l, &b, &err) == 0 && b.n == 8 && b.left_out == 0, "training keeps 8 clips (%d, %d left out)",
           b.n, b.left_out);
    loader_read_counts(l, &bad, &tried);
    EXPECT(bad == 1 && tried == 9, "training: one bad clip, 9 tried (%ld of %ld)", bad, tried);
    int seen[8] = {0}, twice = 0;
    for (int j = 0; j < b.n; j++) twice += ++seen[b.indices[j]] == 2;
    EXPECT(!seen[3] && twice == 1, "training: the missing clip replaced by a readable one (%d twice)", twice);
    loader_destroy(l);
    /* the evaluation batch's row 3 holds the frames of the clip after the missing one (clip 00004 of the set),
     * moved up with its label: a loader of that clip alone gives the same bytes */
    c.train = 0;
    Dataset one;
    char list1[800];
    snprintf(list1, sizeof list1, "%s/list1.txt", dir);
    snprintf(text, sizeof text, "%s/data/faces/%05d 10 %d\n", g_root[2], 4, 4 % 7);
    fs_write_atomic(list1, text, strlen(text), &err);
    EXPECT(dataset_open("list", list1, SPLIT_TRAIN, 0, &one, &err) == 0, "%s", err.msg);
    c.global_batch = 1;
    EXPECT(loader_create(&one, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    EXPECT(loader_next(l, &b, &err) == 0 && b.n == 1, "%s", err.msg);
    EXPECT(!memcmp(b.frames, (char *)first + 3 * clip_bytes, clip_bytes), "row 3 holds the next clip's frames");
    EXPECT(memcmp(b.frames, (char *)first + 2 * clip_bytes, clip_bytes) &&
               memcmp(b.frames, (char *)first + 4 * clip_bytes, clip_bytes),
           "and not its neighbours'");
    loader_destroy(l);
    dataset_free(&one);
    free(first);
    c.global_batch = 8;
    c.max_bad_fraction = 0.01f;
    EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    /* nothing counted before a batch is handed out, though the workers have read ahead */
    loader_read_counts(l, &bad, &tried);
    EXPECT(bad == 0 && tried == 0, "counts before the first batch: %ld of %ld", bad, tried);
    EXPECT(loader_next(l, &b, &err) == 0, "%s", err.msg);
    loader_read_counts(l, &bad, &tried);
    char missing_path[900];
    snprintf(missing_path, sizeof missing_path, "the first on this rank: %s/missing: ", dir);
    EXPECT(loader_check_bad_share(l, (double)bad, (double)tried, &err) != 0 && strstr(err.msg, "1 of the 8 clips") &&
               strstr(err.msg, "could not be read") && strstr(err.msg, missing_path) &&
               strstr(err.msg, "`dfer data check`"),
           "too many bad clips, the first named with its reason: %s", err.msg);
    EXPECT(loader_check_bad_share(l, 1, 200, &err) == 0 && loader_check_bad_share(l, 1, 3, &err) == 0,
           "1 of 200 is under 1%%, and 3 clips are too few to judge");
    loader_destroy(l);
    dataset_free(&d);
    /* training replaces each of the 4 clips of a batch by walking the order to the one readable clip: 0 + 1 + 2 + 3
     * failed tries, each warned of before; now each missing clip is warned of once */
    snprintf(g_warn_list, sizeof g_warn_list, "%s/warn.txt", dir);
    snprintf(text, sizeof text, "%s/data/faces/%05d 10 1\n%s/gone1 10 1\n%s/gone2 10 2\n%s/gone3 10 3\n", g_root[2], 1,
             dir, dir, dir);
    fs_write_atomic(g_warn_list, text, strlen(text), &err);
    char child_err[8192];
    int status = test_exit_status_of(train_epoch_of_warn_list, child_err, sizeof child_err);
    int warnings = 0;
    for (const char *w = strstr(child_err, "skipping an unreadable clip"); w;
         w = strstr(w + 1, "skipping an unreadable clip"))
        warnings++;
    EXPECT(status == 0 && warnings == 3, "a training epoch over 3 missing clips of 4: exit %d, %d warnings (want 3): %s",
           status, warnings, child_err);
    /* training over a split none of whose clips can be read: the error names the first and why, once the
     * replacements ran out (not a bare "no readable clip") */
    snprintf(text, sizeof text, "%s/gone1 10 1\n%s/gone2 10 2\n", dir, dir);
    fs_write_atomic(list, text, strlen(text), &err);
    EXPECT(dataset_open("list", list, SPLIT_TRAIN, 0, &d, &err) == 0 && d.count == 2, "%s", err.msg);
    c.train = 1, c.global_batch = 2, c.max_bad_fraction = 1.0f;
    EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    snprintf(missing_path, sizeof missing_path, "(the first: %s/gone", dir);
    EXPECT(loader_next(l, &b, &err) < 0 && strstr(err.msg, "none of its 2 clips could be read") &&
               strstr(err.msg, missing_path),
           "no readable clip: %s", err.msg);
    loader_destroy(l);
    dataset_free(&d);
}

/* Video clips: the loader counts a video's frames once (decoding it whole) and later samples of it
 * decode only up to their last frame. Batches from the loader that remembers the counts equal,
 * bitwise, those of a fresh loader that counts again; a video replaced by a shorter one after it was
 * counted is skipped once (its sampled frames are past the new end) and counted again after. */
static void test_loader_video_counts(void) {
    char dir[700], list[800], text[4096] = "", path[800];
    Err err;
    snprintf(dir, sizeof dir, "%s/videos", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    int longest = 1, shortest = 1, frames[9] = {0};
    for (int i = 1; i <= 8; i++) {
        char *bytes;
        size_t len;
        snprintf(path, sizeof path, "%s/clips/%05d.mp4", g_root[2], i);
        EXPECT(fs_read_all(path, &bytes, &len, &err) == 0, "%s", err.msg);
        snprintf(path, sizeof path, "%s/%d.mp4", dir, i);
        EXPECT(fs_write_atomic(path, bytes, len, &err) == 0, "%s", err.msg);
        free(bytes);
        ClipSource *c;
        EXPECT(clip_source_open(path, &c, &err) == 0, "%s", err.msg);
        frames[i] = clip_source_frame_count(c);
        const VideoLength *vl = clip_source_video_length(c);
        EXPECT(vl && !vl->truncated && vl->decoded_frames == frames[i] && vl->decoded_s > 0,
               "%s: a whole video's length (%d frames, %.2f s) is not truncated", path, frames[i],
               vl ? vl->decoded_s : 0);
        clip_source_close(c);
        longest = frames[i] > frames[longest] ? i : longest;
        shortest = frames[i] < frames[shortest] ? i : shortest;
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s 0 %d\n", path, i % 7);
    }
    EXPECT(frames[longest] >= 2 * frames[shortest], "clips of %d and %d frames to swap", frames[longest],
           frames[shortest]);
    snprintf(list, sizeof list, "%s/list.txt", dir);
    EXPECT(fs_write_atomic(list, text, strlen(text), &err) == 0, "%s", err.msg);
    Dataset d;
    EXPECT(dataset_open("list", list, SPLIT_TRAIN, 0, &d, &err) == 0 && d.count == 8, "%s", err.msg);
    LoaderConfig c = {.global_batch = 8, .rank = 0, .world = 1, .frames = 4, .size = 16, .train = 1, .seed = 5,
                      .normalise_clip = 1, .threads = 2, .prefetch = 1, .max_bad_fraction = 0.5f};
    size_t batch_bytes = (size_t)8 * 4 * 3 * 16 * 16 * sizeof(float);
    Loader *kept, *fresh;
    Batch a, b;
    EXPECT(loader_create(&d, &c, &kept, &err) == 0, "%s", err.msg);
    loader_start_epoch(kept, 1);
    EXPECT(loader_next(kept, &a, &err) == 0, "epoch 1: %s", err.msg);
    for (int epoch = 2; epoch <= 3; epoch++) {
        loader_start_epoch(kept, epoch);
        EXPECT(loader_next(kept, &a, &err) == 0, "epoch %d: %s", epoch, err.msg);
        EXPECT(loader_create(&d, &c, &fresh, &err) == 0, "%s", err.msg);
        loader_start_epoch(fresh, epoch);
        EXPECT(loader_next(fresh, &b, &err) == 0, "epoch %d, fresh loader: %s", epoch, err.msg);
        EXPECT(!memcmp(a.indices, b.indices, 8 * sizeof(int32_t)) && !memcmp(a.frames, b.frames, batch_bytes),
               "epoch %d: counts remembered give bitwise the fresh loader's batch", epoch);
        loader_destroy(fresh);
    }
    /* the longest video becomes the shortest one's copy: the next sample of it reads past its end */
    char *bytes;
    size_t len;
    snprintf(path, sizeof path, "%s/%d.mp4", dir, shortest);
    EXPECT(fs_read_all(path, &bytes, &len, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/%d.mp4", dir, longest);
    EXPECT(fs_write_atomic(path, bytes, len, &err) == 0, "%s", err.msg);
    free(bytes);
    loader_start_epoch(kept, 4);
    EXPECT(loader_next(kept, &a, &err) == 0 && loader_bad_count(kept) == 1,
           "a video shorter than counted: skipped once (%d bad)", loader_bad_count(kept));
    loader_start_epoch(kept, 5);
    EXPECT(loader_next(kept, &a, &err) == 0 && loader_bad_count(kept) == 0, "then counted again (%d bad this epoch)",
           loader_bad_count(kept));
    EXPECT(loader_create(&d, &c, &fresh, &err) == 0, "%s", err.msg);
    loader_start_epoch(fresh, 5);
    EXPECT(loader_next(fresh, &b, &err) == 0, "%s", err.msg);
    EXPECT(!memcmp(a.indices, b.indices, 8 * sizeof(int32_t)) && !memcmp(a.frames, b.frames, batch_bytes),
           "epoch 5: the recounted video gives bitwise the fresh loader's batch");
    loader_destroy(fresh);
    loader_destroy(kept);
    dataset_free(&d);
}

int main(void) {
    TEST_RUN(test_sampler);
    TEST_RUN(test_crop_min_area);
    TEST_RUN(test_augment_maps);
    TEST_RUN(test_split_parsing);
    TEST_RUN(make_datasets);
    TEST_RUN(test_layouts_read_back);
    TEST_RUN(test_open_folds);
    TEST_RUN(test_loader_determinism);
    TEST_RUN(test_bad_clips);
    TEST_RUN(test_loader_video_counts);
    return test_summary();
}
