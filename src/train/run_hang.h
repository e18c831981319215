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

#endif
