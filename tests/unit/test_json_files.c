/* The JSON files runs write and read back: json_read_file names the file and the line of a syntax
 * error; json_lines_each walks metrics.jsonl, strict in the middle, optionally tolerant of a torn
 * last line; fs_append_line writes whole lines; fs_trim_torn_tail cuts what a killed writer left;
 * fs_create_atomic_exclusive never replaces a file;
 * fs_remove_atomic_leftovers removes the temporary files of killed atomic writes and nothing else; a process
 * ended by SIGINT, SIGTERM or SIGHUP mid-write removes its own (a second Ctrl-C under the training's handlers too). */
#include <cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/stop.h"
#include "io/json_file.h"
#include "testlib.h"

static const char *tmp_file(const char *name, const char *content) {
    static char path[8][600];
    static int i;
    i = (i + 1) % 8;
    snprintf(path[i], sizeof path[i], "%s/%s", test_tmpdir(), name);
    if (content) {
        Err err;
        EXPECT(fs_write_atomic(path[i], content, strlen(content), &err) == 0, "%s", err.msg);
    }
    return path[i];
}

static void expect_read_error(const char *name, const char *content, const char *want) {
    const char *path = tmp_file(name, content);
    cJSON *o = (cJSON *)1;
    Err err = {{0}};
    EXPECT(json_read_file(path, &o, &err) != 0, "%s: accepted", name);
    EXPECT(o == NULL, "%s: *out not cleared on error", name);
    EXPECT(strstr(err.msg, path) && strstr(err.msg, want), "%s: message \"%s\" lacks the path or \"%s\"", name, err.msg,
           want);
}

static void test_read_file(void) {
    Err err;
    cJSON *o = NULL;
    EXPECT(json_read_file(tmp_file("good.json", "{\n  \"uar\": 41.5,\n  \"status\": \"done\"\n}\n"), &o, &err) == 0,
           "%s", err.msg);
    EXPECT(json_get_number(o, "uar", 0) == 41.5 && !strcmp(json_get_string(o, "status", ""), "done"),
           "members read back");
    cJSON_Delete(o);
    expect_read_error("line3.json", "{\n  \"uar\": 41.5,\n  \"war\": ,\n}\n", "line 3");
    expect_read_error("trailing.json", "{\"a\": 1}\n{\"b\": 2}\n", "text after the JSON value (line 2)");
    expect_read_error("empty.json", "", "empty file");
    expect_read_error("blank.json", " \n\n", "malformed JSON");
    expect_read_error("absent.json", NULL, "cannot open");
}

typedef struct Seen {
    int n, lines[8];
    double values[8];
    int stop_at;
} Seen;

static int seen_line(const cJSON *o, int line_no, void *ctx, Err *err) {
    Seen *s = ctx;
    if (s->n < 8) s->lines[s->n] = line_no, s->values[s->n] = json_get_number(o, "v", -1);
    s->n++;
    if (s->stop_at && line_no == s->stop_at) return err_set(err, "stopped at line %d", line_no);
    return 0;
}

