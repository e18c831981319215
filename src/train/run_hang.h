/* A run folder's hang records: each rank its watchdog ends (core/watchdog.h) appends a JSON line to
 * DIR/hangs.jsonl; `dfer matrix --status` and a resume say from them that the run's last start ended
 * on a hang, and where every reporting rank was. */
#ifndef DFER_TRAIN_RUN_HANG_H
#define DFER_TRAIN_RUN_HANG_H

#include <stddef.h>

#define RUN_HANGS_FILE "hangs.jsonl"

/* Whether the run in dir ended on a hang: its hangs.jsonl is newer than its metrics.jsonl. Then 1, and the
 * records written since the last metrics line (every rank that reported: the ones left waiting name the
 * collective, a stuck one where it was stuck) in text[n] as "rank R on HOST: no progress for 0:30:00 in
 * PHASE; rank ... (TIME)"; else 0. */
int run_ended_on_hang(const char *dir, char *text, size_t n);

/* The same for any work that records hangs in hangs_path and marks a good end by writing reference_path
 * (dfer prep: its prep_summary.json): the records newer than reference_path (all of them when it does not
 * exist), in text[n] as above. Returns 1 when there are such records, else 0. */
int hangs_since(const char *hangs_path, const char *reference_path, char *text, size_t n);

#endif
