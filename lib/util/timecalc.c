/* timecalc.c - sums of times and durations that saturate instead of overflowing. */
#include "timecalc.h"

#include <limits.h>

time_t
time_add(time_t t, long long secs)
{
	long long lt = (long long)t;

	/* time_t is at most long long wide; checking in long long covers both widths. */
	if (secs > 0 && lt > (long long)TIMECALC_TIME_MAX - secs)
		return TIMECALC_TIME_MAX;
	if (secs < 0 && lt < (long long)TIMECALC_TIME_MIN - secs)
		return TIMECALC_TIME_MIN;
	return (time_t)(lt + secs);
}

long long
time_diff(time_t a, time_t b)
{
	long long la = (long long)a, lb = (long long)b;

	if (lb < 0 && la > LLONG_MAX + lb)
		return LLONG_MAX;
	if (lb > 0 && la < LLONG_MIN + lb)
		return LLONG_MIN;
	return la - lb;
}

int
time_secs_to_ms(long long secs)
{
	if (secs <= 0)
		return 0;
	if (secs > INT_MAX / 1000)
		return INT_MAX;
	return (int)(secs * 1000);
}
