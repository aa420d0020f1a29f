/* monotonic.c - milliseconds on the monotonic clock, and deadline arithmetic that saturates instead of overflowing. */
#include "monotonic.h"

#include <limits.h>
#include <time.h>

long long
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
monotonic_after(long long base_ms, long long add_ms)
{
	if (add_ms <= 0)
		return base_ms;
	return base_ms > LLONG_MAX - add_ms ? LLONG_MAX : base_ms + add_ms;
}

long long
monotonic_rate_ms(uint64_t bytes, unsigned rate)
{
	uint64_t whole, part;

	if (rate == 0)
		return LLONG_MAX;
	/* Seconds and the rest apart, so bytes * 1000 never has to fit. */
	whole = bytes / rate;
	part = (bytes % rate) * 1000u / rate;   /* < rate * 1000: fits in 64 bits */
	if (whole > (uint64_t)(LLONG_MAX / 1000) || whole * 1000u > (uint64_t)LLONG_MAX - part)
		return LLONG_MAX;
	return (long long)(whole * 1000u + part);
}

int
monotonic_wait_ms(long long now, long long timeout_ms, long long deadline)
{
	long long wait = timeout_ms;

	if (deadline != 0) {
		/* deadline - now cannot overflow for the clocks in use, but a wild deadline must not either. */
		long long left = (now > 0 && deadline < LLONG_MIN + now) ? LLONG_MIN
			       : (now < 0 && deadline > LLONG_MAX + now) ? LLONG_MAX
			       : deadline - now;

		if (left < wait)
			wait = left;
	}
	if (wait < 0)
		return 0;
	return wait > INT_MAX ? INT_MAX : (int)wait;
}
