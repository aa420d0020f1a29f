/* test_monotonic.c - unit tests for lib/monotonic.c's deadline arithmetic at its limits (run under UBSan too). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "monotonic.h"

static void
test_monotonic_after_saturates(void **state)
{
	(void)state;
	assert_true(monotonic_after(1000, 500) == 1500);
	assert_true(monotonic_after(1000, 0) == 1000);
	assert_true(monotonic_after(1000, -5) == 1000);
	assert_true(monotonic_after(LLONG_MAX - 1, 2) == LLONG_MAX);
	assert_true(monotonic_after(LLONG_MAX, LLONG_MAX) == LLONG_MAX);
	assert_true(monotonic_after(1, LLONG_MAX) == LLONG_MAX);
	/* A session deadline of the longest allowed duration, in ms, from a late clock. */
	assert_true(monotonic_after(LLONG_MAX - 86400000LL, 86400LL * 1000) == LLONG_MAX);
}

/* Postfix's smtpd_min_data_rate: bytes / rate seconds, in ms. */
static void
test_monotonic_rate_ms_is_exact_and_saturates(void **state)
{
	(void)state;
	assert_true(monotonic_rate_ms(0, 500) == 0);
	assert_true(monotonic_rate_ms(500, 500) == 1000);
	assert_true(monotonic_rate_ms(10240000, 500) == 20480000);
	assert_true(monotonic_rate_ms(1, 3) == 333);
	assert_true(monotonic_rate_ms(1, 1000000) == 0);
	assert_true(monotonic_rate_ms(999999, 1000000) == 999);
	/* rate 0: no limit. */
	assert_true(monotonic_rate_ms(1, 0) == LLONG_MAX);
	/* bytes * 1000 would not fit in 64 bits. */
	assert_true(monotonic_rate_ms(UINT64_MAX, 1) == LLONG_MAX);
	assert_true(monotonic_rate_ms(UINT64_MAX, UINT_MAX) == (long long)(UINT64_MAX / UINT_MAX) * 1000 +
		    (long long)((UINT64_MAX % UINT_MAX) * 1000 / UINT_MAX));
	assert_true(monotonic_rate_ms((uint64_t)(LLONG_MAX / 1000) + 1, 1) == LLONG_MAX);
	/* Just at the edge: the whole part fits, the rest would push past LLONG_MAX. */
	assert_true(monotonic_rate_ms((uint64_t)(LLONG_MAX / 1000) * 1000 + 900, 1000) == LLONG_MAX);
	assert_true(monotonic_rate_ms((uint64_t)(LLONG_MAX / 1000) * 1000 + 807, 1000) == LLONG_MAX);
	assert_true(monotonic_rate_ms((uint64_t)(LLONG_MAX / 1000), 1) == LLONG_MAX / 1000 * 1000);
}

static void
test_monotonic_wait_ms_takes_the_nearer_end_and_clamps(void **state)
{
	(void)state;
	assert_int_equal(monotonic_wait_ms(1000, 300, 0), 300);
	assert_int_equal(monotonic_wait_ms(1000, 300, 1100), 100);
	assert_int_equal(monotonic_wait_ms(1000, 300, 5000), 300);
	assert_int_equal(monotonic_wait_ms(1000, 300, 900), 0);
	assert_int_equal(monotonic_wait_ms(1000, -1, 0), 0);
	assert_int_equal(monotonic_wait_ms(1000, LLONG_MAX, 0), INT_MAX);
	assert_int_equal(monotonic_wait_ms(1000, LLONG_MAX, LLONG_MAX), INT_MAX);
	/* Clocks and deadlines far apart never overflow the subtraction. */
	assert_int_equal(monotonic_wait_ms(LLONG_MAX, 300, LLONG_MIN), 0);
	assert_int_equal(monotonic_wait_ms(LLONG_MIN, 300, LLONG_MAX), 300);
	assert_int_equal(monotonic_wait_ms(-5, INT_MAX, LLONG_MAX), INT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_monotonic_after_saturates),
		cmocka_unit_test(test_monotonic_rate_ms_is_exact_and_saturates),
		cmocka_unit_test(test_monotonic_wait_ms_takes_the_nearer_end_and_clamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
