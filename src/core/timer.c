#define _POSIX_C_SOURCE 200809L
#include "core/timer.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void time_format_hms(double seconds, char *buf, size_t n) {
    long s = seconds > 0 && seconds < 1e9 ? (long)seconds : 0; /* also NaN: the conversion must be defined */
    snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

void time_format_duration(double seconds, char *buf, size_t n) {
    if (!isfinite(seconds)) snprintf(buf, n, "time not recorded");
    else if (seconds < 60) snprintf(buf, n, "%.1f s", seconds);
    else time_format_hms(seconds, buf, n);
}

void time_sleep(double seconds) {
    struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
}
