/* Monotonic wall-clock time in seconds, and durations as H:MM:SS. */
#ifndef DFER_CORE_TIMER_H
#define DFER_CORE_TIMER_H

#include <stddef.h>

double time_now(void);
/* seconds as "H:MM:SS" (hours not wrapped) into buf[n]; a negative, non-finite
 * or absurd (>= 1e9 s) value prints as 0:00:00. For ETAs in progress lines. */
void time_format_hms(double seconds, char *buf, size_t n);
/* A duration for messages: "12.3 s" under a minute, H:MM:SS above, "time not recorded" when not finite. */
void time_format_duration(double seconds, char *buf, size_t n);
/* Sleeps this long (seconds), through interruptions by signals. */
void time_sleep(double seconds);

#endif
