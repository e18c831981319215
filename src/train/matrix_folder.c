#include "train/matrix_folder.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "io/json_file.h"

static int id_listed(const char *id, const Job *jobs, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(jobs[i].id, id)) return 1;
    return 0;
}

/* A job's id in a list of jobs: jobs.json's identity objects ("job") or matrix.json's job_ids (strings). */
static const char *entry_id(const cJSON *e) {
    return cJSON_IsString(e) ? e->valuestring : json_get_string(e, "job", "");
}

static int id_in_array(const char *id, const cJSON *arr) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (!strcmp(entry_id(e), id)) return 1;
    return 0;
}

/* Adds id to a list named as "a, b, c and 4 more" (list_end writes the count of those not named). */
static void list_add(char *buf, size_t size, int *count, const char *id) {
    enum { SHOWN = 3 };
    size_t used = strlen(buf);
    if (*count < SHOWN) snprintf(buf + used, size - used, "%s%s", *count ? ", " : "", id);
    (*count)++;
}

static void list_end(char *buf, size_t size, int count) {
    size_t used = strlen(buf);
    if (count > 3) snprintf(buf + used, size - used, " and %d more", count - 3);
}

/* The jobs only in the new matrix (*added) and only in the old jobs.json (*dropped), named in the two texts. */
static void job_list_changes(const cJSON *old_jobs, const Job *jobs, int n, int *added, char *added_text,
                             int *dropped, char *dropped_text, size_t text_size) {
    *added = *dropped = 0;
    added_text[0] = dropped_text[0] = '\0';
    for (int i = 0; i < n; i++)
        if (!id_in_array(jobs[i].id, old_jobs)) list_add(added_text, text_size, added, jobs[i].id);
    const cJSON *e;
    cJSON_ArrayForEach(e, old_jobs) {
        const char *id = entry_id(e);
        if (!id_listed(id, jobs, n))
            list_add(dropped_text, text_size, dropped, id[0] ? id : "(an entry without a job)");
    }
    list_end(added_text, text_size, *added);
    list_end(dropped_text, text_size, *dropped);
}

/* PATH parsed into *o when it exists (0; *o NULL when absent), else -1 naming it: a damaged record is not guessed at */
static int read_if_present(const char *path, int want_array, cJSON **o, Err *err) {
    *o = NULL;
    if (!fs_exists(path)) return 0;
    if (json_read_file(path, o, err) != 0)
        return err_prefix(err, "the results folder's record of its matrix cannot be read (delete it to start the "
                               "record again): ");
    if (want_array ? !cJSON_IsArray(*o) : !cJSON_IsObject(*o)) {
        cJSON_Delete(*o);
        *o = NULL;
        return err_set(err, "%s: not a JSON %s (delete it to start the record again)", path,
                       want_array ? "array of jobs" : "object");
    }
    return 0;
}

/* matrix.json for matrix m (real: its file's real path): the ids of its jobs too, so that a run of another file that
 * finds the record before this run has written jobs.json (the record comes first) still sees which jobs it holds. */
static cJSON *record_of(const Matrix *m, const char *real, const Job *jobs, int n) {
    cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray();
    CHECK(o && ids, "cJSON: out of memory");
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "matrix_file", real);
    cJSON_AddNumberToObject(o, "jobs", n);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(ids, cJSON_CreateString(jobs[i].id));
    cJSON_AddItemToObject(o, "job_ids", ids);
    return o;
}

/* RECORD_PATH made from `mine` where no record is (*record NULL); where another run made one first (at the same
 * instant on a new folder), *record is the one that won, to be judged as any record found. -1 (err) when it cannot be
 * read or made. */
static int settle_record(const char *record_path, const cJSON *mine, cJSON **record, Err *err) {
    enum { TRIES = 3 }; /* a record deleted again each time between the failed create and the read: given up */
    for (int i = 0; i < TRIES; i++) {
        if (read_if_present(record_path, 0, record, err) != 0) return -1;
        if (*record) return 0;
        int made = json_create_exclusive(record_path, mine, err);
        if (made != FS_ALREADY_EXISTS) return made == FS_CREATED ? 0 : -1;
    }
    return err_set(err, "%s: made by another run and removed again, %d times, while this run was taking the folder",
                   record_path, TRIES);
}

