/* test_imap_seqset.c - unit tests for IMAP sequence sets (imapd/imap_seqset.c): the syntax, "*", merging and lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_seqset.h"

/* The set's ranges as "lo:hi,lo:hi" (one number when lo == hi), "" for an empty set, "BAD" if refused. */
static const char *
ranges(const char *text, uint32_t star, size_t max_ranges)
{
	static struct buf b;
	struct imap_seqset set;

	buf_free(&b);
	buf_init(&b, 0);
	if (imap_seqset_parse(text, star, max_ranges, &set) < 0) {
		assert_null(set.v);
		assert_int_equal(set.n, 0);
		buf_append_str(&b, "BAD");
		return b.data;
	}
	buf_append_str(&b, "");
	for (size_t i = 0; i < set.n; i++) {
		assert_true(set.v[i].lo <= set.v[i].hi);
		/* Sorted, and neither overlapping nor adjacent. */
		if (i > 0)
			assert_true(set.v[i].lo > set.v[i - 1].hi + 1);
		if (set.v[i].lo == set.v[i].hi)
			buf_printf(&b, "%s%u", i > 0 ? "," : "", set.v[i].lo);
		else
			buf_printf(&b, "%s%u:%u", i > 0 ? "," : "", set.v[i].lo, set.v[i].hi);
	}
	imap_seqset_free(&set);
	assert_null(set.v);
	return b.data;
}

/* The forms of RFC 3501 sequence-set, "*" standing for the highest number, backwards ranges turned round. */
static void
test_imap_seqset_forms(void **state)
{
	static const struct {
		const char *text, *ranges;
	} cases[] = {
		{ "1", "1" },
		{ "1:5", "1:5" },
		{ "5:1", "1:5" },
		{ "*", "10" },
		{ "1:*", "1:10" },
		{ "*:1", "1:10" },
		{ "*:*", "10" },
		{ "1,3:4,*", "1,3:4,10" },
		/* UID 15:* with 10 the highest UID: 10:15 (RFC 3501 seq-range: "*" can be below the other end). */
		{ "15:*", "10:15" },
		{ "4294967295", "4294967295" },
		{ "1:4294967295", "1:4294967295" },
		{ "4294967295:4294967294,1", "1,4294967294:4294967295" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(ranges(cases[i].text, 10, 0), cases[i].ranges);
}

/* Overlapping and adjacent ranges merge; order of writing does not matter. */
static void
test_imap_seqset_merge(void **state)
{
	(void)state;
	assert_string_equal(ranges("3,1,2", 10, 0), "1:3");
	assert_string_equal(ranges("5:7,1:3,4", 10, 0), "1:7");
	assert_string_equal(ranges("1:5,2:3", 10, 0), "1:5");
	assert_string_equal(ranges("9,1,5,1,9", 10, 0), "1,5,9");
	assert_string_equal(ranges("1:4,6:8,3:6", 10, 0), "1:8");
	assert_string_equal(ranges("20:30,1:*,11", 10, 0), "1:11,20:30");
	assert_string_equal(ranges("4294967295,4294967294,1:4294967293", 10, 0), "1:4294967295");
}

/* Not sequence sets: zero, leading zeros, signs, spaces, empty parts, "$", numbers past 2^32-1. */
static void
test_imap_seqset_invalid(void **state)
{
	static const char *const bad[] = {
		"", "0", "0:5", "5:0", "01", "1:05", "-1", "+1", " 1", "1 ", "1, 2", "1,", ",1", "1,,2", ":",
		"1:", ":1", "1:2:3", "**", "*1", "1*", "$", "a", "1.5", "4294967296", "1:4294967296",
		"99999999999999999999", "1\t",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strcmp(ranges(bad[i], 10, 0), "BAD") != 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

/* An empty mailbox (star 0): "*" is valid but a range that ends at it holds nothing. */
static void
test_imap_seqset_empty_mailbox(void **state)
{
	(void)state;
	assert_string_equal(ranges("*", 0, 0), "");
	assert_string_equal(ranges("1:*", 0, 0), "");
	assert_string_equal(ranges("1:*,3", 0, 0), "3");
	assert_string_equal(ranges("2:4", 0, 0), "2:4");
	assert_string_equal(ranges("0:*", 0, 0), "BAD");
}

/* max_ranges counts the written parts before merging; 0 takes the default. */
static void
test_imap_seqset_max_ranges(void **state)
{
	struct buf b;

	(void)state;
	assert_string_equal(ranges("1,2,3", 10, 3), "1:3");
	assert_string_equal(ranges("1,2,3,4", 10, 3), "BAD");
	assert_string_equal(ranges("1,1,1,1", 10, 3), "BAD");
	struct buf want;

	buf_init(&b, 0);
	buf_init(&want, 0);
	buf_append_str(&b, "1");
	buf_append_str(&want, "1");
	for (int i = 2; i <= 1000; i++) {
		/* Written from the top down: sorting is the parser's job. */
		buf_printf(&b, ",%d", (1002 - i) * 2);
		buf_printf(&want, ",%d", i * 2);
	}
	assert_string_equal(ranges(b.data, 10, 1000), want.data);
	assert_string_equal(ranges(b.data, 10, 999), "BAD");
	buf_free(&want);
	buf_free(&b);
}

/* imap_seqset_has against a plain scan, on sets of 1 to many ranges, at every edge. */
static void
test_imap_seqset_has(void **state)
{
	struct imap_seqset set;
	struct buf b;

	(void)state;
	assert_int_equal(imap_seqset_parse("2:4,7,10:12,4294967295", 20, 0, &set), 0);
	assert_int_equal(set.n, 4);
	{
		static const uint32_t yes[] = { 2, 3, 4, 7, 10, 11, 12, 4294967295 };
		static const uint32_t no[] = { 0, 1, 5, 6, 8, 9, 13, 20, 4294967294 };

		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
			assert_true(imap_seqset_has(&set, yes[i]));
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
			assert_false(imap_seqset_has(&set, no[i]));
	}
	imap_seqset_free(&set);

	/* Empty set: nothing. */
	assert_int_equal(imap_seqset_parse("*", 0, 0, &set), 0);
	assert_int_equal(set.n, 0);
	assert_false(imap_seqset_has(&set, 0));
	assert_false(imap_seqset_has(&set, 1));
	imap_seqset_free(&set);

	/* Every third number up to 3000, checked for every number up to 3002. */
	buf_init(&b, 0);
	buf_append_str(&b, "3");
	for (int i = 6; i <= 3000; i += 3)
		buf_printf(&b, ",%d", i);
	assert_int_equal(imap_seqset_parse(b.data, 3000, 0, &set), 0);
	assert_int_equal(set.n, 1000);
	for (uint32_t i = 0; i <= 3002; i++)
		assert_int_equal(imap_seqset_has(&set, i), i > 0 && i <= 3000 && i % 3 == 0);
	imap_seqset_free(&set);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_seqset_forms),
		cmocka_unit_test(test_imap_seqset_merge),
		cmocka_unit_test(test_imap_seqset_invalid),
		cmocka_unit_test(test_imap_seqset_empty_mailbox),
		cmocka_unit_test(test_imap_seqset_max_ranges),
		cmocka_unit_test(test_imap_seqset_has),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
