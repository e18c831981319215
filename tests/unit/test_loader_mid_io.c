/* The loader's middle level, its sources and contracts (test_loader_mid.c has
 * the geometry): external parsing maps warped exactly (by frame stem, or by
 * frame number), sharding and dtypes (the same maps on every rank; F32 maps =
 * the uint8 ones normalised like the frames), frames unchanged by mid_streams,
 * missing or short face tracks counted as bad clips and replaced, bad
 * configurations rejected, and the loader's throughput with and without maps
 * on one thread (printed, never asserted). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/fsutil.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "data/encode.h"
#include "data/loader.h"
#include "data/loader_mid.h"
#include "data/preprocess.h"
#include "data/synth.h"
#include "data/video.h"
#include "face/render.h"
#include "mid_fixture.h"
#include "testlib.h"

enum { T = MID_T, S = MID_S };
#define PLANE MID_PLANE

static MidFixture g_fx;

static void make_dataset(void) { mid_fixture_make(&g_fx); }
static LoaderConfig base_config(int train) { return mid_fixture_config(&g_fx, train); }

static int copy_file(const char *from, const char *to, Err *err) {
    char *data;
    size_t len;
    if (fs_read_all(from, &data, &len, err) != 0) return -1;
    int rc = fs_write_atomic(to, data, len, err);
    free(data);
    return rc;
}

static int frame_count(const ClipRecord *c) {
    ClipSource *src;
    Err err;
    if (clip_source_open(c->path, &src, &err) != 0) return -1;
    int n = clip_source_frame_count(src);
    clip_source_close(src);
    return n;
}

/* DFEW's augmentation at S px and one draw of it (seed 1): how the parsing tests warp a map. */
static void dfew_draw(AugmentConfig *aug, AugmentDraw *draw) {
    augment_preset("dfew", S, 0, aug);
    Rng r;
    rng_init(&r, 1, 0, 0, 0);
    augment_draw(aug, S, S, &r, draw);
}

/* External maps: every clip's ground truth copied under the frame files' stems
 * ("00007_00001.png", with a decoy all-background "00001.png" beside it that
 * must not be read) for even clips, under frame numbers for odd ones. The
 * delivered map is the palette of the truth warped by the clip's draw. */
