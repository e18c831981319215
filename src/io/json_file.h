/* JSON files the runs write (result.json, jobs.json, prep_summary.json):
 * printed with cJSON, ending in a newline, written atomically. */
#ifndef DFER_IO_JSON_FILE_H
#define DFER_IO_JSON_FILE_H

#include <cJSON.h>

#include "core/check.h"

int json_write_atomic(const char *path, const cJSON *o, Err *err);

#endif
