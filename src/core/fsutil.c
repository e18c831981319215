#include "core/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

int fs_read_all(const char *path, char **data, size_t *len, Err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        errno = 0;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    /* the reason is kept before fclose can overwrite errno: a result.json that is a folder says "Is a directory" */
    int read_errno = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
    fclose(f); /* opened for reading only: nothing buffered to lose */
    if (read_errno != 0) {
        free(buf);
        return err_set(err, "%s: cannot read: %s", path, strerror(read_errno));
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return 0;
}

/* path opened for reading (close-on-exec) with its stat, or -1 (err) when it cannot be or is not a regular file. */
static int open_regular_file(const char *path, struct stat *st, Err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file", path);
    }
    return fd;
}

int fs_disk_open(DiskReader *r, const char *path, Err *err) {
    *r = (DiskReader){.fd = -1, .path = path};
    struct stat st;
    int fd = open_regular_file(path, &st, err);
    if (fd < 0) return -1;
    /* advice: its failure changes nothing but where the bytes come from */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    *r = (DiskReader){.fd = fd, .path = path, .size = (size_t)st.st_size};
    return 0;
}

int fs_disk_read(DiskReader *r, void *buf, size_t n, int *unreadable, Err *err) {
    *unreadable = 0;
    for (size_t got = 0; got < n;) {
        ssize_t k = read(r->fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = k < 0 ? errno : 0;
            *unreadable = e == EIO || k == 0;
            return k == 0 ? err_set(err, "%s: ended after %zu of its %zu bytes while read back", r->path, r->at + got,
                                    r->size)
                          : err_set(err, "%s: cannot read it back: %s", r->path, strerror(e));
        }
        got += (size_t)k;
    }
    r->at += n;
    return 0;
}

void fs_disk_close(DiskReader *r) {
    if (r->fd >= 0) close(r->fd); /* read only: nothing to lose */
    r->fd = -1;
}

/* The temporary files of the atomic writes in progress, so that a process ended by Ctrl-C, SIGTERM or SIGHUP
 * while writing (dfer init or export of an L/14 checkpoint takes seconds) leaves no NAME.dfer-tmp.XXXXXX of
 * hundreds of MB beside the file it was writing. A slot's path is written before its flag is set, and the
 * handler reads only slots whose flag is set; claiming and freeing slots take a lock (never the handler). */
enum { ATOMIC_TRACKED = 16 };
static char g_atomic_tmp[ATOMIC_TRACKED][sizeof(((AtomicFile *)0)->tmp_path)];
static volatile sig_atomic_t g_atomic_tmp_used[ATOMIC_TRACKED];
static pthread_mutex_t g_atomic_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_atomic_handlers_once = PTHREAD_ONCE_INIT;
static pid_t g_atomic_tmp_owner[ATOMIC_TRACKED]; /* the process that opened each (a forked child's exit leaves its
                                                    * parent's writes alone) */

/* A process that exits mid-write (a fatal error: dfer_fatal's exit while a checkpoint is written from the GPU a
 * piece at a time) leaves no temporary file either. */
static void atomic_unlink_at_exit(void) {
    pid_t self = getpid(); /* getpid and unlink: async-signal-safe, for the signal handler below */
    for (int i = 0; i < ATOMIC_TRACKED; i++)
        if (g_atomic_tmp_used[i] && g_atomic_tmp_owner[i] == self) unlink(g_atomic_tmp[i]);
}

void atomic_unlink_on_signal(int sig) {
    atomic_unlink_at_exit();
    /* then end as the signal would have: the parent (a shell, mpirun, Slurm) sees the signal, not an exit status */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Only where the signal would end the process: a handler already there (the training's stop flag, which lets
 * the write finish) is kept; an ignored signal stays ignored. And at exit. */
static void atomic_install_handlers(void) {
    atexit(atomic_unlink_at_exit);
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = atomic_unlink_on_signal;
        sigemptyset(&sa.sa_mask);
        for (int j = 0; j < 3; j++) sigaddset(&sa.sa_mask, sigs[j]); /* one cleanup at a time */
        (void)sigaction(sigs[i], &sa, NULL);
    }
}