static void test_external_parsing(void) {
    Err err;
    Dataset all;
    char ext[700], from[900], to[900];
    snprintf(ext, sizeof ext, "%s/external", test_tmpdir());
    uint8_t zeros[S * S] = {0};
    for (int split = 0; split < 2; split++) {
        EXPECT(dataset_open("dfew", g_fx.root, split ? SPLIT_TEST : SPLIT_TRAIN, 1, &all, &err) == 0, "%s", err.msg);
        for (int i = 0; i < all.count; i++) {
            const char *id = all.clips[i].id;
            int by_stem = atoi(id) % 2 == 0, n = frame_count(&all.clips[i]);
            snprintf(to, sizeof to, "%s/%s", ext, id);
            EXPECT(fs_mkdirs(to, &err) == 0, "%s", err.msg);
            for (int f = 1; f <= n; f++) {
                snprintf(from, sizeof from, "%s/%s/%05d.png", g_fx.parsing, id, f);
                if (by_stem) snprintf(to, sizeof to, "%s/%s/%s_%05d.png", ext, id, id, f);
                else snprintf(to, sizeof to, "%s/%s/%05d.png", ext, id, f);
                EXPECT(copy_file(from, to, &err) == 0, "%s", err.msg);
                if (by_stem) {
                    snprintf(to, sizeof to, "%s/%s/%05d.png", ext, id, f);
                    EXPECT(image_write_png(to, zeros, S, S, 1, &err) == 0, "%s", err.msg);
                }
            }
        }
        dataset_free(&all);
    }
    for (int train = 1; train >= 0; train--) {
        Dataset d;
        EXPECT(dataset_open("dfew", g_fx.root, train ? SPLIT_TRAIN : SPLIT_TEST, 1, &d, &err) == 0, "%s", err.msg);
        LoaderConfig c = base_config(train);
        c.mid_streams = LOADER_MID_PARSING, c.parsing_dir = ext, c.landmarks_dir = NULL; /* no track needed */
        c.augment_preset = "ferv39k";                                                     /* rotations too */
        Loader *l;
        EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
        loader_start_epoch(l, 3);
        Batch b;
        int maps = 0, differ = 0, flipped = 0;
        while (loader_next(l, &b, &err) == 0) {
            EXPECT(b.parsing && !b.landmark_maps, "parsing only");
            for (int j = 0; j < b.n; j++) {
                const ClipRecord *rec = &d.clips[b.indices[j]];
                int idx[T];
                AugmentDraw draw;
                loader_clip_plan(l, 3, b.indices[j], frame_count(rec), S, S, idx, &draw);
                flipped += draw.flip;
                for (int t = 0; t < T; t++, maps++) {
                    ImageU8 gt, out;
                    snprintf(from, sizeof from, "%s/%s/%05d.png", g_fx.parsing, rec->id, idx[t] + 1);
                    EXPECT(image_decode_file(from, &gt, &err) == 0, "%s", err.msg);
                    augment_apply_labels(loader_augment_config(l), &draw, &gt, &out);
                    uint8_t labels[S * S], rgb[S * S * 3];
                    for (int i = 0; i < S * S; i++) labels[i] = out.rgb[3 * i];
                    if (draw.flip) face_labels_mirror(labels, S * S);
                    face_palette_rgb(labels, S * S, rgb);
                    const uint8_t *got = (const uint8_t *)b.parsing + ((size_t)j * T + t) * PLANE;
                    for (int i = 0; i < S * S; i++)
                        for (int ch = 0; ch < 3; ch++) differ += got[ch * S * S + i] != rgb[3 * i + ch];
                    image_free(&gt), image_free(&out);
                }
            }
        }
        EXPECT(maps >= 5 * T && differ == 0 && loader_bad_count(l) == 0 && (!train || flipped > 0),
               "%s: external maps warped exactly (%d maps, %d flipped clips, %d bytes differ, %d bad clips)",
               train ? "train" : "eval", maps, flipped, differ, loader_bad_count(l));
        loader_destroy(l);
        dataset_free(&d);
    }
    /* a value outside 0..10 and a missing map are errors naming the file */
    Dataset d;
    EXPECT(dataset_open("dfew", g_fx.root, SPLIT_TEST, 1, &d, &err) == 0, "%s", err.msg);
    const ClipRecord *rec = &d.clips[0];
    int n = frame_count(rec);
    snprintf(to, sizeof to, "%s/%s/%05d.png", ext, rec->id, 1);
    uint8_t bad[S * S];
    memset(bad, 37, sizeof bad);
    EXPECT(image_write_png(to, bad, S, S, 1, &err) == 0, "%s", err.msg);
    snprintf(to, sizeof to, "%s/%s/%s_%05d.png", ext, rec->id, rec->id, 1);
    unlink(to);
    snprintf(to, sizeof to, "%s/%s/%05d.png", ext, rec->id, 2);
    unlink(to);
    snprintf(to, sizeof to, "%s/%s/%s_%05d.png", ext, rec->id, rec->id, 2);
    unlink(to);
    MidClip m;
    AugmentConfig aug;
    AugmentDraw draw;
    dfew_draw(&aug, &draw);
    uint8_t labels[S * S];
    EXPECT(mid_clip_open(&m, LOADER_MID_PARSING, NULL, ext, rec, n, &err) == 0, "%s", err.msg);
    EXPECT(mid_clip_maps(&m, &aug, &draw, 0, S, S, S, S, labels, NULL, &err) != 0 && strstr(err.msg, "value 37") &&
               strstr(err.msg, "00001.png"),
           "a value of 37 rejected: %s", err.msg);
    EXPECT(mid_clip_maps(&m, &aug, &draw, 1, S, S, S, S, labels, NULL, &err) != 0 &&
               strstr(err.msg, "no parsing map") && strstr(err.msg, "00002.png"),
           "a missing map named: %s", err.msg);
    mid_clip_close(&m);
    dataset_free(&d);
}

