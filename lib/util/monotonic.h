/* monotonic.h - milliseconds on the monotonic clock, for deadlines and timeouts, and their overflow-free arithmetic. */
#ifndef OSD_MONOTONIC_H
#define OSD_MONOTONIC_H

#include <stdint.h>

/* Milliseconds since an arbitrary start; never jumps with the wall clock. */
long long monotonic_ms(void);

/* base_ms + add_ms, saturating at LLONG_MAX (a negative add counts as 0): a deadline that cannot wrap. */
long long monotonic_after(long long base_ms, long long add_ms);

/*
 * The milliseconds a transfer of bytes may take at rate bytes per second:
 * bytes * 1000 / rate, rounded down, saturating at LLONG_MAX (rate 0:
 * LLONG_MAX, no limit).  For Postfix's smtpd_min_data_rate.
 */
long long monotonic_rate_ms(uint64_t bytes, unsigned rate);

/*
 * How long one wait may last at now: timeout_ms, cut short to reach
 * deadline (0: none), clamped to 0..INT_MAX (the range poll(2) takes).
 */
int monotonic_wait_ms(long long now, long long timeout_ms, long long deadline);

#endif
