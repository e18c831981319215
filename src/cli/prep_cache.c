/* dfer prep's cached tracks: a track's first line, written with the track (how it was made: the settings, the
 * clip's identity and path) and read back on a rerun to tell whether the cached track can stand for the clip as it
 * is now (the same clip by its identity, or an older dfer's track by its path; a frame folder's frame count
 * unchanged), with a warning saying why where it cannot. Apart from cmd_prep.c, which runs the clips over the ranks
 * and threads (prep_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/prep_internal.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/version.h"
#include "data/clip_identity.h"
#include "data/video.h"

/* What a track's first line records of how it was made (hold: FaceTrackConfig.hold_frames, the frames a followed
 * face may be missing before another is followed); a cached track made otherwise is reused, but counted (and
 * --recompute makes it again). */
#define TRACK_SETTINGS ", upsample %d, hold %d, model %s"

/* text: the track file's bytes; its first line is its '#' comment */
static int track_settings_match(const Prep *p, const char *text) {
    char want[4200];
    snprintf(want, sizeof want, TRACK_SETTINGS "): ", p->cfg.upsample, p->cfg.hold_frames, p->model_path);
    const char *nl = strchr(text, '\n'), *hit = text[0] == '#' ? strstr(text, want) : NULL;
    return hit && (!nl || hit < nl);
}

/* A frame folder clip's frame files, listed once for both checks of its cached track (the frame count and the
 * clip's identity): on a network file system each listing of 10k+ clip folders costs a round trip. */
typedef struct FrameListing {
    int listed;   /* the clip is a frame folder and could be listed */
    char **names; /* its frame files in clip order (frame_folder_list) */
    int count;
} FrameListing;

static void frame_listing_free(FrameListing *l) {
    for (int i = 0; i < l->count; i++) free(l->names[i]);
    free(l->names);
}

/* A frame folder's count of frame files where it differs from a cached track's lines (a frame added or removed
 * since the track was made: line i would describe another frame), else -1; the folder's listing is kept in *listing
 * for the identity's check. Listing a folder is cheap; a video's frames would take a decode, so a video's track is
 * trusted. */
static int folder_frames_changed(const char *clip_path, int track_frames, FrameListing *listing) {
    if (!fs_is_dir(clip_path)) return -1;
    Err err;
    /* no frame left (or none readable): computing says so */
    if (frame_folder_list(clip_path, &listing->names, &listing->count, &err) != 0) return 0;
    listing->listed = 1;
    if (!listing->count) return 0;
    return listing->count == track_frames ? -1 : listing->count;
}

/* The clip a track was made from, as its first line records it: "# dfer prep (... model M): source IDENTITY: PATH"
 * (clip_identity.h), or by a dfer that recorded no identity "# dfer prep (... model M): PATH". Each is "" where
 * not recorded (no path: a track no dfer prep wrote). */
#define TRACK_SOURCE "): source "
static void track_source_read(const char *text, char identity[CLIP_IDENTITY_MAX], char path[8192]) {
    identity[0] = path[0] = 0;
    if (strncmp(text, "# dfer prep (", 13)) return;
    size_t line = strcspn(text, "\n");
    const char *src = strstr(text, TRACK_SOURCE), *close = strstr(text, "): ");
    if (src && (size_t)(src - text) < line) {
        const char *id = src + strlen(TRACK_SOURCE), *end = strstr(id, ": ");
        if (!end || (size_t)(end - text) >= line || end - id >= CLIP_IDENTITY_MAX) return;
        snprintf(identity, CLIP_IDENTITY_MAX, "%.*s", (int)(end - id), id);
        close = end - 1; /* the path follows the identity's ": " */
    }
    if (close && (size_t)(close - text) < line) snprintf(path, 8192, "%.*s", (int)(text + line - close - 3), close + 3);
}

/* Whether a track an older dfer made of `recorded` (no identity recorded) was made of clip c now: the same path, or
 * the same path under the dataset's folder wherever that folder is (a moved dataset keeps its tracks; a list that
 * now names another clip under the same id does not). A clip outside the folder (a list's absolute path) has only
 * its id, its last name, to compare. Trailing '/' aside. */
