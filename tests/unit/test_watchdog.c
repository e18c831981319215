/* The hang watchdog (src/core/watchdog.c): a process whose work stops marking progress for the limit
 * is ended with DFER_EXIT_HUNG and says which phase it waited in; marks keep it alive, a stopped
 * watchdog ends nothing, and the limit grows with the longest gap between marks; with several watched
 * threads, the one that stopped marking is found while the others go on. The cases that end a
 * process run in a forked child. The whole-run case (a 2-rank dfer train with one rank stopped) is
 * tests/train_hang.sh. */
#include <cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/watchdog.h"
#include "testlib.h"

static void sleep_s(double s) {
    struct timespec t = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* Starts body in a child whose stderr goes to err_path; returns its pid. */
static pid_t spawn_child(void (*body)(void), const char *err_path) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(90);
        body();
        _exit(0);
    }
    return pid;
}

/* Runs body in a child whose stderr goes to err_path; returns its wait status. */
static int in_child(void (*body)(void), const char *err_path) {
    pid_t pid = spawn_child(body, err_path);
    int status = 0;
    EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid, "fork and wait");
    return status;
}

static void read_text(const char *path, char *buf, size_t n) {
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = 0;
    fclose(f);
}

/* A watchdog with the training run's message (the spec's defaults). */
static int start(double floor_seconds, const char *what, const char *record) {
    return watchdog_start(&(WatchdogSpec){.floor_seconds = floor_seconds, .what = what, .record_path = record});
}

static char g_record[700]; /* the hang record the firing child appends to */

/* Runs body in a child with its stderr in NAME.err and g_record set to NAME.jsonl (in the test's folder);
 * returns its wait status, and what it wrote on stderr in text[n]. */
static int run_named_child(void (*body)(void), const char *name, char *text, size_t n) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s.err", test_tmpdir(), name);
    snprintf(g_record, sizeof g_record, "%s/%s.jsonl", test_tmpdir(), name);
    int status = in_child(body, path);
    read_text(path, text, n);
    return status;
}

static void stalls_after_a_mark(void) {
    if (start(0.5, "training test into /nowhere", g_record) != 0) _exit(91);
    watchdog_mark("epoch %d step %d: the gradient all-reduce", 2, 7);
    sleep_s(30); /* a hang: the watchdog must end this long before */
}

static void test_fires_naming_the_phase(void) {
    char text[4096];
    int status = run_named_child(stalls_after_a_mark, "fires", text, sizeof text);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == DFER_EXIT_HUNG, "a stalled process exits %d (status 0x%x)",
           DFER_EXIT_HUNG, status);
    const char *for_ = strstr(text, "no progress for ");
    double idle = -1;
    EXPECT(for_ && sscanf(for_, "no progress for %lf s", &idle) == 1 && idle >= 0.5 && idle < 30,
           "the message says how long (0.5 s or a little more): %s", text);
    EXPECT(strstr(text, "in epoch 2 step 7: the gradient all-reduce (training test into /nowhere)") != NULL,
           "the message names the phase and the work: %s", text);
    EXPECT(strstr(text, "status 4") && strstr(text, "continues from the last checkpoint"), "and what to do: %s", text);
    /* the record for --status and the next resume: one JSON line */
    read_text(g_record, text, sizeof text);
    EXPECT(strchr(text, '\n') == text + strlen(text) - 1, "one line in %s: %s", g_record, text);
    cJSON *o = cJSON_Parse(text);
    EXPECT(o != NULL, "the record is JSON: %s", text);
    if (!o) return;
    const cJSON *type = cJSON_GetObjectItem(o, "type"), *phase = cJSON_GetObjectItem(o, "phase"),
                *host = cJSON_GetObjectItem(o, "host"), *limit_s = cJSON_GetObjectItem(o, "limit_s"),
                *idle_s = cJSON_GetObjectItem(o, "idle_s"), *stamp = cJSON_GetObjectItem(o, "time");
    EXPECT(cJSON_IsString(type) && !strcmp(type->valuestring, "hang"), "type hang");
    EXPECT(cJSON_IsString(phase) && !strcmp(phase->valuestring, "epoch 2 step 7: the gradient all-reduce"),
           "its phase");
    EXPECT(cJSON_IsString(host) && host->valuestring[0], "its host");
    EXPECT(cJSON_IsNumber(limit_s) && limit_s->valuedouble == 0.5, "its limit");
    EXPECT(cJSON_IsNumber(idle_s) && idle_s->valuedouble >= 0.5, "how long it waited");
    EXPECT(cJSON_IsString(stamp) && strlen(stamp->valuestring) == 20 && stamp->valuestring[19] == 'Z', "when (UTC)");
    cJSON_Delete(o);
}

