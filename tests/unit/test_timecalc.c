/* test_timecalc.c - saturating time arithmetic (lib/util/timecalc.c) and its users at the bounds of the durations. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conf.h"
#include "control.h"
#include "opensmtp.h"
#include "timecalc.h"

static void
test_timecalc_limits_match_time_t(void **state)
{
	(void)state;
	/* time_t is signed and the limits are its own: one past them would wrap. */
	assert_true((time_t)-1 < 0);
	assert_true(TIMECALC_TIME_MAX > 0);
	assert_true(TIMECALC_TIME_MIN < 0);
	if (sizeof(time_t) == 8) {
		assert_true((long long)TIMECALC_TIME_MAX == LLONG_MAX);
		assert_true((long long)TIMECALC_TIME_MIN == LLONG_MIN);
	}
}

static void
test_timecalc_time_add_saturates(void **state)
{
	const time_t now = 1700000000;

	(void)state;
	assert_true(time_add(now, 60) == now + 60);
	assert_true(time_add(now, -60) == now - 60);
	assert_true(time_add(now, 0) == now);
	/* The sum of the issue: relay_expire = 9223372036854775807 on a real mtime. */
	assert_true(time_add(now, LLONG_MAX) == TIMECALC_TIME_MAX);
	assert_true(time_add(TIMECALC_TIME_MAX, 1) == TIMECALC_TIME_MAX);
	assert_true(time_add(TIMECALC_TIME_MAX, CONF_RELAY_EXPIRE_MAX) == TIMECALC_TIME_MAX);
	assert_true(time_add(TIMECALC_TIME_MAX - 10, 10) == TIMECALC_TIME_MAX);
	assert_true(time_add(TIMECALC_TIME_MAX - 10, 9) == TIMECALC_TIME_MAX - 1);
	assert_true(time_add(TIMECALC_TIME_MIN, -1) == TIMECALC_TIME_MIN);
	assert_true(time_add(TIMECALC_TIME_MIN, LLONG_MIN) == TIMECALC_TIME_MIN);
	assert_true(time_add(TIMECALC_TIME_MIN + 5, -5) == TIMECALC_TIME_MIN);
	assert_true(time_add(TIMECALC_TIME_MIN, LLONG_MAX) == (time_t)((long long)TIMECALC_TIME_MIN + LLONG_MAX));
}

static void
test_timecalc_time_diff_saturates(void **state)
{
	(void)state;
	assert_true(time_diff(100, 40) == 60);
	assert_true(time_diff(40, 100) == -60);
	assert_true(time_diff(TIMECALC_TIME_MAX, 1700000000) == (long long)TIMECALC_TIME_MAX - 1700000000);
	if (sizeof(time_t) == 8) {
		assert_true(time_diff(TIMECALC_TIME_MAX, -1) == LLONG_MAX);
		assert_true(time_diff(TIMECALC_TIME_MIN, 1) == LLONG_MIN);
		assert_true(time_diff(TIMECALC_TIME_MAX, TIMECALC_TIME_MIN) == LLONG_MAX);
		assert_true(time_diff(TIMECALC_TIME_MIN, TIMECALC_TIME_MAX) == LLONG_MIN);
	}
}

static void
test_timecalc_secs_to_ms_saturates(void **state)
{
	(void)state;
	assert_int_equal(time_secs_to_ms(0), 0);
	assert_int_equal(time_secs_to_ms(-5), 0);
	assert_int_equal(time_secs_to_ms(LLONG_MIN), 0);
	assert_int_equal(time_secs_to_ms(1), 1000);
	/* The largest timeout the config allows fits an int of milliseconds exactly. */
	assert_int_equal(time_secs_to_ms(CONF_TIMEOUT_MAX), 86400000);
	assert_int_equal(time_secs_to_ms((long long)CONTROL_TIMEOUT_MAX), 86400000);
	assert_int_equal(time_secs_to_ms(INT_MAX / 1000), (INT_MAX / 1000) * 1000);
	assert_int_equal(time_secs_to_ms(INT_MAX / 1000 + 1), INT_MAX);
	assert_int_equal(time_secs_to_ms(CONF_RELAY_EXPIRE_MAX), INT_MAX);
	assert_int_equal(time_secs_to_ms(LLONG_MAX), INT_MAX);
}

/*
 * opensmtp_is_expired at the bounds: relay_expire at its largest on a
 * fresh entry is not expired, and an mtime set near the end of time (tmpfs
 * takes one) neither wraps into "expired" nor trips UBSan.
 */
static void
test_timecalc_opensmtp_is_expired_at_the_bounds(void **state)
{
	const struct timespec now = { .tv_sec = 1700000000, .tv_nsec = 500 };
	struct timespec mtime = now, later;

	(void)state;
	assert_false(opensmtp_is_expired(&mtime, CONF_RELAY_EXPIRE_MAX, &now));
	later = (struct timespec){ .tv_sec = now.tv_sec + CONF_RELAY_EXPIRE_MAX - 1, .tv_nsec = 500 };
	assert_false(opensmtp_is_expired(&mtime, CONF_RELAY_EXPIRE_MAX, &later));
	later.tv_sec++;
	assert_true(opensmtp_is_expired(&mtime, CONF_RELAY_EXPIRE_MAX, &later));

	mtime.tv_sec = TIMECALC_TIME_MAX;
	assert_false(opensmtp_is_expired(&mtime, CONF_RELAY_EXPIRE_MAX, &now));
	mtime.tv_sec = TIMECALC_TIME_MAX - CONF_RELAY_EXPIRE_MAX / 2;
	assert_false(opensmtp_is_expired(&mtime, CONF_RELAY_EXPIRE_MAX, &now));
	/* The value of the issue, had it got through: still no overflow. */
	mtime = now;
	assert_false(opensmtp_is_expired(&mtime, LONG_MAX, &now));
	/* An mtime at the start of time is long expired. */
	mtime.tv_sec = TIMECALC_TIME_MIN;
	assert_true(opensmtp_is_expired(&mtime, CONF_RELAY_EXPIRE_MAX, &now));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timecalc_limits_match_time_t),
		cmocka_unit_test(test_timecalc_time_add_saturates),
		cmocka_unit_test(test_timecalc_time_diff_saturates),
		cmocka_unit_test(test_timecalc_secs_to_ms_saturates),
		cmocka_unit_test(test_timecalc_opensmtp_is_expired_at_the_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
