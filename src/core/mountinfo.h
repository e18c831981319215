/* Which mount holds a path, from /proc/self/mountinfo, and whether file locks taken there are seen by other hosts.
 *
 * An NFS mount made with -o nolock (Linux then sets local_lock=all) or local_lock=posix keeps POSIX locks, OFD locks
 * among them, in this host's kernel only: fcntl succeeds, yet a run on another node takes "the same" lock at once.
 * The job locks' takeover guard (train/job_lock.c) asks here to use its mkdir guard on such mounts instead. */
#ifndef DFER_CORE_MOUNTINFO_H
#define DFER_CORE_MOUNTINFO_H

#include "core/check.h"

typedef struct MountInfo {
    char mount_point[4096];   /* unescaped (mountinfo writes a space as \040) */
    char fs_type[64];         /* "nfs", "nfs4", "ext4", "overlay", ... */
    char source[1024];        /* "server:/export", "/dev/sda1" */
    char super_options[4096]; /* the file system's own options: NFS's vers=, local_lock=, nolock */
} MountInfo;

/* Finds in TEXT, lines in the format of /proc/PID/mountinfo (proc(5)), the mount that holds PATH, an absolute path
 * with its links resolved (realpath): the longest mount point that is PATH or a folder above it, whole components
 * ("/mnt/a" does not hold "/mnt/ab"); of two mounts on one point the later line, mounted over the earlier and
 * hiding it.
 * A bind mount's line names the mounted file system's type and options, so a folder bound from NFS reads as NFS.
 * 1 found (*m), 0 no line holds PATH, -1 a malformed line (err names NAME, the text's file, and the line). */
int mountinfo_find(const char *text, const char *name, const char *path, MountInfo *m, Err *err);

/* When POSIX and OFD locks on mount M are kept by this host alone, the option that says so: NFS (nfs, nfs4) whose
 * options hold local_lock=all, local_lock=posix or nolock (an older kernel's NFSv3 line may show nolock alone). NULL
 * otherwise: local_lock=flock keeps only flock() locks local (fcntl locks still reach the server's lock manager),
 * local_lock=none (lockd, NFSv4) keeps none, and every other file system's locks are its own business. */
const char *mount_host_local_locks(const MountInfo *m);

/* The mount holding PATH (a folder not made yet: the nearest one above it that exists), from /proc/self/mountinfo.
 * 1 found, 0 no mount table to read (no /proc), -1 error (err names the file). Tests only: the environment variable
 * DFER_MOUNTINFO names a file read instead, since a test cannot mount NFS to show the real one. */
int mount_of_path(const char *path, MountInfo *m, Err *err);

#endif
