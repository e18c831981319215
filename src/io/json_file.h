/* JSON files the runs write and read back (result.json, jobs.json, running.lock, prep_summary.json,
 * metrics.jsonl): written with cJSON, ending in a newline, atomically; read with errors that name the
 * file and the line. */
#ifndef DFER_IO_JSON_FILE_H
#define DFER_IO_JSON_FILE_H

#include <cJSON.h>

#include "core/check.h"

int json_write_atomic(const char *path, const cJSON *o, Err *err);
/* The same written only where no file is (core/fsutil.h's fs_create_atomic_exclusive): FS_CREATED,
 * FS_ALREADY_EXISTS (nothing written) or -1 (err). */
int json_create_exclusive(const char *path, const cJSON *o, Err *err);

/* PATH parsed whole into *out (the caller frees it with cJSON_Delete); a syntax error, or text after
 * the value, names the file and the line it is on. */
int json_read_file(const char *path, cJSON **out, Err *err);

/* JSON Lines (metrics.jsonl): calls fn for each non-blank line, parsed to an object that fn borrows;
 * line_no counts from 1. A line that is not one JSON object is an error naming the file and the
 * line, except, with JSON_LINES_TOLERATE_TORN_TAIL, a last line without its newline (a writer
 * appending right now, or one killed mid-line), which is skipped. A non-zero return from fn stops
 * the walk and is returned. */
typedef int (*JsonLineFn)(const cJSON *o, int line_no, void *ctx, Err *err);
enum { JSON_LINES_STRICT = 0, JSON_LINES_TOLERATE_TORN_TAIL = 1 };
int json_lines_each(const char *path, int flags, JsonLineFn fn, void *ctx, Err *err);

/* A member's value, or fallback where the member is absent or of another type (result.json,
 * metrics.jsonl and bench records read by the tables, the report, --status and bench). */
const char *json_get_string(const cJSON *o, const char *key, const char *fallback);
double json_get_number(const cJSON *o, const char *key, double fallback);
/* A member that is a whole number in [lo, hi] into *value and 0; where absent or not a number, fallback and 0; where
 * a number but not such a one (1e300, 2.5, NaN), fallback and -1. Casting a double out of the type's range is
 * undefined behaviour: a damaged file's 1e300 became INT_MIN, or anything. */
int json_get_whole(const cJSON *o, const char *key, double lo, double hi, long long fallback, long long *value);
/* json_get_whole in int's range, fallback for anything else: a damaged value reads as an absent one. */
int json_get_int(const cJSON *o, const char *key, int fallback);

#endif
