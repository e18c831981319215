/* Results folders for the table tests: result.json files and jobs.json written as dfer matrix writes them, and
 * the tables composed in memory. */
#include "table_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "testlib.h"

void put(const char *dir, const char *job, const char *json) {
    char path[800];
    Err err;
    snprintf(path, sizeof path, "%s/%s", dir, job);
    fs_mkdirs(path, &err);
    snprintf(path, sizeof path, "%s/%s/result.json", dir, job);
    fs_write_atomic(path, json, strlen(json), &err);
}

/* DIR = <tmp>/name with jobs.json holding jobs (the expanded matrix). */
void results_dir(char *dir, size_t n, const char *name, const char *jobs) {
    char path[800];
    Err err;
    snprintf(dir, n, "%s/%s", test_tmpdir(), name);
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/jobs.json", dir);
    EXPECT(fs_write_atomic(path, jobs, strlen(jobs), &err) == 0, "%s", err.msg);
}

/* A job's fields as result.json has them (status done unless uar < 0: failed). */
void put_job(const char *dir, const char *name, const char *method, const char *variant, const char *dataset,
                    const char *eval_dataset, const char *backbone, const char *setting, int fold, double uar,
                    const char *classes_recall) {
    char json[2048];
    if (uar < 0)
        snprintf(json, sizeof json,
                 "{\"method\":\"%s\",\"variant\":\"%s\",\"dataset\":\"%s\",\"eval_dataset\":\"%s\",\"fold\":%d,"
                 "\"backbone\":\"%s\",\"seed\":1,\"setting\":\"%s\",\"status\":\"failed\",\"error\":\"x\"}",
                 method, variant, dataset, eval_dataset, fold, backbone, setting);
    else
        snprintf(json, sizeof json,
                 "{\"method\":\"%s\",\"variant\":\"%s\",\"dataset\":\"%s\",\"eval_dataset\":\"%s\",\"fold\":%d,"
                 "\"backbone\":\"%s\",\"seed\":1,\"setting\":\"%s\",\"status\":\"done\",\"uar\":%g,\"war\":%g%s%s}",
                 method, variant, dataset, eval_dataset, fold, backbone, setting, uar, uar + 10,
                 classes_recall ? "," : "", classes_recall ? classes_recall : "");
    put(dir, name, json);
}

/* The tables of rs in format, composed in memory (what tables_write prints to a file or standard output). */
char *tables_text(const ResultSet *rs, TableFormat format, int paper) {
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    EXPECT(mem != NULL, "open_memstream: %s", strerror(errno));
    if (!mem) return calloc(1, 1);
    tables_write(rs, format, paper, mem);
    EXPECT(!ferror(mem) && fclose(mem) == 0, "the tables composed in memory");
    return text ? text : calloc(1, 1);
}