static void test_lines(void) {
    Err err = {{0}};
    Seen s = {0};
    const char *path = tmp_file("m.jsonl", "{\"v\":1}\n\n  \n{\"v\":2}\r\n{\"v\":3}");
    EXPECT(json_lines_each(path, JSON_LINES_STRICT, seen_line, &s, &err) == 0, "%s", err.msg);
    EXPECT(s.n == 3 && s.lines[0] == 1 && s.lines[1] == 4 && s.lines[2] == 5,
           "blank lines skipped, numbers kept (%d lines)", s.n);
    EXPECT(s.values[0] == 1 && s.values[1] == 2 && s.values[2] == 3, "values in order");

    /* a torn last line: an error when strict, skipped when tolerant */
    path = tmp_file("torn.jsonl", "{\"v\":1}\n{\"v\":2}\n{\"v\":3,\"lo");
    memset(&s, 0, sizeof s);
    EXPECT(json_lines_each(path, JSON_LINES_STRICT, seen_line, &s, &err) != 0, "strict: torn tail accepted");
    EXPECT(strstr(err.msg, "torn.jsonl:3:") && strstr(err.msg, "cut off"), "message: %s", err.msg);
    memset(&s, 0, sizeof s);
    EXPECT(json_lines_each(path, JSON_LINES_TOLERATE_TORN_TAIL, seen_line, &s, &err) == 0, "%s", err.msg);
    EXPECT(s.n == 2, "tolerant: the two whole lines (%d)", s.n);

    /* a malformed line with lines after it is an error either way, named */
    path = tmp_file("mid.jsonl", "{\"v\":1}\n{\"v\":2,\"lo{\"v\":3}\n{\"v\":4}\n");
    memset(&s, 0, sizeof s);
    EXPECT(json_lines_each(path, JSON_LINES_TOLERATE_TORN_TAIL, seen_line, &s, &err) != 0, "glued line accepted");
    EXPECT(strstr(err.msg, "mid.jsonl:2: not one JSON object"), "message: %s", err.msg);
    EXPECT(s.n == 1, "lines before it were delivered (%d)", s.n);
    path = tmp_file("two.jsonl", "{\"v\":1} {\"v\":2}\n");
    EXPECT(json_lines_each(path, JSON_LINES_STRICT, seen_line, &s, &err) != 0, "two objects on a line accepted");
    path = tmp_file("array.jsonl", "[1,2]\n");
    EXPECT(json_lines_each(path, JSON_LINES_STRICT, seen_line, &s, &err) != 0, "a non-object line accepted");

    /* fn's non-zero return stops the walk and is returned with its message */
    path = tmp_file("stop.jsonl", "{\"v\":1}\n{\"v\":2}\n{\"v\":3}\n");
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    EXPECT(json_lines_each(path, JSON_LINES_STRICT, seen_line, &s, &err) == -1 && s.n == 2, "stop at line 2 (%d lines)",
           s.n);
    EXPECT(!strcmp(err.msg, "stopped at line 2"), "fn's message kept: %s", err.msg);
}

