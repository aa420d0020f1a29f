/* test_failtable.c - unit tests for lib/net/failtable.c: failed logins per (address, login), summed per address. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "failtable.h"
#include "ipaddr.h"

#define WINDOW 900

/* Login keys as server.c makes them (any non-zero numbers). */
#define LOGIN_A 0x1111u
#define LOGIN_B 0x2222u
#define LOGIN_C 0x3333u

static struct ipaddr
addr(const char *text)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(text, &a), 0);
	return a;
}

static struct failtable *
table(void)
{
	struct failtable *t = malloc(sizeof(*t));

	assert_non_null(t);
	failtable_init(t, WINDOW);
	return t;
}

/*
 * Issue 16 point 3: guesses against B, then a good login as A from the
 * same address, must not bring the address's count (the delay) back down.
 */
static void
test_failtable_success_clears_only_its_own_login(void **state)
{
	struct failtable *t = table();
	struct ipaddr a = addr("127.0.0.5");
	int i;

	(void)state;
	for (i = 0; i < 6; i++)
		failtable_failed(t, &a, LOGIN_B, 100 + i);
	assert_int_equal(failtable_count(t, &a, 110), 6);
	failtable_succeeded(t, &a, LOGIN_A, 111);
	assert_int_equal(failtable_count(t, &a, 112), 6);
	failtable_failed(t, &a, LOGIN_B, 113);
	assert_int_equal(failtable_count(t, &a, 114), 7);
	/* B's own success does clear B's failures. */
	failtable_succeeded(t, &a, LOGIN_B, 115);
	assert_int_equal(failtable_count(t, &a, 116), 0);
	free(t);
}

/* The count of an address is the sum over the logins tried; other addresses are apart. */
static void
test_failtable_count_sums_the_logins_of_one_address(void **state)
{
	struct failtable *t = table();
	struct ipaddr a = addr("127.0.0.5"), b = addr("127.0.0.6"), v6 = addr("::1");

	(void)state;
	failtable_failed(t, &a, LOGIN_A, 10);
	failtable_failed(t, &a, LOGIN_B, 11);
	failtable_failed(t, &a, LOGIN_B, 12);
	failtable_failed(t, &a, LOGIN_C, 13);
	failtable_failed(t, &b, LOGIN_B, 14);
	assert_int_equal(failtable_count(t, &a, 20), 4);
	assert_int_equal(failtable_count(t, &b, 20), 1);
	assert_int_equal(failtable_count(t, &v6, 20), 0);
	/* A's success from a takes A's one failure away, and nothing of b's. */
	failtable_succeeded(t, &a, LOGIN_A, 21);
	assert_int_equal(failtable_count(t, &a, 22), 3);
	assert_int_equal(failtable_count(t, &b, 22), 1);
	/* A success from another address clears nothing here. */
	failtable_succeeded(t, &b, LOGIN_C, 23);
	assert_int_equal(failtable_count(t, &a, 24), 3);
	free(t);
}

/* A record is forgotten WINDOW seconds after its last failure, each record on its own. */
static void
test_failtable_forgets_after_the_window(void **state)
{
	struct failtable *t = table();
	struct ipaddr a = addr("192.0.2.7");

	(void)state;
	failtable_failed(t, &a, LOGIN_A, 1000);
	failtable_failed(t, &a, LOGIN_B, 1500);
	assert_int_equal(failtable_count(t, &a, 1000 + WINDOW), 2);
	assert_int_equal(failtable_count(t, &a, 1000 + WINDOW + 1), 1);
	assert_int_equal(failtable_count(t, &a, 1500 + WINDOW + 1), 0);
	assert_int_equal(t->n, 0);
	free(t);
}

/*
 * Guessing against many names from one address: past
 * FAILTABLE_LOGINS_PER_ADDR names the failures go to the catch-all, so
 * the table is not flooded, the sum keeps every failure, and a success
 * for a name in the catch-all clears nothing.
 */
static void
test_failtable_many_logins_share_a_catch_all(void **state)
{
	struct failtable *t = table();
	struct ipaddr a = addr("127.0.0.5");
	uint64_t k;

	(void)state;
	for (k = 1; k <= 200; k++)
		failtable_failed(t, &a, k, 50);
	assert_int_equal(t->n, FAILTABLE_LOGINS_PER_ADDR + 1);
	assert_int_equal(failtable_count(t, &a, 51), 200);
	failtable_succeeded(t, &a, 150, 52);
	assert_int_equal(failtable_count(t, &a, 53), 200);
	failtable_succeeded(t, &a, FAILTABLE_OTHER, 54);
	assert_int_equal(failtable_count(t, &a, 55), 200);
	/* A name with a record of its own is still cleared by its success. */
	failtable_succeeded(t, &a, 1, 56);
	assert_int_equal(failtable_count(t, &a, 57), 199);
	free(t);
}

/* A full table drops its least recent record, and keeps counting. */
static void
test_failtable_full_drops_the_least_recent(void **state)
{
	struct failtable *t = table();
	struct ipaddr a, first = addr("10.0.0.0"), last = addr("10.0.255.255");
	unsigned i;

	(void)state;
	for (i = 0; i < FAILTABLE_SIZE; i++) {
		a = first;
		a.bytes[2] = (uint8_t)(i >> 8);
		a.bytes[3] = (uint8_t)i;
		failtable_failed(t, &a, LOGIN_A, 100 + (long long)i / 16);
	}
	assert_int_equal(t->n, FAILTABLE_SIZE);
	failtable_failed(t, &last, LOGIN_A, 200);
	assert_int_equal(t->n, FAILTABLE_SIZE);
	assert_int_equal(failtable_count(t, &first, 201), 0);
	assert_int_equal(failtable_count(t, &last, 201), 1);
	a.bytes[3] = 1;
	a.bytes[2] = 0;
	assert_int_equal(failtable_count(t, &a, 201), 1);
	free(t);
}

/* Counts saturate instead of wrapping (a sum that wrapped would reset the delay). */
static void
test_failtable_counts_saturate(void **state)
{
	struct failtable *t = table();
	struct ipaddr a = addr("127.0.0.5");

	(void)state;
	failtable_failed(t, &a, LOGIN_A, 1);
	failtable_failed(t, &a, LOGIN_B, 1);
	t->r[0].count = UINT_MAX - 1;
	t->r[1].count = UINT_MAX - 1;
	assert_int_equal(failtable_count(t, &a, 2), UINT_MAX);
	failtable_failed(t, &a, LOGIN_A, 3);
	failtable_failed(t, &a, LOGIN_A, 3);
	assert_int_equal(t->r[0].count, UINT_MAX);
	assert_int_equal(failtable_count(t, &a, 4), UINT_MAX);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failtable_success_clears_only_its_own_login),
		cmocka_unit_test(test_failtable_count_sums_the_logins_of_one_address),
		cmocka_unit_test(test_failtable_forgets_after_the_window),
		cmocka_unit_test(test_failtable_many_logins_share_a_catch_all),
		cmocka_unit_test(test_failtable_full_drops_the_least_recent),
		cmocka_unit_test(test_failtable_counts_saturate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
