/* The mount table reader (src/core/mountinfo.c) that tells the job locks' takeover guard whether file locks in the
 * results folder reach other hosts: fixture lines in the format of /proc/PID/mountinfo (proc(5)), since NFS cannot be
 * mounted here. An NFS mount with nolock (local_lock=all) keeps its locks on each host, one with lockd
 * (local_lock=none) does not; mount points nest, one may be mounted over another, a bind mount names its file system,
 * and a space in a mount point reads \040. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/mountinfo.h"
#include "testlib.h"
#include "train/job_lock.h"

/* A node's table: the root, an NFSv3 mount made with -o nolock under a name with a space, a local disk mounted inside
 * it, NFSv4 with its lock manager, NFS with local_lock=posix and =flock, a bind mount of a folder of the NFSv4 mount,
 * /data mounted twice (the NFS one on top), and an older kernel's NFSv3 line that says nolock but no local_lock. */
static const char *const k_table =
    "22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/var/lib/docker/l/A:/var/lib/docker/l/B\n"
    "23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n"
    "41 22 0:46 / /mnt/nfs\\040data rw,relatime shared:21 - nfs fileserver:/export/data rw,vers=3,rsize=1048576,"
    "wsize=1048576,namlen=255,hard,nolock,proto=tcp,timeo=600,retrans=2,sec=sys,mountaddr=10.0.0.2,mountvers=3,"
    "mountport=20048,mountproto=udp,local_lock=all,addr=10.0.0.2\n"
    "42 41 8:17 / /mnt/nfs\\040data/local rw,relatime shared:22 - ext4 /dev/sdb1 rw,errors=remount-ro\n"
    "43 22 0:47 / /scratch rw,relatime shared:23 - nfs4 fileserver:/scratch rw,vers=4.2,rsize=1048576,"
    "wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.5,local_lock=none,"
    "addr=10.0.0.2\n"
    "44 22 0:48 / /home rw,relatime shared:24 - nfs fileserver:/home rw,vers=3,hard,proto=tcp,local_lock=posix,"
    "addr=10.0.0.2\n"
    "45 22 0:49 / /work rw,relatime shared:25 - nfs fileserver:/work rw,vers=3,hard,proto=tcp,local_lock=flock,"
    "addr=10.0.0.2\n"
    "46 22 0:47 /results /srv/results rw,relatime shared:23 - nfs4 fileserver:/scratch rw,vers=4.2,hard,"
    "proto=tcp,local_lock=none,addr=10.0.0.2\n"
    "47 22 8:18 / /data rw,relatime shared:26 - ext4 /dev/sdc1 rw\n"
    "48 47 0:50 / /data rw,relatime shared:27 master:3 - nfs fileserver:/data rw,vers=3,hard,local_lock=all,"
    "addr=10.0.0.2\n"
    "49 22 0:51 / /old rw,relatime - nfs oldserver:/old rw,vers=3,hard,nolock,proto=udp,addr=10.0.0.3\n";

/* The mount holding PATH in k_table and what it says of its locks ("" for none). */
static void expect_mount(const char *path, const char *mount_point, const char *type, const char *host_local) {
    MountInfo m;
    Err err = {{0}};
    int rc = mountinfo_find(k_table, "fixture", path, &m, &err);
    EXPECT(rc == 1, "%s: a mount is found (%d: %s)", path, rc, err.msg);
    if (rc != 1) return;
    const char *local = mount_host_local_locks(&m);
    EXPECT(!strcmp(m.mount_point, mount_point) && !strcmp(m.fs_type, type) && !strcmp(local ? local : "", host_local),
           "%s: on %s (%s), host-local locks \"%s\"; read %s (%s), \"%s\"", path, mount_point, type, host_local,
           m.mount_point, m.fs_type, local ? local : "");
}