/* Returns the slot, or -1 when all are taken (the file is then only left behind on a signal, as before). */
static int atomic_track(const char *tmp_path) {
    pthread_once(&g_atomic_handlers_once, atomic_install_handlers);
    int slot = -1;
    pthread_mutex_lock(&g_atomic_lock);
    for (int i = 0; i < ATOMIC_TRACKED && slot < 0; i++)
        if (!g_atomic_tmp_used[i]) {
            snprintf(g_atomic_tmp[i], sizeof g_atomic_tmp[i], "%s", tmp_path);
            g_atomic_tmp_owner[i] = getpid();
            g_atomic_tmp_used[i] = 1;
            slot = i;
        }
    pthread_mutex_unlock(&g_atomic_lock);
    return slot;
}

static void atomic_untrack(AtomicFile *f) {
    if (f->tracked_slot < 0) return;
    pthread_mutex_lock(&g_atomic_lock);
    g_atomic_tmp_used[f->tracked_slot] = 0;
    pthread_mutex_unlock(&g_atomic_lock);
    f->tracked_slot = -1;
}

int atomic_open(AtomicFile *f, const char *path, Err *err) {
    f->fd = -1;
    f->tracked_slot = -1;
    f->no_flush = 0;
    /* `--out ""` wrote the whole file as .dfer-tmp.XXXXXX in the working folder, then failed with
     * ": cannot rename temporary file into place" */
    if (!path[0]) return err_set(err, "an empty path: name the file to write");
    if (strlen(path) >= sizeof f->path) return err_set(err, "%s: path too long", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    /* the rename replaces what is at the path: a symbolic link's file is written where it points (the link stays);
     * a device, FIFO or folder is refused (as root, `--out /dev/null` replaced the system's /dev/null with a file) */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        char *target = realpath(path, NULL);
        if (!target)
            return err_set(err, "%s: a symbolic link whose target cannot be resolved (%s)", path, strerror(errno));
        int fits = strlen(target) < sizeof f->path;
        if (fits) snprintf(f->path, sizeof f->path, "%s", target);
        free(target);
        if (!fits) return err_set(err, "%s: the path it links to is too long", path);
    }
    if (lstat(f->path, &st) == 0 && !S_ISREG(st.st_mode))
        return err_set(err, "%s is not a regular file (a %s): give the path of a file to write", f->path,
                       S_ISDIR(st.st_mode)                          ? "folder"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device"
                       : S_ISFIFO(st.st_mode)                       ? "FIFO"
                                                                    : "socket or other special file");
    /* a unique name (O_EXCL, also over NFS): two hosts of one shared results folder may write the same
     * file at once (a matrix's tables at the end of two array tasks), and in containers their pids match */
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s" ATOMIC_TMP_MARK "XXXXXX", f->path);
    /* a name of 240..255 bytes fits its folder but not with the 16 bytes the mark adds (ENAMETOOLONG): the temporary
     * name takes a shorter prefix of it (bytes, not characters: any byte but '/' is a file name's) */
    const char *base = strrchr(f->path, '/');
    base = base ? base + 1 : f->path;
    size_t base_len = strlen(base), suffix_len = strlen(ATOMIC_TMP_MARK "XXXXXX");
    if (base_len + suffix_len > NAME_MAX) {
        size_t keep = (size_t)(base - f->path) + (NAME_MAX - suffix_len);
        snprintf(f->tmp_path, sizeof f->tmp_path, "%.*s" ATOMIC_TMP_MARK "XXXXXX", (int)keep, f->path);
    }
    /* Ctrl-C between creating the file and tracking it would leave it: the signals wait for both */
    sigset_t ending, before;
    sigemptyset(&ending);
    sigaddset(&ending, SIGINT);
    sigaddset(&ending, SIGTERM);
    sigaddset(&ending, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ending, &before);
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    int create_errno = errno;
    if (f->fd >= 0) f->tracked_slot = atomic_track(f->tmp_path);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (f->fd < 0)
        return err_set(err, "%s: cannot create temporary file %s: %s", path, f->tmp_path, strerror(create_errno));
    if (fchmod(f->fd, 0644) != 0) { /* mkostemp makes it 0600; results are read by the group */
        int e = errno;
        atomic_abort(f);
        return err_set(err, "%s: cannot set the mode of %s: %s", path, f->tmp_path, strerror(e));
    }
    return 0;
}

int atomic_write(AtomicFile *f, const void *data, size_t len, Err *err) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            atomic_abort(f);
            return err_set(err, "%s: write failed: %s", f->path, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int atomic_write_at(AtomicFile *f, uint64_t offset, const void *data, size_t len, Err *err) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = pwrite(f->fd, p, len, (off_t)offset);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            atomic_abort(f);
            return err_set(err, "%s: write failed: %s", f->path, strerror(e));
        }
        p += w, offset += (uint64_t)w;
        len -= (size_t)w;
    }
    return 0;
}

