/* clock.h — monotonic time and sleeping, in seconds as double. */
#ifndef FL_UTIL_CLOCK_H
#define FL_UTIL_CLOCK_H

/* Seconds on CLOCK_MONOTONIC. */
double fl_now(void);

/* Sleep for `seconds` (no-op for <= 0); restarts after signals. */
void fl_sleep(double seconds);

/* Sleep until the monotonic time `deadline`. */
void fl_sleep_until(double deadline);

/* Wall-clock time formatted as ISO 8601 UTC ("2026-11-20T22:45:00Z"). */
void fl_iso8601_utc(char out[32]);

#endif
