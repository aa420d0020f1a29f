/* timecalc.h - sums of times and durations that saturate instead of overflowing. */
#ifndef OSD_TIMECALC_H
#define OSD_TIMECALC_H

#include <time.h>

/* The largest and smallest time_t (a signed integer type on every system osd runs on). */
#define TIMECALC_TIME_MAX \
	((time_t)(sizeof(time_t) >= 8 ? (long long)0x7fffffffffffffffLL : (long long)0x7fffffffL))
#define TIMECALC_TIME_MIN (-TIMECALC_TIME_MAX - 1)

/*
 * t + secs, held at TIMECALC_TIME_MAX or TIMECALC_TIME_MIN when the sum
 * does not fit: a deadline beyond the end of time stays "never", it does
 * not wrap around into the past (where "expired" would be true at once).
 */
time_t time_add(time_t t, long long secs);

/*
 * a - b in seconds, held at LLONG_MAX or LLONG_MIN when it does not fit
 * (an mtime set near the end of time minus now).
 */
long long time_diff(time_t a, time_t b);

/*
 * secs as milliseconds for poll(2) and friends: 0 for secs <= 0, INT_MAX
 * (about 24.8 days) for anything longer.
 */
int time_secs_to_ms(long long secs);

#endif
