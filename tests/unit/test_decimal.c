/* test_decimal.c - unit tests for the bounded decimal parser (lib/util/decimal.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decimal.h"

static int
parse(const char *s, uint64_t max, uint64_t *v_r)
{
	return decimal_parse(s, strlen(s), max, v_r);
}

/* Digits only: empty, signs, spaces, hex and suffixes are refused, and *v_r is left alone. */
static void
test_decimal_digits_only(void **state)
{
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "0x10", "10k", "1.0", "\xb1" };
	uint64_t v;

	(void)state;
	assert_int_equal(parse("0", UINT64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(parse("007", UINT64_MAX, &v), 0);
	assert_true(v == 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		assert_int_equal(parse(bad[i], UINT64_MAX, &v), -1);
		assert_true(v == 42);
	}
	/* Exactly len octets: what follows is not read, a NUL inside is not a digit. */
	assert_int_equal(decimal_parse("123abc", 3, UINT64_MAX, &v), 0);
	assert_true(v == 123);
	assert_int_equal(decimal_parse("1\0" "2", 3, UINT64_MAX, &v), -1);
}

/* The bound is inclusive and no input overflows, however long. */
static void
test_decimal_bound_and_overflow(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse("65535", 65535, &v), 0);
	assert_true(v == 65535);
	assert_int_equal(parse("65536", 65535, &v), -1);
	assert_int_equal(parse("9", 8, &v), -1);
	assert_int_equal(parse("8", 8, &v), 0);
	assert_int_equal(parse("1", 0, &v), -1);
	assert_int_equal(parse("0", 0, &v), 0);
	assert_int_equal(parse("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse("18446744073709551616", UINT64_MAX, &v), -1);
	assert_int_equal(parse("99999999999999999999999999", UINT64_MAX, &v), -1);
	assert_int_equal(parse("000000000000000000000000001", UINT64_MAX, &v), 0);
	assert_true(v == 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal_digits_only),
		cmocka_unit_test(test_decimal_bound_and_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
