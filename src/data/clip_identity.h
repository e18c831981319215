/* What a clip is made of, in one line: a face track (dfer prep's OUT/landmarks/<id>.txt) records it, so that a
 * clip replaced under the same id (another copy of the dataset, re-encoded videos, another video with the same
 * name) is told from the clip the track was made of, and a dataset that was only moved or copied is not.
 *
 * The identity is drawn from the clip's bytes, not from its path or its files' times: a moved dataset keeps its
 * bytes but not its absolute paths, and a plain `cp -r` or an rsync without -t keeps its bytes but not its mtimes;
 * both must reuse their tracks. All of a dataset's bytes would take a pass over tens of GB on every rerun of prep,
 * so the identity reads a fixed few:
 *   - a video file: its size, and FNV-1a over its first and last CLIP_IDENTITY_END_BYTES bytes (a re-encoding
 *     changes its size and its header, another video its every byte);
 *   - a frame folder: its frame files' names and sizes in clip order (frame_folder_list), and the first and last
 *     CLIP_IDENTITY_END_BYTES of its first and last frame files (re-extracted frames differ in size, and a
 *     different clip in its pictures).
 * Written as "video file of N bytes, fnv1a HEX" or "F frame files of N bytes, fnv1a HEX": text without ": " (a
 * track's first line ends in ": <clip path>"). */
#ifndef DFER_DATA_CLIP_IDENTITY_H
#define DFER_DATA_CLIP_IDENTITY_H

#include <stddef.h>

#include "core/check.h"

#define CLIP_IDENTITY_END_BYTES 65536
#define CLIP_IDENTITY_MAX 96 /* bytes the text takes, its NUL included */

/* The identity of the clip at path (a frame folder or a video file) into out[CLIP_IDENTITY_MAX]; errors name the
 * file that could not be read. */
int clip_identity(const char *path, char out[CLIP_IDENTITY_MAX], Err *err);
/* The identity of the frame folder dir from its frame files as frame_folder_list (data/video.h) listed them
 * (names[count], in clip order): clip_identity's text for the folder, without listing it again (dfer prep lists a
 * cached clip's folder once for its frame count and its identity: on a network file system each listing costs). */
int clip_identity_of_frames(const char *dir, char *const *names, int count, char out[CLIP_IDENTITY_MAX], Err *err);

#endif