int matrix_folder_take(const Matrix *m, const Job *jobs, int n, const cJSON *identities, const char *results,
                       Err *err) {
    char jobs_path[4200], record_path[4200], real[PATH_MAX];
    snprintf(jobs_path, sizeof jobs_path, "%s/jobs.json", results);
    snprintf(record_path, sizeof record_path, "%s/matrix.json", results);
    /* the file's real path names it whatever the working directory or the links it was given by */
    if (!realpath(m->path, real)) snprintf(real, sizeof real, "%s", m->path);
    if (fs_mkdirs(results, err) != 0) return -1;
    /* The record first, made only where none is: two runs of other matrix files starting at the same instant on a new
     * folder both found none and both took the folder, the last rename winning. Now the one whose create fails
     * judges itself by the record that won. jobs.json is read after, to see the winner's. */
    cJSON *mine = record_of(m, real, jobs, n), *old_jobs = NULL, *record = NULL;
    if (settle_record(record_path, mine, &record, err) != 0 ||
        read_if_present(jobs_path, 1, &old_jobs, err) != 0) {
        cJSON_Delete(mine);
        cJSON_Delete(record);
        return -1;
    }
    const char *owner = record ? json_get_string(record, "matrix_file", "") : NULL;
    int same_file = owner && !strcmp(owner, real);
    /* another file's jobs are those of its record, which is written before its jobs.json (a record from before
     * job_ids: its jobs.json) */
    const cJSON *record_ids = record ? cJSON_GetObjectItemCaseSensitive(record, "job_ids") : NULL;
    const cJSON *folder_jobs = record && !same_file && cJSON_IsArray(record_ids) ? record_ids : old_jobs;
    char added_text[600] = "", dropped_text[600] = "";
    int added = 0, dropped = 0;
    if (folder_jobs)
        job_list_changes(folder_jobs, jobs, n, &added, added_text, &dropped, dropped_text, sizeof added_text);
    int rc = 0;
    if (record && !same_file && (added || dropped)) {
        rc = err_set(err, "%s holds the jobs of the matrix %s (its matrix.json says so), not of %s, which has other "
                          "jobs: %d only in this one%s%s%s, %d only in the folder's%s%s%s. Two matrices in one folder "
                          "replace each other's job list (jobs.json, which the tables count) and skip each other's "
                          "jobs of the same id as finished. Give this matrix its own --results, or delete %s to hand "
                          "the folder to %s", results, owner, real, added, added ? " (" : "", added_text,
                     added ? ")" : "", dropped, dropped ? " (" : "", dropped_text, dropped ? ")" : "", record_path,
                     real);
    } else if (old_jobs && (added || dropped)) {
        log_warn("%s: the job list changes (%s): %d job%s added%s%s%s, %d no longer listed%s%s%s%s", jobs_path,
                 same_file ? "the matrix file was edited since"
                           : "a folder from before matrix.json, whose matrix file is not recorded",
                 added, added == 1 ? "" : "s", added ? " (" : "", added_text, added ? ")" : "", dropped,
                 dropped ? " (" : "", dropped_text, dropped ? ")" : "",
                 dropped ? ": their results stay in their folders, left out of the tables" : "");
    }
    /* a copy with the same jobs leaves the record to the file that made it: should the copy's jobs change later, it
     * is another matrix still; the file itself, edited, brings its record up to date */
    if (rc == 0 && same_file) rc = json_write_atomic(record_path, mine, err);
    if (rc == 0) rc = json_write_atomic(jobs_path, identities, err);
    cJSON_Delete(mine);
    cJSON_Delete(old_jobs);
    cJSON_Delete(record);
    return rc;
}
