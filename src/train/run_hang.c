#include "train/run_hang.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/check.h"
#include "core/fsutil.h"
#include "core/timer.h"
#include "io/json_file.h"

/* The hang records written since the run's last metrics line (those of its last start's end). */
typedef struct HangRecords {
    time_t since;
    char *text;
    size_t n;
    int count;
    char last_time[32];
} HangRecords;

static int hang_record_line(const cJSON *o, int line_no, void *ctx, Err *err) {
    (void)line_no, (void)err;
    HangRecords *h = ctx;
    const char *stamp = json_get_string(o, "time", "");
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strcmp(json_get_string(o, "type", ""), "hang") || !strptime(stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) ||
        timegm(&tm) < h->since)
        return 0;
    char idle[32];
    time_format_duration(json_get_number(o, "idle_s", NAN), idle, sizeof idle);
    size_t len = strlen(h->text);
    snprintf(h->text + len, h->n - len, "%srank %d on %s: no progress for %s in %s", h->count ? "; " : "",
             json_get_int(o, "rank", 0), json_get_string(o, "host", "?"), idle,
             json_get_string(o, "phase", "?"));
    snprintf(h->last_time, sizeof h->last_time, "%s", stamp);
    h->count++;
    return 0;
}

int hangs_since(const char *hangs_path, const char *reference_path, char *text, size_t n) {
    if (!fs_exists(hangs_path) || fs_newer(reference_path, hangs_path)) return 0; /* none, or the work went on after */
    struct stat ms;
    text[0] = 0;
    HangRecords h = {.since = stat(reference_path, &ms) == 0 ? ms.st_mtim.tv_sec : 0, .text = text, .n = n};
    Err err;
    json_lines_each(hangs_path, JSON_LINES_TOLERATE_TORN_TAIL, hang_record_line, &h, &err);
    if (!h.count) return 0;
    size_t len = strlen(text);
    snprintf(text + len, n - len, " (%s)", h.last_time);
    return 1;
}

int run_ended_on_hang(const char *dir, char *text, size_t n) {
    char hangs[4200], metrics[4200];
    snprintf(hangs, sizeof hangs, "%s/%s", dir, RUN_HANGS_FILE);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    return hangs_since(hangs, metrics, text, n);
}