static int same_place_in_dataset(const Prep *p, const char *recorded, const PrepClip *c) {
    if (!strcmp(recorded, c->path)) return 1;
    size_t n = strlen(p->root_dir), rn, pn = strlen(recorded);
    const char *rel = !strncmp(c->path, p->root_dir, n) && c->path[n] == '/' ? c->path + n + 1 : c->id;
    for (rel += strspn(rel, "/"), rn = strlen(rel); rn && rel[rn - 1] == '/';) rn--;
    while (pn && recorded[pn - 1] == '/') pn--;
    return rn && pn >= rn && !strncmp(recorded + pn - rn, rel, rn) && (pn == rn || recorded[pn - rn - 1] == '/');
}

/* Whether a cached track was made from the clip at c->path as it is now: its recorded identity against the clip's
 * (compared by the bytes, not the path: a moved or copied dataset reuses its tracks), or, for a track that records
 * none, its recorded path (same_place_in_dataset; such a track is counted in n[N_NO_IDENTITY]). Where not, a
 * warning names the clip, the source the track was made from and the one it would be made from now. */
static int track_source_matches(const Prep *p, const PrepClip *c, const char *text, const FrameListing *listing,
                                int64_t *n) {
    char was[CLIP_IDENTITY_MAX], was_path[8192];
    track_source_read(text, was, was_path);
    if (!was[0]) {
        if (!was_path[0] || same_place_in_dataset(p, was_path, c)) return n[N_NO_IDENTITY]++, 1;
        log_warn("computing clip %s again: its cached track was made from %s, the clip is now %s (another path "
                 "under the dataset's folder)", c->id, was_path, c->path);
        return 0;
    }
    char now[CLIP_IDENTITY_MAX];
    Err err;
    /* a frame folder's from the listing its frame count was checked with, a video's from its bytes */
    int rc = listing->listed ? clip_identity_of_frames(c->path, listing->names, listing->count, now, &err)
                             : clip_identity(c->path, now, &err);
    if (rc != 0) {
        log_warn("computing clip %s again: its clip cannot be read to check that its cached track was made from it: "
                 "%s", c->id, err.msg);
        return 0;
    }
    if (!strcmp(now, was)) return 1;
    log_warn("computing clip %s again: its cached track was made from %s (%s), the clip is now %s (%s)", c->id,
             was_path, was, c->path, now);
    return 0;
}

int prep_cached_track(const Prep *p, const PrepClip *c, const char *path, FaceTrack *t, int64_t *n) {
    Err cached;
    char *text = NULL; /* read once: parsed, and its first line says how it was made */
    size_t len = 0;
    int stale = -1; /* a frame folder's frame count, where it is not the track's (frames added or removed) */
    int replaced = 0; /* the clip is not the one the track was made from (track_source_matches warned) */
    FrameListing listing = {0};
    if (fs_read_all(path, &text, &len, &cached) == 0 && face_track_parse(text, len, path, t, &cached) == 0) {
        stale = folder_frames_changed(c->path, t->frames, &listing);
        if (stale < 0 && !(replaced = !track_source_matches(p, c, text, &listing, n))) {
            if (!track_settings_match(p, text)) n[N_OTHER_SETTINGS]++;
            frame_listing_free(&listing);
            free(text);
            return 1;
        }
        if (stale >= 0)
            log_warn("computing clip %s again: its cached track has %d lines, its folder now %d frames", c->id,
                     t->frames, stale);
        face_track_free(t);
    }
    frame_listing_free(&listing);
    free(text);
    if (stale < 0 && !replaced)
        log_warn("computing clip %s again: its cached track is unreadable: %s", c->id, cached.msg);
    return 0;
}

int prep_track_comment(const Prep *p, const PrepClip *c, char *buf, size_t n, Err *err) {
    char identity[CLIP_IDENTITY_MAX];
    if (clip_identity(c->path, identity, err) != 0) return -1;
    snprintf(buf, n, "dfer prep (dlib 68-point landmarks, commit %s" TRACK_SETTINGS TRACK_SOURCE "%s: %s",
             dfer_git_commit, p->cfg.upsample, p->cfg.hold_frames, p->model_path, identity, c->path);
    return 0;
}