static _Atomic(FsWriteGuard) g_write_guard;

void fs_set_write_guard(FsWriteGuard guard) { atomic_store(&g_write_guard, guard); }

static int write_guard_allows(const char *path, Err *err) {
    FsWriteGuard guard = atomic_load(&g_write_guard);
    return !guard || guard(path, err) == 0;
}

/* Flushes and closes the temporary file, which is removed on failure. */
static int atomic_flush(AtomicFile *f, Err *err) {
    /* closed whether or not the flush worked (a failed fsync skipped the close and leaked the descriptor) */
    int synced = f->no_flush || fsync(f->fd) == 0, e = errno;
    int closed = close(f->fd) == 0;
    if (synced && !closed) e = errno;
    f->fd = -1;
    if (!synced || !closed) {
        atomic_abort(f);
        return err_set(err, "%s: cannot flush: %s", f->path, strerror(e));
    }
    return 0;
}

/* A new name in a folder (a rename, a link) is durable only once the folder is flushed (a node losing power right
 * after a checkpoint could otherwise come back with the previous one); a file system that cannot flush a folder
 * (EINVAL) has nothing to lose here. `placed` says how the file got its name, for the message. */
static int sync_folder_of(const char *path, const char *placed, Err *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return 0;
    int synced = fsync(dfd) == 0 || errno == EINVAL || errno == EROFS;
    int e = errno;
    close(dfd);
    if (!synced) return err_set(err, "%s: %s, but its folder cannot be flushed: %s", path, placed, strerror(e));
    return 0;
}

/* The flushed temporary file renamed over the path. */
static int atomic_rename_into_place(AtomicFile *f, Err *err) {
    if (rename(f->tmp_path, f->path) != 0) {
        int e = errno;
        unlink(f->tmp_path);
        atomic_untrack(f);
        return err_set(err, "%s: cannot rename temporary file into place: %s", f->path, strerror(e));
    }
    atomic_untrack(f); /* after the rename: a signal between them unlinks a name that is gone, harmlessly */
    return f->no_flush ? 0 : sync_folder_of(f->path, "renamed into place", err);
}

int atomic_commit(AtomicFile *f, Err *err) {
    if (atomic_flush(f, err) != 0) return -1;
    /* after the flush, the write's longest part: the guard's look is as late as it can be */
    if (!write_guard_allows(f->path, err)) {
        atomic_abort(f);
        return -1;
    }
    return atomic_rename_into_place(f, err);
}

/* link(2)'s errors that say the file system makes no hard links at all (FAT, some FUSE and network mounts), rather
 * than that this link cannot be made */
static int links_unsupported(int e) {
    return e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS;
}

int fs_create_atomic_exclusive(const char *path, const void *data, size_t len, Err *err) {
    /* anything at the path (a file, a folder, a symbolic link, even one to nothing) is there already, as link(2)
     * would find: no temporary file is made for nothing */
    struct stat st;
    if (path[0] && lstat(path, &st) == 0) return FS_ALREADY_EXISTS;
    AtomicFile f;
    if (atomic_open(&f, path, err) != 0 || atomic_write(&f, data, len, err) != 0 || atomic_flush(&f, err) != 0)
        return -1;
    if (!write_guard_allows(f.path, err)) {
        atomic_abort(&f);
        return -1;
    }
    /* the whole file gets its name at once, as with a rename, but link(2) never replaces one: made by another
     * process since the look above, it stays, and this one is told so (EEXIST) */
    int linked = link(f.tmp_path, f.path) == 0, link_errno = errno;
    struct stat st_tmp, st_path;
    if (!linked && link_errno == EEXIST && stat(f.tmp_path, &st_tmp) == 0 && stat(f.path, &st_path) == 0 &&
        st_tmp.st_dev == st_path.st_dev && st_tmp.st_ino == st_path.st_ino)
        linked = 1; /* NFS: the server made the link, its answer was lost, and the client's retry found the name taken
                     * by this very file */
    if (!linked && link_errno == EEXIST) {
        atomic_abort(&f);
        return FS_ALREADY_EXISTS;
    }
    if (!linked && links_unsupported(link_errno)) {
        /* no exclusive create there: the rename replaces a file another process made since the look above (the
         * last one wins), as every atomic write does */
        log_warn("%s: its file system makes no hard links (%s), so it cannot be created exclusively: renamed into "
                 "place instead, over a file another process may have made meanwhile",
                 f.path, strerror(link_errno));
        return atomic_rename_into_place(&f, err);
    }
    if (!linked) {
        atomic_abort(&f);
        return err_set(err, "%s: cannot link temporary file %s into place: %s", f.path, f.tmp_path,
                       strerror(link_errno));
    }
    atomic_abort(&f); /* the temporary name goes; the file stays under the new one */
    return sync_folder_of(f.path, "created", err);
}

