/* Monotonic wall-clock time in seconds. */
#ifndef DFER_CORE_TIMER_H
#define DFER_CORE_TIMER_H
double time_now(void);
#endif
