/* test_server.c - unit tests for lib/net/server.c's pure parts: the failed-login delay schedule and its bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "monotonic.h"
#include "server.h"

/* 1 s for the first three recent failures, then doubling, never above 30 s. */
static void
test_server_fail_delay_rises_and_is_capped(void **state)
{
	unsigned n;
	long prev = 0;

	(void)state;
	assert_int_equal(server_fail_delay_ms(0), 1000);
	assert_int_equal(server_fail_delay_ms(1), 1000);
	assert_int_equal(server_fail_delay_ms(3), 1000);
	assert_int_equal(server_fail_delay_ms(4), 2000);
	assert_int_equal(server_fail_delay_ms(5), 4000);
	assert_int_equal(server_fail_delay_ms(6), 8000);
	assert_int_equal(server_fail_delay_ms(7), 16000);
	assert_int_equal(server_fail_delay_ms(8), 30000);
	for (n = 0; n < 100000; n++) {
		long d = server_fail_delay_ms(n);

		assert_true(d >= prev);
		assert_true(d <= 30000);
		prev = d;
	}
	/* A huge count (a counter gone wild) must not overflow the shift. */
	assert_int_equal(server_fail_delay_ms(~0u), 30000);
}

/*
 * The delay stops at the session's deadline: with the deadline behind us a
 * 30 s delay (8 failures) returns at once (the bound below is only "well
 * short of 30 s", not a speed requirement).
 */
static void
test_server_fail_delay_stops_at_the_deadline(void **state)
{
	long long t0 = monotonic_ms();

	(void)state;
	server_login_failed("someone@example.test", 8, t0 - 1);
	assert_true(monotonic_ms() - t0 < 15000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_fail_delay_rises_and_is_capped),
		cmocka_unit_test(test_server_fail_delay_stops_at_the_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
