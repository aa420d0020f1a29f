/* test_maildir_name.c - unit tests for the parts of a Maildir file name (lib/util/maildir_name.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "maildir_name.h"

static bool
size_of(const char *name, uint64_t *size_r)
{
	return maildir_name_size(name, strlen(name), size_r);
}

static void
test_maildir_name_size_field(void **state)
{
	uint64_t size = 77;

	(void)state;
	assert_true(size_of("1.M1P2.host,S=10:2,S", &size));
	assert_int_equal(size, 10);
	assert_true(size_of("1.M1P2.host,W=12,S=11", &size));
	assert_int_equal(size, 11);
	assert_true(size_of("1.M1P2.host,S=x,S=5", &size));
	assert_int_equal(size, 5);
	assert_true(size_of("1.M1P2.host,S=18446744073709551615", &size));
	assert_int_equal(size, UINT64_MAX);
	size = 77;
	assert_false(size_of("1.M1P2.host", &size));
	assert_false(size_of("1.M1P2.host,S=", &size));
	assert_false(size_of("1.M1P2.host,S=12a", &size));
	assert_false(size_of("1.M1P2.host:2,S", &size));
	assert_false(size_of(",S", &size));
	/* Too big for 64 bits: not a size, and a later field still counts. */
	assert_false(size_of("1.M1P2.host,S=18446744073709551616", &size));
	assert_int_equal(size, 77);
	assert_true(size_of("1.M1P2.host,S=99999999999999999999,S=3", &size));
	assert_int_equal(size, 3);
}

static void
test_maildir_name_size_stays_within_len(void **state)
{
	const char *name = "1.M1P2.host,S=1234:2,S";
	uint64_t size = 0;

	(void)state;
	/* Up to the unique part only: imapd passes the base length. */
	assert_true(maildir_name_size(name, maildir_name_base_len(name), &size));
	assert_int_equal(size, 1234);
	/* Cut inside the digits: the end of the part ends them. */
	assert_true(maildir_name_size(name, 16, &size));
	assert_int_equal(size, 12);
	assert_false(maildir_name_size(name, 14, &size));
	assert_false(maildir_name_size("1,S=5", 0, &size));
}

static void
test_maildir_name_base_len_up_to_info(void **state)
{
	(void)state;
	assert_int_equal(maildir_name_base_len("1.M1P2.host:2,S"), 11);
	assert_int_equal(maildir_name_base_len("1.M1P2.host"), 11);
	assert_int_equal(maildir_name_base_len(":2,"), 0);
}

static void
test_maildir_name_seen_adds_s_in_order(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(maildir_name_seen("1.host", true, out, sizeof(out)), 0);
	assert_string_equal(out, "1.host:2,S");
	assert_int_equal(maildir_name_seen("1.host:2,FRT", false, out, sizeof(out)), 0);
	assert_string_equal(out, "1.host:2,FRST");
	assert_int_equal(maildir_name_seen("1.host:2,", false, out, sizeof(out)), 0);
	assert_string_equal(out, "1.host:2,S");
	/* S already: nothing to do in cur/, the same name for the move out of new/. */
	assert_int_equal(maildir_name_seen("1.host:2,RS", false, out, sizeof(out)), 1);
	assert_int_equal(maildir_name_seen("1.host:2,RS", true, out, sizeof(out)), 0);
	assert_string_equal(out, "1.host:2,RS");
	/* An info osd does not know is left alone. */
	assert_int_equal(maildir_name_seen("1.host:1,xyz", false, out, sizeof(out)), 1);
	/* Too small: an error, never a cut name. */
	assert_int_equal(maildir_name_seen("1.host:2,F", false, out, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maildir_name_size_field),
		cmocka_unit_test(test_maildir_name_size_stays_within_len),
		cmocka_unit_test(test_maildir_name_base_len_up_to_info),
		cmocka_unit_test(test_maildir_name_seen_adds_s_in_order),
	};

	return cmocka_run_group_tests_name("maildir_name", tests, NULL, NULL);
}