static void test_find_mount(void) {
    expect_mount("/mnt/nfs data/results/job", "/mnt/nfs data", "nfs", "local_lock=all");
    expect_mount("/mnt/nfs data", "/mnt/nfs data", "nfs", "local_lock=all");
    expect_mount("/mnt/nfs data/local/results", "/mnt/nfs data/local", "ext4", ""); /* the nested mount */
    expect_mount("/mnt/nfs data/localx", "/mnt/nfs data", "nfs", "local_lock=all"); /* whole components */
    expect_mount("/mnt/nfs", "/", "overlay", "");
    expect_mount("/mnt/nfs\\040data/x", "/", "overlay", ""); /* the escape is the table's, not the path's */
    expect_mount("/scratch/u/results", "/scratch", "nfs4", ""); /* lockd: the OFD lock reaches the server */
    expect_mount("/home/u", "/home", "nfs", "local_lock=posix");
    expect_mount("/work/u", "/work", "nfs", ""); /* flock() locks local, fcntl ones not */
    expect_mount("/srv/results/j", "/srv/results", "nfs4", ""); /* bound from /scratch/results */
    expect_mount("/data/results", "/data", "nfs", "local_lock=all"); /* the later mount hides the ext4 one */
    expect_mount("/old/results", "/old", "nfs", "nolock");
    expect_mount("/tmp", "/", "overlay", "");
    MountInfo m;
    Err err = {{0}};
    EXPECT(mountinfo_find(k_table, "fixture", "/mnt/nfs data/x", &m, &err) == 1 &&
               !strcmp(m.source, "fileserver:/export/data"),
           "the source: %s", m.source);
    EXPECT(mountinfo_find("23 22 0:22 / /proc rw - proc proc rw\n", "fixture", "/tmp", &m, &err) == 0,
           "no mount holds /tmp");
    /* an option that only starts like nolock, and local_lock=none among others */
    MountInfo odd = {.fs_type = "nfs", .super_options = "rw,nolockd,local_lock=allx,local_lock=none"};
    EXPECT(mount_host_local_locks(&odd) == NULL, "whole options only");
    MountInfo ext4 = {.fs_type = "ext4", .super_options = "rw,nolock"};
    EXPECT(mount_host_local_locks(&ext4) == NULL, "not NFS: the file system's locks are its own");
}

static void test_malformed_table(void) {
    MountInfo m;
    Err err = {{0}};
    const char *text = "22 1 0:21 / / rw - ext4 /dev/vda rw\n23 22 0:22 / /proc rw proc proc rw\n";
    EXPECT(mountinfo_find(text, "/fixture/mountinfo", "/tmp", &m, &err) == -1 &&
               strstr(err.msg, "/fixture/mountinfo: line 2"),
           "a line without its separator is an error naming the file and line: %s", err.msg);
    EXPECT(mountinfo_find("22 1 0:21 / / rw - ext4\n", "f", "/", &m, &err) == -1, "fields after the separator");
}

/* mount_of_path through DFER_MOUNTINFO: a results folder not made yet, under this test's folder, which the fixture
 * puts on NFS with local_lock=all; the takeover guard there is the mkdir one, and says why. A fixture that cannot be
 * read is an error naming it. */
static void test_mount_of_path(void) {
    char real[PATH_MAX], escaped[2 * PATH_MAX], fixture[PATH_MAX + 32], text[4 * PATH_MAX], folder[PATH_MAX + 32];
    Err err = {{0}};
    EXPECT(realpath(test_tmpdir(), real) != NULL, "realpath %s", test_tmpdir());
    size_t k = 0; /* the mount point as the kernel writes it: a space as \040 */
    for (const char *p = real; *p && k + 5 < sizeof escaped; p++) {
        if (*p == ' ') k += (size_t)snprintf(escaped + k, 5, "\\040");
        else escaped[k++] = *p;
    }
    escaped[k] = '\0';
    snprintf(fixture, sizeof fixture, "%s/mountinfo", real);
    int len = snprintf(text, sizeof text,
                       "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
                       "41 22 0:46 / %s rw,relatime shared:21 - nfs fileserver:/export rw,vers=3,hard,nolock,"
                       "local_lock=all,addr=10.0.0.2\n",
                       escaped);
    EXPECT(fs_write_atomic(fixture, text, (size_t)len, &err) == 0, "%s", err.msg);
    snprintf(folder, sizeof folder, "%s/results/not-made-yet", real);
    setenv("DFER_MOUNTINFO", fixture, 1);
    MountInfo m;
    EXPECT(mount_of_path(folder, &m, &err) == 1 && !strcmp(m.mount_point, real) && mount_host_local_locks(&m),
           "%s: on the fixture's NFS mount %s (%s)", folder, m.mount_point, err.msg);
    char why[8600];
    int guard = job_lock_takeover_guard(folder, why, sizeof why, &err);
    EXPECT(guard == JOB_LOCK_GUARD_MKDIR && strstr(why, "local_lock=all") && strstr(why, "fileserver:/export"),
           "the takeover guard on that mount is the mkdir one (%d): %s", guard, why);
    setenv("DFER_MOUNTINFO", "/no/such/mountinfo", 1);
    EXPECT(mount_of_path(folder, &m, &err) == -1 && strstr(err.msg, "/no/such/mountinfo"),
           "a fixture that cannot be read: %s", err.msg);
    unsetenv("DFER_MOUNTINFO");
    EXPECT(mount_of_path(folder, &m, &err) == 1, "this host's own table: %s", err.msg);
}

int main(void) {
    TEST_RUN(test_find_mount);
    TEST_RUN(test_malformed_table);
    TEST_RUN(test_mount_of_path);
    return test_summary();
}