void atomic_abort(AtomicFile *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    unlink(f->tmp_path);
    atomic_untrack(f);
}

FILE *atomic_stream_open(AtomicFile *f, const char *path, Err *err) {
    if (atomic_open(f, path, err) != 0) return NULL;
    int stream_fd = dup(f->fd); /* the stream's own descriptor: atomic_commit flushes and closes f->fd itself */
    FILE *stream = stream_fd >= 0 ? fdopen(stream_fd, "w") : NULL;
    if (!stream) {
        int open_errno = errno;
        if (stream_fd >= 0) close(stream_fd);
        atomic_abort(f);
        err_set(err, "%s: cannot open %s for writing: %s", path, f->tmp_path, strerror(open_errno));
        return NULL;
    }
    errno = 0;
    return stream;
}

int atomic_stream_commit(AtomicFile *f, FILE *stream, size_t *bytes, Err *err) {
    int write_errno = 0;
    off_t length = -1;
    /* a failed write left its errno (ENOSPC, EFBIG); a stream error without one is still an I/O error */
    if (fflush(stream) != 0 || ferror(stream)) write_errno = errno != 0 ? errno : EIO;
    else if ((length = ftello(stream)) < 0) write_errno = errno;
    if (fclose(stream) != 0 && write_errno == 0) write_errno = errno;
    if (write_errno != 0) {
        atomic_abort(f);
        return err_set(err, "%s: cannot write: %s", f->path, strerror(write_errno));
    }
    if (bytes) *bytes = (size_t)length;
    return atomic_commit(f, err);
}

int fs_remove_atomic_leftovers(const char *dir, char *names, size_t n, Err *err) {
    if (n) names[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : err_set(err, "%s: cannot list: %s", dir, strerror(errno));
    int removed = 0, rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        /* atomic_open's NAME.dfer-tmp.XXXXXX, and nothing else */
        const char *tmp = strstr(e->d_name, ATOMIC_TMP_MARK);
        if (!tmp || tmp == e->d_name || strlen(tmp) != strlen(ATOMIC_TMP_MARK) + 6) continue;
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            rc = err_set(err, "%s: cannot remove a leftover temporary file: %s", path, strerror(errno));
        else if (++removed, n) {
            size_t used = strlen(names);
            snprintf(names + used, n - used, "%s%s", removed > 1 ? ", " : "", e->d_name);
        }
    }
    closedir(d);
    return rc ? rc : removed;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) != 0 ? errno : 0;
}

int fs_remove_tree(const char *path, Err *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : err_set(err, "%s: cannot stat: %s", path, strerror(errno));
    /* FTW_PHYS: a symbolic link is removed, never followed; FTW_DEPTH: a folder after its contents */
    int e = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (e != 0) return err_set(err, "%s: cannot remove: %s", path, strerror(e > 0 ? e : errno));
    return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, Err *err) {
    AtomicFile f;
    if (atomic_open(&f, path, err) != 0) return -1;
    if (atomic_write(&f, data, len, err) != 0) return -1;
    return atomic_commit(&f, err);
}

int fs_link_atomic(const char *existing, const char *path, Err *err) {
    if (!write_guard_allows(path, err)) return -1;
    char tmp[sizeof(((AtomicFile *)0)->tmp_path)];
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    int linked = 0, e = 0;
    for (unsigned attempt = 0; attempt < 64 && !linked; attempt++) { /* a name no other file has */
        unsigned long mix = (unsigned long)getpid() * 2654435761ul + attempt * 40503ul + (unsigned long)time(NULL);
        char suffix[7];
        for (int i = 0; i < 6; i++, mix /= 36) suffix[i] = letters[mix % 36];
        suffix[6] = '\0';
        if (snprintf(tmp, sizeof tmp, "%s" ATOMIC_TMP_MARK "%s", path, suffix) >= (int)sizeof tmp)
            return err_set(err, "%s: the path is too long for a temporary name", path);
        linked = link(existing, tmp) == 0;
        e = errno;
        if (!linked && e != EEXIST) break;
    }
    if (!linked) return err_set(err, "%s: cannot link %s there: %s", path, existing, strerror(e));
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return err_set(err, "%s: cannot rename the link %s into place: %s", path, tmp, strerror(e));
    }
    unlink(tmp); /* path was already a name of the same file: rename did nothing and left tmp (POSIX) */
    return 0;
}