static void test_append_and_trim(void) {
    Err err;
    char *text;
    size_t len, cut = 99;
    const char *path = tmp_file("log.jsonl", NULL);
    EXPECT(fs_trim_torn_tail(path, &cut, &err) == 0 && cut == 0, "an absent file is left alone");
    EXPECT(fs_append_line(path, "{\"v\":1}", &err) == 0, "%s", err.msg);
    EXPECT(fs_append_line(path, "{\"v\":2}", &err) == 0, "%s", err.msg);
    EXPECT(fs_trim_torn_tail(path, &cut, &err) == 0 && cut == 0, "a file ending in a newline is left alone (cut %zu)",
           cut);
    /* a writer killed mid-line */
    FILE *f = fopen(path, "a");
    EXPECT(f && fputs("{\"v\":3,\"lo", f) >= 0 && fclose(f) == 0, "append the torn line");
    EXPECT(fs_trim_torn_tail(path, &cut, &err) == 0 && cut == 10, "the torn line cut (%zu bytes)", cut);
    EXPECT(fs_append_line(path, "{\"v\":3}", &err) == 0, "%s", err.msg);
    EXPECT(fs_read_all(path, &text, &len, &err) == 0, "%s", err.msg);
    EXPECT(!strcmp(text, "{\"v\":1}\n{\"v\":2}\n{\"v\":3}\n"), "after the cut the file holds whole lines: [%s]", text);
    free(text);

    /* one long torn line with no newline at all, longer than the backwards read's chunk */
    path = tmp_file("long.jsonl", NULL);
    char *big = malloc(10001);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    f = fopen(path, "w");
    EXPECT(f && fputs(big, f) >= 0 && fclose(f) == 0, "write the long line");
    EXPECT(fs_trim_torn_tail(path, &cut, &err) == 0 && cut == 10000, "a file of one torn line emptied (%zu)", cut);
    /* a newline 6000 bytes back, beyond one chunk */
    f = fopen(path, "w");
    EXPECT(f && fputs("{}\n", f) >= 0 && fputs(big + 4000, f) >= 0 && fclose(f) == 0, "write");
    EXPECT(fs_trim_torn_tail(path, &cut, &err) == 0 && cut == 6000, "cut back to the newline two chunks away (%zu)",
           cut);
    EXPECT(fs_read_all(path, &text, &len, &err) == 0 && len == 3, "3 bytes left (%zu)", len);
    free(text);
    free(big);

    EXPECT(fs_append_line("/nonexistent-dir/x.jsonl", "{}", &err) != 0 && strstr(err.msg, "/nonexistent-dir/x.jsonl"),
           "an unwritable log is an error naming it: %s", err.msg);

    /* a line that only partly fits (a file-size limit here; a full disk alike) is taken back whole, so the next
     * line that fits does not follow half a line */
    path = tmp_file("limited.jsonl", NULL);
    EXPECT(fs_append_line(path, "{\"v\":1}", &err) == 0, "%s", err.msg);
    struct rlimit old_limit, limit;
    EXPECT(getrlimit(RLIMIT_FSIZE, &old_limit) == 0, "getrlimit");
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* else the write past the limit kills the test */
    limit = old_limit;
    limit.rlim_cur = 8 + 10; /* the first line and 10 bytes more */
    EXPECT(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit");
    EXPECT(fs_append_line(path, "{\"v\":2,\"long\":\"xxxxxxxxxxxxxxxxxxxx\"}", &err) != 0 &&
               strstr(err.msg, "short write"),
           "a line past the limit: %s", err.msg);
    EXPECT(setrlimit(RLIMIT_FSIZE, &old_limit) == 0, "restore the limit");
    signal(SIGXFSZ, old_handler);
    EXPECT(fs_append_line(path, "{\"v\":3}", &err) == 0, "%s", err.msg);
    EXPECT(fs_read_all(path, &text, &len, &err) == 0, "%s", err.msg);
    EXPECT(!strcmp(text, "{\"v\":1}\n{\"v\":3}\n"), "the part that fitted was taken back: [%s]", text);
    free(text);
}

/* What is at the path decides how it is written: a symbolic link's target is replaced (the link stays), a FIFO,
 * device or folder is refused and left as it was. */
static void test_atomic_special_paths(void) {
    char target[700], link[700], fifo[700];
    Err err;
    snprintf(target, sizeof target, "%s/target.json", test_tmpdir());
    snprintf(link, sizeof link, "%s/link.json", test_tmpdir());
    snprintf(fifo, sizeof fifo, "%s/pipe.json", test_tmpdir());
    EXPECT(fs_write_atomic(target, "old", 3, &err) == 0, "%s", err.msg);
    unlink(link);
    EXPECT(symlink(target, link) == 0, "symlink");
    EXPECT(fs_write_atomic(link, "new", 3, &err) == 0, "through a link: %s", err.msg);
    struct stat st;
    char *text = NULL;
    EXPECT(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is still a link");
    EXPECT(fs_read_all(target, &text, NULL, &err) == 0 && !strcmp(text, "new"), "its target has the new text");
    free(text);
    unlink(fifo);
    EXPECT(mkfifo(fifo, 0644) == 0, "mkfifo");
    EXPECT(fs_write_atomic(fifo, "x", 1, &err) != 0 && strstr(err.msg, "pipe.json is not a regular file (a FIFO)"),
           "a FIFO: %s", err.msg);
    EXPECT(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO is left as it was");
    /* a device: a null device of our own (the real /dev/null is not put at risk should the check regress); mknod
     * needs root, as CI has */
    char dev[700];
    snprintf(dev, sizeof dev, "%s/null.json", test_tmpdir());
    unlink(dev);
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        EXPECT(fs_write_atomic(dev, "x", 1, &err) != 0 && strstr(err.msg, "null.json is not a regular file (a device)"),
               "a device: %s", err.msg);
        EXPECT(lstat(dev, &st) == 0 && S_ISCHR(st.st_mode), "the device is left as it was");
        unlink(dev);
    } else {
        printf("note: no device checked (mknod needs root)\n");
    }
    EXPECT(fs_write_atomic(test_tmpdir(), "x", 1, &err) != 0 && strstr(err.msg, "(a folder)"), "a folder: %s", err.msg);
}

/* A file name of 240..255 bytes fits its folder but its temporary name (NAME.dfer-tmp.XXXXXX, 16 more) did not:
 * the write failed with "File name too long". It takes a shorter prefix now, and a killed write of it is still a
 * leftover fs_remove_atomic_leftovers finds. */
static void test_atomic_long_name(void) {
    char dir[4096], path[4096 + 300];
    snprintf(dir, sizeof dir, "%s/long-names", test_tmpdir());
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    for (int len = 238; len <= NAME_MAX; len++) {
        int n = snprintf(path, sizeof path, "%s/", dir);
        for (int i = 0; i < len - 5; i++) path[n++] = (char)('a' + i % 26);
        snprintf(path + n, sizeof path - (size_t)n, ".json");
        EXPECT(fs_write_atomic(path, "{}", 2, &err) == 0, "a name of %d bytes: %s", len, err.msg);
        char *back = NULL;
        EXPECT(fs_read_all(path, &back, NULL, &err) == 0 && !strcmp(back, "{}"), "a name of %d bytes read back", len);
        free(back);
    }
    AtomicFile f;
    EXPECT(atomic_open(&f, path, &err) == 0, "%s", err.msg);
    char names[512];
    EXPECT(fs_remove_atomic_leftovers(dir, names, sizeof names, &err) == 1 && !fs_exists(f.tmp_path),
           "the temporary file of a %d-byte name is a leftover: %s", NAME_MAX, names);
    atomic_abort(&f);
    /* one byte longer than a name may be: refused by the file system, and said */
    strcat(path, "x");
    EXPECT(fs_write_atomic(path, "{}", 2, &err) != 0 && strstr(err.msg, "File name too long"), "%s", err.msg);
}

/* An empty path (`--out ""`) is refused by name before anything is written: the atomic write made its temporary file
 * in the working folder and then failed with ": cannot rename temporary file into place", and fs_mkdirs read past the
 * path's NUL and said ": cannot create directory". */
static void test_empty_path(void) {
    Err err;
    char cwd[4096], dir[700];
    EXPECT(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(dir, sizeof dir, "%s/empty_path", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    EXPECT(chdir(dir) == 0, "chdir");
    EXPECT(fs_write_atomic("", "x", 1, &err) != 0 && strstr(err.msg, "an empty path: name the file to write"),
           "an empty file path: %s", err.msg);
    AtomicFile f;
    EXPECT(atomic_stream_open(&f, "", &err) == NULL && strstr(err.msg, "an empty path"), "a stream: %s", err.msg);
    EXPECT(fs_mkdirs("", &err) != 0 && strstr(err.msg, "an empty path: name the folder to create"),
           "an empty folder path: %s", err.msg);
    DIR *d = opendir(".");
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));) entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    EXPECT(entries == 0, "the working folder is left empty: %d entries", entries);
    EXPECT(chdir(cwd) == 0, "chdir back");
}

static void test_atomic_leftovers(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/leftovers", test_tmpdir());
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    static const char *const leftovers[] = {"checkpoint.safetensors.dfer-tmp.a1B2c3", "result.json.dfer-tmp.XXXXXX"};
    static const char *const kept[] = {"checkpoint.safetensors", "notes.tmp.txt",    "x.dfer-tmp.",
                                       "x.dfer-tmp.1234567",     ".dfer-tmp.123456", "a.tmp.123456"};
    char path[800];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, leftovers[i]);
        EXPECT(fs_write_atomic(path, "x", 1, &err) == 0, "%s", err.msg);
    }
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kept[i]);
        EXPECT(fs_write_atomic(path, "x", 1, &err) == 0, "%s", err.msg);
    }
    /* a real one: an atomic write opened and never committed, as a killed process leaves it */
    AtomicFile f;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    EXPECT(atomic_open(&f, path, &err) == 0, "%s", err.msg);
    char names[256];
    int n = fs_remove_atomic_leftovers(dir, names, sizeof names, &err);
    EXPECT(n == 3, "the two planted leftovers and the open write's temporary removed (%d: %s)", n, names);
    EXPECT(strstr(names, leftovers[0]) && strstr(names, leftovers[1]) && strstr(names, "model.safetensors.dfer-tmp."),
           "named: %s", names);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kept[i]);
        EXPECT(fs_exists(path), "%s is kept", kept[i]);
    }
    EXPECT(fs_remove_atomic_leftovers(dir, names, sizeof names, &err) == 0 && !names[0],
           "nothing left the second time");
    atomic_abort(&f);
    snprintf(path, sizeof path, "%s/absent", dir);
    EXPECT(fs_remove_atomic_leftovers(path, names, sizeof names, &err) == 0, "an absent folder has none");
}

