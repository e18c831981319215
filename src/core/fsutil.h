/* File helpers: whole-file reads, atomic writes (temporary file + fsync +
 * rename, so a reader never sees a half-written file), directory creation. */
#ifndef DFER_CORE_FSUTIL_H
#define DFER_CORE_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/check.h"

/* Reads a whole file into a NUL-terminated buffer (the NUL is not counted in *len). */
int fs_read_all(const char *path, char **data, size_t *len, Err *err);
/* A file just written, read back to check it, in pieces of the caller's size (a checkpoint of several GiB needs
 * no buffer of its size): its cached pages are dropped first (advice, which some systems, network file systems
 * among them, may not take), so that the bytes come from the disk rather than from what the write left in memory,
 * and read with read(2) (not mapped: a disk's read error is an error here, not a SIGBUS). */
typedef struct DiskReader {
    int fd;
    const char *path;
    size_t size; /* the file's, at open */
    size_t at;   /* bytes read so far */
} DiskReader;
int fs_disk_open(DiskReader *r, const char *path, Err *err);
/* The next n bytes into buf. *unreadable = 1 when the disk failed (EIO) or the file ended before them: its bytes
 * cannot be had; 0 for any other failure. */
int fs_disk_read(DiskReader *r, void *buf, size_t n, int *unreadable, Err *err);
void fs_disk_close(DiskReader *r);

/* Atomic write of a buffer. */
int fs_write_atomic(const char *path, const void *data, size_t len, Err *err);
/* path becomes another name of the file `existing` (a hard link, no copy), replacing what path was in one rename,
 * once the write guard allows it; the link is made under a temporary name (NAME.dfer-tmp.XXXXXX, which
 * fs_remove_atomic_leftovers removes) first. -1 with err set when the file system has no hard links, among others. */
int fs_link_atomic(const char *existing, const char *path, Err *err);

/* Exclusive create of a whole file: written to a temporary file, flushed, then hard-linked to `path` (link(2) never
 * replaces a file), so a reader never sees it half-written and, of two processes creating it at once, one alone makes
 * it. FS_CREATED (0): made; FS_ALREADY_EXISTS: something was at the path already or came there meanwhile (left as it
 * is); -1 (err) on error. The temporary file is gone on every path, and the write guard (below) is asked before the
 * link. A file system without hard links gets a rename instead, with a warning: there the last writer wins. */
enum { FS_CREATED = 0, FS_ALREADY_EXISTS = 1 };
int fs_create_atomic_exclusive(const char *path, const void *data, size_t len, Err *err);

/* Atomic write in pieces: open a temporary file beside `path`, write, then
 * commit (fsync + rename) or abort (unlink). */
typedef struct AtomicFile {
    char path[4096];
    char tmp_path[4096 + 32];
    int fd;
    int tracked_slot; /* its place among the temporary files a signal removes, or -1 */
    int no_flush;     /* set after atomic_open for files that are cheap to make again (synthetic frames: hundreds of
                       * thousands of them): the commit renames without fsync of the file and its folder, so a reader
                       * still never sees half a file, but a power loss may lose the newest ones */
} AtomicFile;
/* A check that every atomic commit and line append makes just before the file goes into place (the rename; the
 * append's write): 0 lets it go on; -1 (err set) refuses, and the temporary file is removed, or the line not written.
 * The job lock (train/job_lock.c) installs one while it holds a job folder: a run frozen inside a write (between the
 * temporary file and its rename) whose lock another run took over meanwhile would otherwise, when it wakes, rename a
 * stale checkpoint over the new holder's. One per process (NULL: none); install and remove it from the main thread. */
typedef int (*FsWriteGuard)(const char *path, Err *err);
void fs_set_write_guard(FsWriteGuard guard);

int atomic_open(AtomicFile *f, const char *path, Err *err);
int atomic_write(AtomicFile *f, const void *data, size_t len, Err *err);
/* Bytes at an offset of what was written already (a header whose digest is known once the rest is written), without
 * moving where atomic_write goes on. */
int atomic_write_at(AtomicFile *f, uint64_t offset, const void *data, size_t len, Err *err);
int atomic_commit(AtomicFile *f, Err *err);
void atomic_abort(AtomicFile *f);
/* The same through stdio, for text composed piece by piece (tables, a report page, a CSV): the stream writes into the
 * temporary file (NULL on error, err set); atomic_stream_commit flushes and closes it, and renames the file into place
 * only when every write reached it (a full disk, a file-size limit: an error naming the file, nothing replaced);
 * *bytes (may be NULL): the file's length. Either way the stream is closed and the temporary file gone or renamed.
 * Text composed in memory first (open_memstream) could be cut without a word: a buffer that cannot grow drops the
 * rest, and glibc sets no error on the stream. */
FILE *atomic_stream_open(AtomicFile *f, const char *path, Err *err);
int atomic_stream_commit(AtomicFile *f, FILE *stream, size_t *bytes, Err *err);
/* The temporary files of atomic writes still open are removed when SIGINT, SIGTERM or SIGHUP ends the process:
 * atomic_open installs this handler for those of the three that would end it (not over a handler already there).
 * A program with handlers of its own that ends on a signal later installs it then (stop.c: a second Ctrl-C). */
void atomic_unlink_on_signal(int sig);

/* The temporary file of an atomic write of NAME: NAME.dfer-tmp.XXXXXX (six random characters). */
#define ATOMIC_TMP_MARK ".dfer-tmp."

/* Removes the temporary files atomic writes in dir left when their process was killed mid-write
 * (a checkpoint's: hundreds of MB each). Only for a folder this process owns (a run's,
 * under its job lock). names: the removed files, ", "-separated (truncated to n). Returns how many. */
int fs_remove_atomic_leftovers(const char *dir, char *names, size_t n, Err *err);

/* Line logs (metrics.jsonl): one line and its newline appended with a single write(2) on O_APPEND,
 * so a line is never split by another writer; a short write (disk full) is an error. */
int fs_append_line(const char *path, const char *line, Err *err);

/* Cuts a last line that has no newline (a writer killed mid-line) so the next append starts a line
 * of its own; *removed: the bytes cut (0 when the file ends in a newline, is empty or absent). */
int fs_trim_torn_tail(const char *path, size_t *removed, Err *err);

/* rm -r: a file, or a folder and everything in it (symbolic links removed, not followed); absent is no error. */
int fs_remove_tree(const char *path, Err *err);

/* A size field of this process's /proc/self/status ("VmHWM", "VmSize"), in bytes; 0 when it cannot be read. */
double proc_status_bytes(const char *field);

/* mkdir -p; returns -1 with a message on failure. */
int fs_mkdirs(const char *path, Err *err);
/* Whether a and b name the same existing file (device and inode: through links, `.` and `..` alike). */
int fs_same_file(const char *a, const char *b);
int fs_exists(const char *path);
int fs_is_dir(const char *path);
/* 1 when both files exist and path was modified after than (nanosecond times), else 0. */
int fs_newer(const char *path, const char *than);

/* Read-only memory map of a whole file. */
typedef struct MappedFile {
    const uint8_t *data;
    size_t size;
} MappedFile;
int fs_map(const char *path, MappedFile *m, Err *err);
void fs_unmap(MappedFile *m);

#endif