/* A PNG of w x h written by hand (the project's writer makes 8-bit grey and RGB ones): signature, IHDR, PLTE when
 * `palette` ([n_palette, 3]) is given, one zlib-compressed IDAT of filter-0 rows, IEND. pixel(x, y, c) gives sample c
 * of each pixel, of `channels` samples of `depth` bits (8 or 16); colour_type as the PNG standard numbers them (0 grey,
 * 2 RGB, 3 palette). */
typedef int (*PngSample)(int x, int y, int c);
static void write_png_by_hand(const char *path, int w, int h, int depth, int colour_type, int channels, PngSample pixel,
                              const unsigned char *palette, int n_palette) {
    int bytes = depth / 8;
    size_t row = 1 + (size_t)bytes * channels * w, raw_n = row * h;
    unsigned char *raw = calloc(raw_n, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++) {
                int v = pixel(x, y, c);
                unsigned char *at = raw + y * row + 1 + (size_t)bytes * (channels * x + c);
                if (bytes == 2) at[0] = (unsigned char)(v >> 8), at[1] = (unsigned char)v;
                else at[0] = (unsigned char)v;
            }
    uLongf zn = compressBound(raw_n);
    unsigned char *z = malloc(zn);
    EXPECT(compress(z, &zn, raw, raw_n) == Z_OK, "zlib");
    FILE *f = fopen(path, "wb");
    EXPECT(f != NULL, "%s", path);
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16), (unsigned char)(w >> 8),
                              (unsigned char)w,         (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8),  (unsigned char)h,         (unsigned char)depth,
                              (unsigned char)colour_type, 0, 0, 0};
    const struct { const char *type; const unsigned char *data; uLong n; } chunks[4] = {
        {"IHDR", ihdr, 13}, {"PLTE", palette, 3 * (uLong)n_palette}, {"IDAT", z, zn}, {"IEND", NULL, 0}};
    for (int c = 0; c < 4; c++) {
        if (c == 1 && !palette) continue;
        unsigned char len[4] = {(unsigned char)(chunks[c].n >> 24), (unsigned char)(chunks[c].n >> 16),
                                (unsigned char)(chunks[c].n >> 8), (unsigned char)chunks[c].n};
        fwrite(len, 1, 4, f), fwrite(chunks[c].type, 1, 4, f);
        if (chunks[c].n) fwrite(chunks[c].data, 1, chunks[c].n, f);
        uLong crc = crc32(crc32(0, (const Bytef *)chunks[c].type, 4), chunks[c].data, (uInt)chunks[c].n);
        unsigned char cb[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16), (unsigned char)(crc >> 8),
                               (unsigned char)crc};
        fwrite(cb, 1, 4, f);
    }
    fclose(f);
    free(raw), free(z);
}

static int sample_seven(int x, int y, int c) { return (void)x, (void)y, (void)c, 7; }
/* a label map of every LaPa class: class (x + y) % 11 */
static int sample_classes(int x, int y, int c) { return (void)c, (x + y) % FACE_CLASSES; }
/* a colour picture: R = x, G = y, B = 0 */
static int sample_colour(int x, int y, int c) { return c == 0 ? x : c == 1 ? y : 0; }

/* One clip's parsing folder under test_tmpdir()/NAME with frame 1's map at *path; the clip's record. */
static const ClipRecord *one_map_folder(Dataset *d, const char *name, char *ext, size_t ext_n, char *path, size_t n) {
    Err err;
    snprintf(ext, ext_n, "%s/%s", test_tmpdir(), name);
    EXPECT(dataset_open("dfew", g_fx.root, SPLIT_TEST, 1, d, &err) == 0, "%s", err.msg);
    const ClipRecord *rec = &d->clips[0];
    snprintf(path, n, "%s/%s", ext, rec->id);
    EXPECT(fs_mkdirs(path, &err) == 0, "%s", err.msg);
    snprintf(path, n, "%s/%s/%05d.png", ext, rec->id, 1);
    return rec;
}