/* How many temporary files of atomic writes (NAME.dfer-tmp.XXXXXX) dir holds. */
static int temporaries_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    EXPECT(d != NULL, "%s: cannot list", dir);
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ATOMIC_TMP_MARK) != NULL;
    if (d) closedir(d);
    return n;
}

static char g_rival_path[700];
static const char g_rival_text[] = "rival";

/* A write guard that is another process making the file first: it runs after this process's temporary file is written
 * and flushed, just before the link, so the create finds the name free at its first look and taken at the link. */
static int rival_creates_first(const char *path, Err *err) {
    (void)path;
    fs_set_write_guard(NULL); /* the rival's own write is not guarded */
    return fs_write_atomic(g_rival_path, g_rival_text, strlen(g_rival_text), err);
}

static int refuse_every_write(const char *path, Err *err) { return err_set(err, "%s: refused by the guard", path); }

static void expect_text(const char *path, const char *want, const char *what) {
    char *text = NULL;
    Err err;
    EXPECT(fs_read_all(path, &text, NULL, &err) == 0 && !strcmp(text, want), "%s: \"%s\", not \"%s\"", what,
           text ? text : err.msg, want);
    free(text);
}

/* fs_create_atomic_exclusive makes a file only where none is: it never replaces one, not even one made by another
 * process between its look and its link (two runs of different matrices taking a new results folder at once both
 * wrote matrix.json, the last rename winning), and leaves no temporary file behind on any path. */
