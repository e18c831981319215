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

static int id_in_array(const char *id, const cJSON *arr) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (!strcmp(json_get_string(e, "job", ""), id)) return 1;
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
        const char *id = json_get_string(e, "job", "");
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

int matrix_folder_take(const Matrix *m, const Job *jobs, int n, const cJSON *identities, const char *results,
                       Err *err) {
    char jobs_path[4200], record_path[4200], real[PATH_MAX];
    snprintf(jobs_path, sizeof jobs_path, "%s/jobs.json", results);
    snprintf(record_path, sizeof record_path, "%s/matrix.json", results);
    /* the file's real path names it whatever the working directory or the links it was given by */
    if (!realpath(m->path, real)) snprintf(real, sizeof real, "%s", m->path);
    if (fs_mkdirs(results, err) != 0) return -1;
    cJSON *old_jobs = NULL, *record = NULL;
    if (read_if_present(jobs_path, 1, &old_jobs, err) != 0 || read_if_present(record_path, 0, &record, err) != 0) {
        cJSON_Delete(old_jobs);
        return -1;
    }
    char added_text[600] = "", dropped_text[600] = "";
    int added = 0, dropped = 0;
    if (old_jobs) job_list_changes(old_jobs, jobs, n, &added, added_text, &dropped, dropped_text, sizeof added_text);
    const char *owner = record ? json_get_string(record, "matrix_file", "") : NULL;
    int same_file = owner && !strcmp(owner, real);
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
    if (rc == 0) rc = json_write_atomic(jobs_path, identities, err);
    /* a copy with the same jobs leaves the record to the file that made it: should the copy's jobs change later, it
     * is another matrix still */
    if (rc == 0 && (!record || same_file)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddStringToObject(o, "matrix_file", real);
        cJSON_AddNumberToObject(o, "jobs", n);
        rc = json_write_atomic(record_path, o, err);
        cJSON_Delete(o);
    }
    cJSON_Delete(old_jobs);
    cJSON_Delete(record);
    return rc;
}