/* Frame 1's labels through mid_clip_maps (DFEW's draw): 0 read, -1 refused (err). */
static int read_labels(const char *ext, const ClipRecord *rec, uint8_t *labels, Err *err) {
    MidClip m;
    AugmentConfig aug;
    AugmentDraw draw;
    dfew_draw(&aug, &draw);
    EXPECT(mid_clip_open(&m, LOADER_MID_PARSING, NULL, ext, rec, frame_count(rec), err) == 0, "%s", err->msg);
    int rc = mid_clip_maps(&m, &aug, &draw, 0, S, S, S, S, labels, NULL, err);
    mid_clip_close(&m);
    return rc;
}

/* A 16-bit parsing map (indices 0..10 that 8 bits would read as background) is refused, naming the file. */
static void test_parsing_16bit_refused(void) {
    Err err;
    char ext[700], to[900];
    Dataset d;
    const ClipRecord *rec = one_map_folder(&d, "parsing16", ext, sizeof ext, to, sizeof to);
    write_png_by_hand(to, S, S, 16, 0, 1, sample_seven, NULL, 0);
    ImageU8 img;
    EXPECT(image_decode_file(to, &img, &err) == 0 && img.rgb[0] == 0,
           "the hand-written PNG decodes, its 16-bit 7 read as %d in 8 bits: %s", img.rgb[0], err.msg);
    image_free(&img);
    uint8_t labels[S * S];
    EXPECT(read_labels(ext, rec, labels, &err) != 0 && strstr(err.msg, "a 16-bit image") &&
               strstr(err.msg, "00001.png"),
           "a 16-bit map refused: %s", err.msg);
    dataset_free(&d);
}

/* A palette PNG (how PIL saves a label map in "P" mode: each class a colour) reads as its indices, not its colours;
 * the same map as a grey PNG reads the same; a colour picture is refused, naming the file. */
static void test_parsing_palette_map(void) {
    Err err;
    char ext[700], to[900];
    Dataset d;
    const ClipRecord *rec = one_map_folder(&d, "parsing_palette", ext, sizeof ext, to, sizeof to);
    unsigned char palette[3 * FACE_CLASSES];
    for (int k = 0; k < FACE_CLASSES; k++) /* colours whose channels are no index: 100 + 13k, 255 - 20k, 7k */
        palette[3 * k] = (unsigned char)(100 + 13 * k), palette[3 * k + 1] = (unsigned char)(255 - 20 * k),
        palette[3 * k + 2] = (unsigned char)(7 * k);
    write_png_by_hand(to, S, S, 8, 3, 1, sample_classes, palette, FACE_CLASSES);
    uint8_t from_palette[S * S], from_grey[S * S];
    EXPECT(read_labels(ext, rec, from_palette, &err) == 0, "a palette map read: %s", err.msg);
    write_png_by_hand(to, S, S, 8, 0, 1, sample_classes, NULL, 0);
    EXPECT(read_labels(ext, rec, from_grey, &err) == 0, "a grey map read: %s", err.msg);
    EXPECT(!memcmp(from_palette, from_grey, sizeof from_grey), "the palette map's labels are the grey map's");
    int classes_seen = 0;
    for (int k = 0; k < FACE_CLASSES; k++)
        classes_seen += memchr(from_grey, k, sizeof from_grey) != NULL;
    EXPECT(classes_seen >= 8, "the warped map keeps most of the 11 classes (%d)", classes_seen);
    write_png_by_hand(to, S, S, 8, 2, 3, sample_colour, NULL, 0);
    EXPECT(read_labels(ext, rec, from_grey, &err) != 0 && strstr(err.msg, "a colour image") &&
               strstr(err.msg, "00001.png"),
           "a colour picture refused: %s", err.msg);
    /* sample_colour's first pixel with R != G is (1, 0), of RGB 1,0,0: the message names its values as read */
    EXPECT(strstr(err.msg, "pixel 1,0 is 1,0,0") != NULL, "the first colour pixel and its values named: %s", err.msg);
    dataset_free(&d);
}