static void test_create_exclusive(void) {
    char dir[600], path[700], dangling[700];
    Err err;
    snprintf(dir, sizeof dir, "%s/exclusive", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/matrix.json", dir);
    EXPECT(fs_create_atomic_exclusive(path, "first", 5, &err) == FS_CREATED, "absent: created (%s)", err.msg);
    expect_text(path, "first", "created");
    struct stat st;
    EXPECT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_nlink == 1,
           "created with mode 0644 and one name (its temporary one gone)");
    EXPECT(fs_create_atomic_exclusive(path, "second", 6, &err) == FS_ALREADY_EXISTS, "present: said to exist");
    expect_text(path, "first", "present: left as it was");
    EXPECT(temporaries_in(dir) == 0, "no temporary file left");

    /* made by another process after the first look: the link finds it, and it stays */
    snprintf(path, sizeof path, "%s/raced.json", dir);
    snprintf(g_rival_path, sizeof g_rival_path, "%s", path);
    fs_set_write_guard(rival_creates_first);
    int made = fs_create_atomic_exclusive(path, "loser", 5, &err);
    fs_set_write_guard(NULL);
    EXPECT(made == FS_ALREADY_EXISTS, "made by another process meanwhile: said to exist (%d: %s)", made, err.msg);
    expect_text(path, g_rival_text, "the other process's file");
    EXPECT(temporaries_in(dir) == 0, "no temporary file left after a lost race");

    /* the guard refuses: nothing made, nothing left */
    snprintf(path, sizeof path, "%s/guarded.json", dir);
    fs_set_write_guard(refuse_every_write);
    made = fs_create_atomic_exclusive(path, "x", 1, &err);
    fs_set_write_guard(NULL);
    EXPECT(made == -1 && strstr(err.msg, "refused by the guard"), "refused by the guard: %d (%s)", made, err.msg);
    EXPECT(!fs_exists(path) && temporaries_in(dir) == 0, "a refused create leaves neither the file nor a temporary");

    /* a symbolic link to nothing is something at the path: neither it nor its target is written */
    snprintf(dangling, sizeof dangling, "%s/dangling.json", dir);
    EXPECT(symlink("absent-target.json", dangling) == 0, "symlink");
    EXPECT(fs_create_atomic_exclusive(dangling, "x", 1, &err) == FS_ALREADY_EXISTS, "a dangling link: said to exist");
    snprintf(path, sizeof path, "%s/absent-target.json", dir);
    EXPECT(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode) && !fs_exists(path), "the link and its absent target kept");
    EXPECT(temporaries_in(dir) == 0, "no temporary file left");
}