static void marks_then_stops(void) {
    if (start(1.0, "marking", NULL) != 0) _exit(91);
    for (int i = 0; i < 15; i++) { /* 1.5 s of work, a mark every 0.1 s */
        watchdog_mark("step %d", i);
        sleep_s(0.1);
    }
    watchdog_stop();
    sleep_s(1.5); /* past the limit, stopped: nothing may fire */
}

static void test_marks_and_stop_keep_it_quiet(void) {
    char path[700], text[4096];
    snprintf(path, sizeof path, "%s/quiet.err", test_tmpdir());
    int status = in_child(marks_then_stops, path);
    read_text(path, text, sizeof text);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "marked work and a stopped watchdog end normally (0x%x): %s",
           status, text);
    EXPECT(text[0] == 0, "nothing on stderr: %s", text);
}

/* dfer prep's workers: slot 0 (the main thread) marks every 0.1 s, worker slot 3 finishes two clips and
 * then stays in its third, worker slot 5 rests after one: the watchdog must fire on slot 3's clip, with
 * the prep's own advice, and record the clip id as the item. */
static void worker_stuck_in_a_clip(void) {
    WatchdogSpec spec = {.floor_seconds = 0.6, .what = "dfer prep of /data", .record_path = g_record,
                         .limit_setting = "--hang-minutes", .gap_name = "two clips of one thread",
                         .how_to_continue = "run the same dfer prep again"};
    if (watchdog_start(&spec) != 0) _exit(91);
    watchdog_mark_slot(5, "clip-a", "clip clip-a on thread 5");
    watchdog_rest_slot(5);
    for (int i = 0; i < 3; i++) {
        watchdog_mark_slot(3, i == 2 ? "clip-stuck" : "clip-ok", "clip %d on thread 3", i);
        sleep_s(0.05);
    }
    for (int i = 0; i < 300; i++) { /* 30 s of the main thread's progress lines: must not hide the stuck worker */
        watchdog_mark("the progress line");
        sleep_s(0.1);
    }
}

static void test_fires_on_the_stuck_worker(void) {
    char text[4096];
    int status = run_named_child(worker_stuck_in_a_clip, "slot", text, sizeof text);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == DFER_EXIT_HUNG, "a stuck worker ends the process with %d "
           "(status 0x%x): %s", DFER_EXIT_HUNG, status, text);
    EXPECT(strstr(text, "in clip 2 on thread 3 (dfer prep of /data)") != NULL, "the stuck worker's phase: %s", text);
    EXPECT(strstr(text, "--hang-minutes") && strstr(text, "two clips of one thread") &&
               strstr(text, "run the same dfer prep again"), "the spec's advice: %s", text);
    read_text(g_record, text, sizeof text);
    cJSON *o = cJSON_Parse(text);
    EXPECT(o != NULL, "the record is JSON: %s", text);
    if (!o) return;
    const cJSON *item = cJSON_GetObjectItem(o, "item"), *idle = cJSON_GetObjectItem(o, "idle_s");
    EXPECT(cJSON_IsString(item) && !strcmp(item->valuestring, "clip-stuck"), "the stuck clip's id as the item: %s",
           text);
    EXPECT(cJSON_IsNumber(idle) && idle->valuedouble >= 0.6 && idle->valuedouble < 5, "fired after the floor: %s",
           text);
    cJSON_Delete(o);
}

