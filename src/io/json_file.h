/* JSON files the runs write (result.json, jobs.json, prep_summary.json):
 * printed with cJSON, ending in a newline, written atomically. */
#ifndef DFER_IO_JSON_FILE_H
#define DFER_IO_JSON_FILE_H

#include <cJSON.h>

#include "core/check.h"

int json_write_atomic(const char *path, const cJSON *o, Err *err);

/* A member's value, or fallback where the member is absent or of another type (result.json,
 * metrics.jsonl and bench records read by the tables, the report, --status and bench). */
const char *json_get_string(const cJSON *o, const char *key, const char *fallback);
double json_get_number(const cJSON *o, const char *key, double fallback);

#endif