int fs_append_line(const char *path, const char *line, Err *err) {
    if (!write_guard_allows(path, err)) return -1;
    size_t n = strlen(line);
    char *buf = xmalloc(n + 1);
    memcpy(buf, line, n);
    buf[n] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0) rc = err_set(err, "%s: cannot open to append: %s", path, strerror(errno));
    else {
        ssize_t w;
        do w = write(fd, buf, n + 1);
        while (w < 0 && errno == EINTR);
        if (w >= 0 && w != (ssize_t)(n + 1)) {
            /* a part of the line went in (disk full, quota, file-size limit): take it back, or the next line
             * that fits would follow half a line mid-file. Only when nothing was appended after it. */
            off_t at = lseek(fd, 0, SEEK_CUR);
            struct stat st;
            if (at >= w && fstat(fd, &st) == 0 && st.st_size == at) (void)!ftruncate(fd, at - w);
        }
        if (w != (ssize_t)(n + 1))
            rc = err_set(err, "%s: cannot append a line: %s", path,
                         w < 0 ? strerror(errno) : "short write (disk full?)");
        if (close(fd) != 0 && rc == 0) rc = err_set(err, "%s: cannot close: %s", path, strerror(errno));
    }
    free(buf);
    return rc;
}

int fs_trim_torn_tail(const char *path, size_t *removed, Err *err) {
    *removed = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = err_set(err, "%s: cannot stat: %s", path, strerror(errno));
    off_t end = rc == 0 ? st.st_size : 0, keep = end; /* keep: the length up to and with the last newline */
    char chunk[4096];
    while (rc == 0 && keep > 0) {
        off_t from = keep > (off_t)sizeof chunk ? keep - (off_t)sizeof chunk : 0;
        ssize_t got = pread(fd, chunk, (size_t)(keep - from), from);
        if (got != keep - from) {
            rc = err_set(err, "%s: cannot read: %s", path, got < 0 ? strerror(errno) : "short read");
            break;
        }
        const char *nl = NULL;
        for (ssize_t i = got - 1; i >= 0 && !nl; i--)
            if (chunk[i] == '\n') nl = chunk + i;
        if (nl) {
            keep = from + (nl - chunk) + 1;
            break;
        }
        keep = from;
    }
    if (rc == 0 && keep < end) {
        if (ftruncate(fd, keep) != 0) rc = err_set(err, "%s: cannot cut the torn last line: %s", path, strerror(errno));
        else *removed = (size_t)(end - keep);
    }
    close(fd);
    return rc;
}

int fs_mkdirs(const char *path, Err *err) {
    char buf[4096];
    /* the loop below starts at buf[1], past an empty path's NUL (an uninitialised read; the error named no folder) */
    if (!path[0]) return err_set(err, "an empty path: name the folder to create");
    if (strlen(path) >= sizeof buf) return err_set(err, "%s: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
    if (!fs_is_dir(buf)) return err_set(err, "%s: exists and is not a directory", buf);
    return 0;
}

int fs_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int fs_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_newer(const char *path, const char *than) {
    struct stat a, b;
    if (stat(path, &a) != 0 || stat(than, &b) != 0) return 0;
    return a.st_mtim.tv_sec > b.st_mtim.tv_sec ||
           (a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec > b.st_mtim.tv_nsec);
}

int fs_map(const char *path, MappedFile *m, Err *err) {
    m->data = NULL;
    m->size = 0;
    struct stat st;
    int fd = open_regular_file(path, &st, err);
    if (fd < 0) return -1;
    if (st.st_size == 0) {
        close(fd);
        m->data = (const uint8_t *)"";
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return err_set(err, "%s: cannot map: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    return 0;
}

void fs_unmap(MappedFile *m) {
    if (m->size) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int fs_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

double proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t n = strlen(field);
    double kib = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') kib = atof(line + n + 1); /* "VmHWM:     1234 kB" */
    fclose(f);
    return kib * 1024.0;
}