/* Ctrl-Z, or Slurm suspending the job: a process stopped for 3 s (3 times its 1 s limit) and continued
 * has not hung. The watchdog must leave the stop out (no firing, a warning saying so) and out of the
 * gaps (the limit stays at its floor). */
static void marks_through_a_stop(void) {
    if (start(1.0, "stopped and continued", NULL) != 0) _exit(91);
    for (int i = 0; i < 40; i++) { /* 4 s of marks every 0.1 s; the parent stops this process after 0.5 s */
        watchdog_mark("step %d", i);
        sleep_s(0.1);
    }
    if (watchdog_limit_seconds() > 2.0) _exit(92); /* the stop counted as a gap (10 x 0.1 s marks: about 1 s) */
    watchdog_stop();
}

static void test_a_stopped_process_has_not_hung(void) {
    char path[700], text[4096];
    snprintf(path, sizeof path, "%s/stopped.err", test_tmpdir());
    pid_t pid = spawn_child(marks_through_a_stop, path);
    EXPECT(pid > 0, "fork");
    sleep_s(0.5);
    EXPECT(kill(pid, SIGSTOP) == 0, "SIGSTOP");
    sleep_s(3.0);
    EXPECT(kill(pid, SIGCONT) == 0, "SIGCONT");
    int status = 0;
    EXPECT(waitpid(pid, &status, 0) == pid, "wait");
    read_text(path, text, sizeof text);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stopped for 3 s and continued: ends normally, the limit "
           "at its floor (status 0x%x; 92: the stop raised the limit): %s", status, text);
    double took = 0;
    const char *said = strstr(text, "this process did not run for ");
    EXPECT(said && sscanf(said, "this process did not run for %lf s", &took) == 1 && took > 2.0 && took < 3.5,
           "says it left about 3 s out: %s", text);
}

static void test_limit_grows_with_the_longest_gap(void) {
    EXPECT(watchdog_limit_seconds() == 0, "no watchdog: limit 0");
    EXPECT(start(5.0, "gaps", NULL) == 0, "started");
    EXPECT(start(5.0, "again", NULL) == -1, "one watchdog per process");
    EXPECT(watchdog_limit_seconds() == 5.0, "the floor before any long gap: %g", watchdog_limit_seconds());
    watchdog_mark("a");
    sleep_s(0.6);
    watchdog_mark("b");
    double limit = watchdog_limit_seconds();
    EXPECT(limit >= WATCHDOG_GAP_FACTOR * 0.6 && limit < 5.0 * WATCHDOG_GAP_FACTOR,
           "a 0.6 s gap raises the limit to 10 times it: %g", limit);
    watchdog_stop();
    watchdog_stop(); /* idempotent */
    EXPECT(watchdog_limit_seconds() == 0, "stopped: limit 0");
    EXPECT(start(5.0, "a second job", NULL) == 0, "a new job starts its own watchdog (the matrix runs many)");
    EXPECT(watchdog_limit_seconds() == 5.0, "with its own gaps: %g", watchdog_limit_seconds());
    watchdog_stop();
}

static void test_off(void) {
    EXPECT(start(0, "off", NULL) == 0, "0 minutes: off");
    watchdog_mark("x");
    EXPECT(watchdog_limit_seconds() == 0, "off: no limit");
    watchdog_stop();
}

int main(void) {
    TEST_RUN(test_fires_naming_the_phase);
    TEST_RUN(test_marks_and_stop_keep_it_quiet);
    TEST_RUN(test_fires_on_the_stuck_worker);
    TEST_RUN(test_a_stopped_process_has_not_hung);
    TEST_RUN(test_limit_grows_with_the_longest_gap);
    TEST_RUN(test_off);
    return test_summary();
}