/* Sharding, dtypes and the unchanged frame path on the first training batch; no_frames. */
static void test_sharding_dtypes_frames(void) {
    Err err;
    Dataset d;
    EXPECT(dataset_open("dfew", g_fx.root, SPLIT_TRAIN, 1, &d, &err) == 0, "%s", err.msg);
    LoaderConfig base = base_config(1);
    base.uint8 = 0; /* F32, CLIP-normalised */
    Loader *one;
    EXPECT(loader_create(&d, &base, &one, &err) == 0, "%s", err.msg);
    loader_start_epoch(one, 2);
    Batch ref;
    EXPECT(loader_next(one, &ref, &err) == 0 && ref.n == 8, "single-rank batch");
    size_t bytes = 8 * (size_t)T * PLANE * sizeof(float);
    for (int world = 2; world <= 4; world *= 2)
        for (int rank = 0; rank < world; rank++) {
            LoaderConfig c = base;
            c.world = world, c.rank = rank, c.threads = 1 + rank % 2;
            Loader *l;
            EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
            loader_start_epoch(l, 2);
            Batch b;
            EXPECT(loader_next(l, &b, &err) == 0, "%s", err.msg);
            size_t off = (size_t)rank * (bytes / world);
            EXPECT(!memcmp(b.parsing, (char *)ref.parsing + off, bytes / world) &&
                       !memcmp(b.landmark_maps, (char *)ref.landmark_maps + off, bytes / world) &&
                       !memcmp(b.frames, (char *)ref.frames + off, bytes / world),
                   "world %d rank %d: the same maps and frames, bitwise", world, rank);
            loader_destroy(l);
        }
    /* uint8 maps normalised like frames give the F32 maps exactly */
    LoaderConfig u8c = base;
    u8c.uint8 = 1;
    Loader *u8;
    EXPECT(loader_create(&d, &u8c, &u8, &err) == 0, "%s", err.msg);
    loader_start_epoch(u8, 2);
    Batch ub;
    EXPECT(loader_next(u8, &ub, &err) == 0, "%s", err.msg);
    size_t mismatches = 0, n = 8 * (size_t)T * PLANE;
    for (size_t k = 0; k < n; k++) {
        int c = (int)(k / (S * S) % 3);
        float p = ((float)((uint8_t *)ub.parsing)[k] / 255.0f - k_clip_mean[c]) / k_clip_std[c];
        float m = ((float)((uint8_t *)ub.landmark_maps)[k] / 255.0f - k_clip_mean[c]) / k_clip_std[c];
        mismatches += p != ((float *)ref.parsing)[k] || m != ((float *)ref.landmark_maps)[k];
    }
    EXPECT(mismatches == 0, "F32 maps = uint8 maps with the frames' CLIP normalisation (%zu mismatches)", mismatches);
    loader_destroy(u8);
    /* mid_streams 0: no map buffers, the same frames as with maps */
    LoaderConfig plain = base;
    plain.mid_streams = 0, plain.landmarks_dir = NULL;
    Loader *p;
    EXPECT(loader_create(&d, &plain, &p, &err) == 0, "%s", err.msg);
    loader_start_epoch(p, 2);
    Batch pb;
    EXPECT(loader_next(p, &pb, &err) == 0, "%s", err.msg);
    EXPECT(!pb.parsing && !pb.landmark_maps, "mid_streams 0: no maps");
    EXPECT(!memcmp(pb.frames, ref.frames, bytes) && !memcmp(pb.indices, ref.indices, 8 * sizeof(int32_t)),
           "mid_streams 0: the same clips and frames, bitwise");
    loader_destroy(p);
    /* no_frames (a model without the low level): the same clips and maps, no frames (not even a buffer for them);
     * without maps too, where the clips are not even decoded */
    for (int mid = 1; mid >= 0; mid--) {
        LoaderConfig nf = base;
        nf.no_frames = 1;
        if (!mid) nf.mid_streams = 0, nf.landmarks_dir = NULL;
        Loader *q;
        EXPECT(loader_create(&d, &nf, &q, &err) == 0, "%s", err.msg);
        loader_start_epoch(q, 2);
        Batch qb;
        EXPECT(loader_next(q, &qb, &err) == 0 && qb.n == 8, "no_frames: %s", err.msg);
        EXPECT(qb.frames == NULL, "no_frames (maps %d): a frames buffer was delivered", mid);
        EXPECT(!memcmp(qb.indices, ref.indices, 8 * sizeof(int32_t)) && !memcmp(qb.labels, ref.labels, 8 * 4),
               "no_frames (maps %d): the same clips", mid);
        if (mid)
            EXPECT(!memcmp(qb.parsing, ref.parsing, bytes) && !memcmp(qb.landmark_maps, ref.landmark_maps, bytes),
                   "no_frames: the same maps, bitwise");
        else
            EXPECT(!qb.parsing && !qb.landmark_maps, "no_frames without mid_streams: no maps");
        loader_destroy(q);
    }
    loader_destroy(one);
    dataset_free(&d);
}