/* In a child: opens two atomic writes in dir, commits the first, writes into the second, records the second's
 * temporary name in dir/tmpname, then sends itself `sig` `times` times (with the training's handlers first when
 * stop_handlers). Returns how the child ended, from waitpid. */
static int child_ends_mid_write(const char *dir, int sig, int times, int stop_handlers, char *tmp_name, size_t n) {
    pid_t pid = fork();
    if (pid == 0) {
        if (stop_handlers) stop_signals_install();
        Err err;
        AtomicFile done, open_write;
        char path[800];
        snprintf(path, sizeof path, "%s/committed.json", dir);
        if (atomic_open(&done, path, &err) || atomic_write(&done, "{}", 2, &err) || atomic_commit(&done, &err))
            _exit(10);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (atomic_open(&open_write, path, &err) || atomic_write(&open_write, "half", 4, &err)) _exit(11);
        snprintf(path, sizeof path, "%s/tmpname", dir);
        if (fs_write_atomic(path, open_write.tmp_path, strlen(open_write.tmp_path), &err)) _exit(12);
        for (int i = 0; i < times; i++) kill(getpid(), sig);
        _exit(stop_requested() == sig ? 0 : 13); /* survived every signal */
    }
    int status = 0;
    EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
    char path[800], *name = NULL;
    snprintf(path, sizeof path, "%s/tmpname", dir);
    Err err;
    EXPECT(fs_read_all(path, &name, NULL, &err) == 0, "%s", err.msg);
    snprintf(tmp_name, n, "%s", name ? name : "");
    free(name);
    return status;
}

/* Whole numbers read from files people can edit: in range and whole, else the fallback (the cast of 1e300 to int
 * is undefined: `dfer matrix --status` showed epoch -2147483648 for a damaged metrics.jsonl line). */
/* fs_link_atomic: a second name of a file, replacing the old one in one rename; linking the name again (already a name
 * of that file: rename does nothing then) leaves no temporary name; the guard's refusal makes and replaces nothing. */
