#include "data/loader_mid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/loader.h"
#include "data/resample.h"
#include "data/video.h"
#include "face/render.h"

/* The stems of a folder clip's frame files, in frame order (the clip's own listing). */
static void list_stems(const char *dir, MidClip *m) {
    Err ignored;
    if (frame_folder_list(dir, &m->stems, &m->n_stems, &ignored) != 0) return; /* the frame decoder reports it */
    for (int i = 0; i < m->n_stems; i++) *strrchr(m->stems[i], '.') = 0;
}

/* Whether the streams read face tracks: the landmark maps are drawn from them, and the parsing maps too
 * unless a folder of parsing maps is given. */
static int needs_track(int streams, const char *parsing_dir) {
    return (streams & LOADER_MID_LANDMARKS) || ((streams & LOADER_MID_PARSING) && !parsing_dir);
}

int mid_missing_inputs(int streams, const char *landmarks_dir, const char *parsing_dir, const Dataset *d, char *first,
                       size_t n) {
    int missing = 0;
    char path[8192];
    for (int i = 0; i < d->count; i++) {
        int gone = 0;
        if (parsing_dir && (streams & LOADER_MID_PARSING)) {
            snprintf(path, sizeof path, "%s/%s", parsing_dir, d->clips[i].id);
            gone = !fs_is_dir(path);
        }
        if (!gone && needs_track(streams, parsing_dir)) {
            snprintf(path, sizeof path, "%s/%s.txt", landmarks_dir, d->clips[i].id);
            gone = !fs_exists(path);
        }
        if (gone && !missing++ && n) snprintf(first, n, "%s", path);
    }
    return missing;
}

int mid_clip_open(MidClip *m, int streams, const char *landmarks_dir, const char *parsing_dir, const ClipRecord *c,
                  int frame_count, Err *err) {
    memset(m, 0, sizeof *m);
    m->streams = streams;
    char path[8192];
    if (parsing_dir && (streams & LOADER_MID_PARSING)) {
        snprintf(path, sizeof path, "%s/%s", parsing_dir, c->id);
        m->parsing_dir = xstrdup(path);
        if (fs_is_dir(c->path)) list_stems(c->path, m);
    }
    if (needs_track(streams, m->parsing_dir)) {
        snprintf(path, sizeof path, "%s/%s.txt", landmarks_dir, c->id);
        if (face_track_read(path, &m->track, err) != 0) {
            mid_clip_close(m);
            return err_prefix(err, "face track: ");
        }
        if (m->track.frames < frame_count) {
            int lines = m->track.frames;
            mid_clip_close(m);
            return err_set(err, "%s: %d frame lines for a clip of %d frames", path, lines, frame_count);
        }
    }
    return 0;
}

void mid_clip_close(MidClip *m) {
    face_track_free(&m->track);
    free(m->parsing_dir);
    for (int i = 0; i < m->n_stems; i++) free(m->stems[i]);
    free(m->stems);
    memset(m, 0, sizeof *m);
}

/* An external index map for frame `index`, warped like the frame: labels [size*size]. */
static int external_parsing(const MidClip *m, const AugmentConfig *aug, const AugmentDraw *d, int index, int w, int h,
                            uint8_t *labels, Err *err) {
    char path[8192] = "", alt[8192];
    snprintf(alt, sizeof alt, "%s/%05d.png", m->parsing_dir, index + 1);
    const char *use = NULL;
    if (index < m->n_stems) {
        snprintf(path, sizeof path, "%s/%s.png", m->parsing_dir, m->stems[index]);
        if (fs_exists(path)) use = path;
    }
    if (!use && fs_exists(alt)) use = alt;
    if (!use)
        return err_set(err, "no parsing map for frame %d: looked for %s%s%s", index + 1, path,
                       *path ? " and " : "", alt);
    ImageU8 map, sized = {0}, out;
    if (image_decode_file_indices(use, &map, err) != 0)
        return err_prefix(err, "parsing map (the LaPa index, 0..10, of each pixel): ");
    const ImageU8 *src = &map;
    if (map.width != w || map.height != h) { /* a map of the whole frame at another resolution */
        image_resize(&map, w, h, RESAMPLE_NEAREST, &sized);
        src = &sized;
    }
    augment_apply_labels(aug, d, src, &out);
    int n = aug->size * aug->size, bad = -1;
    for (int i = 0; i < n; i++) {
        labels[i] = out.rgb[3 * i]; /* decoded as indices: R = G = B = the index */
        if (labels[i] >= FACE_CLASSES && bad < 0) bad = labels[i];
    }
    image_free(&map), image_free(&sized), image_free(&out);
    if (bad >= 0) return err_set(err, "%s: value %d is not an 11-class LaPa index (0..10)", use, bad);
    if (d->flip) face_labels_mirror(labels, n);
    return 0;
}

int mid_clip_maps(const MidClip *m, const AugmentConfig *aug, const AugmentDraw *d, int index, int w, int h, int fw,
                  int fh, uint8_t *parsing, uint8_t *dots, Err *err) {
    int S = aug->size;
    float q[2 * FACE_POINTS] = {0};
    if (m->track.frames > 0) {
        CHECK(index >= 0 && index < m->track.frames, "frame %d of a %d-frame track", index, m->track.frames);
        float xy[2 * FACE_POINTS];
        memcpy(xy, m->track.xy + (size_t)index * 2 * FACE_POINTS, sizeof xy);
        if (fw != w || fh != h) /* the loader resized this frame to frame 0's size */
            for (int i = 0; i < FACE_POINTS; i++) xy[2 * i] *= (float)w / fw, xy[2 * i + 1] *= (float)h / fh;
        augment_apply_points(aug, d, w, h, xy, FACE_POINTS, q);
        if (d->flip) face_points_mirror_order(q); /* indices keep their anatomy in the mirrored face */
    }
    if (parsing) {
        if (m->parsing_dir) {
            if (external_parsing(m, aug, d, index, w, h, parsing, err) != 0) return -1;
        } else {
            face_render_parsing(q, S, S, parsing);
        }
    }
    if (dots) face_render_landmark_mask(q, S, S, dots);
    return 0;
}