/* Clip 1's track removed, clip 3's cut to 3 lines (not adjacent: a replacement would be counted twice): both
 * unreadable, replaced, counted. */
static void test_bad_tracks(void) {
    Err err;
    Dataset d;
    EXPECT(dataset_open("dfew", g_fx.root, SPLIT_TEST, 1, &d, &err) == 0 && d.count >= 5, "%s", err.msg);
    char dir[700], from[900], to[900];
    snprintf(dir, sizeof dir, "%s/tracks", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    for (int i = 0; i < d.count; i++) {
        snprintf(from, sizeof from, "%s/%s.txt", g_fx.landmarks, d.clips[i].id);
        snprintf(to, sizeof to, "%s/%s.txt", dir, d.clips[i].id);
        if (i == 1) continue; /* missing */
        if (i == 3) {         /* 3 frame lines */
            char *text;
            size_t len;
            EXPECT(fs_read_all(from, &text, &len, &err) == 0, "%s", err.msg);
            char *cut = text;
            for (int k = 0; k < 3; k++) cut = strchr(cut, '\n') + 1;
            EXPECT(fs_write_atomic(to, text, (size_t)(cut - text), &err) == 0, "%s", err.msg);
            free(text);
            continue;
        }
        EXPECT(copy_file(from, to, &err) == 0, "%s", err.msg);
    }
    LoaderConfig c = base_config(0);
    c.landmarks_dir = dir, c.max_bad_fraction = 0.5f, c.global_batch = 4;
    Loader *l;
    EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
    loader_start_epoch(l, 0);
    Batch b;
    int served = 0, bad_served = 0, left_out = 0;
    while (loader_next(l, &b, &err) == 0) {
        left_out += b.left_out;
        for (int j = 0; j < b.n; j++) served++, bad_served += b.indices[j] == 1 || b.indices[j] == 3;
    }
    /* evaluation order: the two clips are left out, the others served once */
    EXPECT(loader_bad_count(l) == 2 && served == d.count - 2 && left_out == 2 && bad_served == 0,
           "2 bad clips counted (%d) and left out (%d), %d of %d served, none of them the bad ones (%d)",
           loader_bad_count(l), left_out, served, d.count, bad_served);
    loader_destroy(l);
    /* the messages the loader logs name the file and, for a short track, both counts */
    MidClip m;
    int n = frame_count(&d.clips[3]);
    EXPECT(mid_clip_open(&m, LOADER_MID_LANDMARKS, dir, NULL, &d.clips[3], n, &err) != 0 &&
               strstr(err.msg, d.clips[3].id) && strstr(err.msg, "3 frame lines") && strstr(err.msg, "frames"),
           "short track: %s", err.msg);
    char want[64];
    snprintf(want, sizeof want, "of %d frames", n);
    EXPECT(strstr(err.msg, want) != NULL, "'%s' in '%s'", want, err.msg);
    EXPECT(mid_clip_open(&m, LOADER_MID_PARSING, dir, NULL, &d.clips[1], frame_count(&d.clips[1]), &err) != 0 &&
               strstr(err.msg, d.clips[1].id),
           "missing track: %s", err.msg);
    /* a track is needed only for what is rendered from it */
    EXPECT(mid_clip_open(&m, LOADER_MID_PARSING, dir, g_fx.parsing, &d.clips[1], frame_count(&d.clips[1]), &err) == 0,
           "external parsing needs no track: %s", err.msg);
    mid_clip_close(&m);
    dataset_free(&d);
}

static void test_bad_configs(void) {
    Err err;
    Dataset d;
    EXPECT(dataset_open("dfew", g_fx.root, SPLIT_TRAIN, 1, &d, &err) == 0, "%s", err.msg);
    Loader *l;
    LoaderConfig c = base_config(1);
    c.mid_streams = 4;
    EXPECT(loader_create(&d, &c, &l, &err) != 0 && strstr(err.msg, "mid_streams 4"), "unknown bit: %s", err.msg);
    c = base_config(1);
    c.landmarks_dir = NULL;
    EXPECT(loader_create(&d, &c, &l, &err) != 0 && strstr(err.msg, "landmark"), "no tracks: %s", err.msg);
    c.mid_streams = LOADER_MID_PARSING;
    EXPECT(loader_create(&d, &c, &l, &err) != 0 && strstr(err.msg, "parsing maps need"), "no tracks: %s", err.msg);
    dataset_free(&d);
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Frames/s on one worker thread at the model resolution, 16 frames per clip, F32: frames only,
 * then with maps. The machine may be shared: configurations are interleaved over 2 rounds and
 * the best round is kept; frames per CPU second (the worker's work, the caller only waits)
 * depends less on other load than wall-clock frames/s. */
static void test_throughput(void) {
    Err err;
    Dataset d;
    EXPECT(dataset_open("dfew", g_fx.root, SPLIT_TRAIN, 1, &d, &err) == 0, "%s", err.msg);
    static const int streams[4] = {0, LOADER_MID_LANDMARKS, LOADER_MID_PARSING, 3};
    static const char *names[4] = {"frames only", "+ landmark maps", "+ parsing maps", "+ both maps"};
    double best_wall[4] = {0}, best_cpu[4] = {0};
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 4; k++) {
            LoaderConfig c = {.global_batch = 8, .rank = 0, .world = 1, .frames = 16, .size = 224, .train = 1,
                              .seed = 1, .normalise_clip = 1, .threads = 1, .prefetch = 2, .max_bad_fraction = 0.05f,
                              .mid_streams = streams[k], .landmarks_dir = g_fx.landmarks};
            Loader *l;
            EXPECT(loader_create(&d, &c, &l, &err) == 0, "%s", err.msg);
            Batch b;
            loader_start_epoch(l, 0); /* warm-up: first touch of the batch buffers */
            while (loader_next(l, &b, &err) == 0) {}
            long clips = 0;
            double t0 = time_now(), c0 = cpu_now();
            for (int e = 1; e <= 2; e++) {
                loader_start_epoch(l, e);
                while (loader_next(l, &b, &err) == 0) clips += b.n;
            }
            double wall = clips * 16 / (time_now() - t0), cpu = clips * 16 / (cpu_now() - c0);
            if (wall > best_wall[k]) best_wall[k] = wall;
            if (cpu > best_cpu[k]) best_cpu[k] = cpu;
            loader_destroy(l);
        }
    for (int k = 0; k < 4; k++)
        printf("loader, 1 thread, 16 x 224 x 224 F32 (64 px JPEG frames, DFEW augmentation), %-16s %6.0f frames/s, "
               "%6.0f frames per CPU second\n",
               names[k], best_wall[k], best_cpu[k]);
    dataset_free(&d);
}

int main(void) {
    TEST_RUN(make_dataset);
    TEST_RUN(test_external_parsing);
    TEST_RUN(test_parsing_16bit_refused);
    TEST_RUN(test_parsing_palette_map);
    TEST_RUN(test_sharding_dtypes_frames);
    TEST_RUN(test_bad_tracks);
    TEST_RUN(test_bad_configs);
    TEST_RUN(test_throughput);
    return test_summary();
}