static void test_link_atomic(void) {
    char dir[600], a[700], b[700], c[700];
    Err err;
    snprintf(dir, sizeof dir, "%s/links", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    snprintf(a, sizeof a, "%s/newest", dir);
    snprintf(b, sizeof b, "%s/previous", dir);
    snprintf(c, sizeof c, "%s/older", dir);
    EXPECT(fs_write_atomic(a, "new", 3, &err) == 0 && fs_write_atomic(b, "old", 3, &err) == 0 &&
               fs_write_atomic(c, "older", 5, &err) == 0,
           "%s", err.msg);
    EXPECT(fs_link_atomic(a, b, &err) == 0, "link over an older file: %s", err.msg);
    struct stat sa, sb;
    EXPECT(stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_nlink == 2,
           "previous is another name of newest (2 names)");
    expect_text(b, "new", "the link's contents");
    EXPECT(fs_link_atomic(a, b, &err) == 0, "linked again: %s", err.msg);
    EXPECT(stat(a, &sa) == 0 && sa.st_nlink == 2 && temporaries_in(dir) == 0,
           "linked again: still 2 names, no temporary name left (%d names)", (int)sa.st_nlink);
    fs_set_write_guard(refuse_every_write);
    int rc = fs_link_atomic(c, b, &err);
    fs_set_write_guard(NULL);
    EXPECT(rc == -1 && strstr(err.msg, "refused by the guard"), "refused by the guard: %d (%s)", rc, err.msg);
    expect_text(b, "new", "a refused link replaced nothing");
    snprintf(c, sizeof c, "%s/absent", dir);
    EXPECT(fs_link_atomic(c, b, &err) == -1 && strstr(err.msg, "absent"), "a missing file: %s", err.msg);
    expect_text(b, "new", "a failed link replaced nothing");
    EXPECT(temporaries_in(dir) == 0, "no temporary name left");
}

static void test_get_whole(void) {
    cJSON *o = cJSON_Parse("{\"a\": 7, \"big\": 1e300, \"half\": 2.5, \"neg\": -3, \"text\": \"7\", "
                           "\"edge\": 2147483647, \"past\": 2147483648}");
    long long v;
    EXPECT(json_get_whole(o, "a", 0, 10, -1, &v) == 0 && v == 7, "a: %lld", v);
    EXPECT(json_get_whole(o, "big", 0, 1e18, -1, &v) == -1 && v == -1, "1e300: %lld", v);
    EXPECT(json_get_whole(o, "half", 0, 10, -1, &v) == -1 && v == -1, "2.5: %lld", v);
    EXPECT(json_get_whole(o, "neg", 0, 10, -1, &v) == -1 && v == -1, "-3 below 0: %lld", v);
    EXPECT(json_get_whole(o, "text", 0, 10, -1, &v) == 0 && v == -1, "a string reads as absent: %lld", v);
    EXPECT(json_get_whole(o, "none", 0, 10, 5, &v) == 0 && v == 5, "absent: %lld", v);
    int big = json_get_int(o, "big", 0), past = json_get_int(o, "past", 9), edge = json_get_int(o, "edge", 0);
    EXPECT(big == 0 && past == 9 && edge == 2147483647, "json_get_int: %d %d %d", big, past, edge);
    cJSON_Delete(o);
}

static void test_atomic_signal(void) {
    static const struct { int sig, times, stop_handlers; const char *what; } cases[] = {
        {SIGTERM, 1, 0, "SIGTERM"},
        {SIGHUP, 1, 0, "SIGHUP"},
        {SIGINT, 1, 0, "Ctrl-C"},
        {SIGINT, 2, 1, "a second Ctrl-C under the training's handlers"},
    };
    for (int c = 0; c < 4; c++) {
        char dir[600], tmp_name[4200], path[800];
        snprintf(dir, sizeof dir, "%s/signal%d", test_tmpdir(), c);
        Err err;
        EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
        int status =
            child_ends_mid_write(dir, cases[c].sig, cases[c].times, cases[c].stop_handlers, tmp_name, sizeof tmp_name);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == cases[c].sig,
               "%s: the process ends by the signal (status %#x)", cases[c].what, status);
        EXPECT(strstr(tmp_name, "model.safetensors" ATOMIC_TMP_MARK) != NULL, "%s: temporary name recorded: %s",
               cases[c].what, tmp_name);
        EXPECT(!fs_exists(tmp_name), "%s: the half-written temporary %s is removed", cases[c].what, tmp_name);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        EXPECT(!fs_exists(path), "%s: the unfinished file never appears", cases[c].what);
        snprintf(path, sizeof path, "%s/committed.json", dir);
        EXPECT(fs_exists(path), "%s: the committed file stays", cases[c].what);
    }
    /* under the training's handlers one Ctrl-C only asks to stop: the write goes on, its temporary stays open */
    char dir[600], tmp_name[4200];
    snprintf(dir, sizeof dir, "%s/signal_once", test_tmpdir());
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    int status = child_ends_mid_write(dir, SIGINT, 1, 1, tmp_name, sizeof tmp_name);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "one Ctrl-C under the stop handlers is a request (status %#x)", status);
}

int main(void) {
    TEST_RUN(test_read_file);
    TEST_RUN(test_atomic_leftovers);
    TEST_RUN(test_create_exclusive);
    TEST_RUN(test_link_atomic);
    TEST_RUN(test_atomic_special_paths);
    TEST_RUN(test_empty_path);
    TEST_RUN(test_atomic_long_name);
    TEST_RUN(test_atomic_signal);
    TEST_RUN(test_get_whole);
    TEST_RUN(test_lines);
    TEST_RUN(test_append_and_trim);
    return test_summary();
}
