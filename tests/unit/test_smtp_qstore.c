/* test_smtp_qstore.c - the queue manager's state files and folders (smtp-gate/queue/qstore.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "path.h"
#include "qstore.h"
#include "testutil.h"

/* Format, parse back, same state: statuses, reasons, tries, next, bounced. */
static void
test_info_round_trip(void **state)
{
	struct qstore_info a, b;
	struct buf text;
	char err[256];

	(void)state;
	assert_int_equal(qstore_info_init(&a, 3), 0);
	a.tries = 7;
	a.next = 1800000000;
	a.bounced = true;
	assert_int_equal(qstore_info_set(&a, 0, QSTORE_DONE, "250 ok"), 0);
	assert_int_equal(qstore_info_set(&a, 1, QSTORE_PENDING, "451 try\r\nlater\x01"), 0);
	assert_int_equal(qstore_info_set(&a, 2, QSTORE_FAILED, NULL), 0);
	buf_init(&text, 0);
	assert_int_equal(qstore_info_format(&a, &text), 0);
	assert_string_equal(text.data, "osd-info 1\ntries 7\nnext 1800000000\nbounced 1\n"
				       "rcpt done\nwhy 250 ok\nrcpt pending\nwhy 451 try  later \n"
				       "rcpt failed\n");
	assert_int_equal(qstore_info_parse(text.data, text.len, 3, &b, err, sizeof(err)), 0);
	assert_int_equal(b.tries, 7);
	assert_int_equal(b.next, 1800000000);
	assert_true(b.bounced);
	assert_int_equal(b.rcpts[0].status, QSTORE_DONE);
	assert_string_equal(b.rcpts[1].reason, "451 try  later ");
	assert_int_equal(b.rcpts[2].status, QSTORE_FAILED);
	assert_null(b.rcpts[2].reason);
	qstore_info_free(&a);
	qstore_info_free(&b);
	buf_free(&text);
}

/* A reason is cut at QSTORE_REASON_MAX and still parses back. */
static void
test_info_long_reason(void **state)
{
	struct qstore_info a, b;
	struct buf text;
	char big[3 * QSTORE_REASON_MAX], err[256];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(qstore_info_init(&a, 1), 0);
	assert_int_equal(qstore_info_set(&a, 0, QSTORE_PENDING, big), 0);
	assert_int_equal(strlen(a.rcpts[0].reason), QSTORE_REASON_MAX);
	buf_init(&text, 0);
	assert_int_equal(qstore_info_format(&a, &text), 0);
	assert_int_equal(qstore_info_parse(text.data, text.len, 1, &b, err, sizeof(err)), 0);
	assert_int_equal(strlen(b.rcpts[0].reason), QSTORE_REASON_MAX);
	qstore_info_free(&a);
	qstore_info_free(&b);
	buf_free(&text);
}

/* Hostile or damaged files are refused, never half-read. */
static void
test_info_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"osd-info 2\nrcpt done\n",
		"osd-info 1\nrcpt done\nrcpt done\n",           /* one recipient too many */
		"osd-info 1\n",                                 /* too few */
		"osd-info 1\nrcpt maybe\n",
		"osd-info 1\nrcpt done",                        /* cut off */
		"osd-info 1\nwhy first\nrcpt done\n",           /* a reason before any recipient */
		"osd-info 1\nrcpt done\nwhy a\nwhy b\n",        /* two reasons */
		"osd-info 1\ntries -1\nrcpt done\n",
		"osd-info 1\ntries 99999999999999999999\nrcpt done\n",
		"osd-info 1\nnext 12x\nrcpt done\n",
		"osd-info 1\nbounced 2\nrcpt done\n",
		"osd-info 1\nhello\nrcpt done\n",
	};
	struct qstore_info info;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(qstore_info_parse(bad[i], strlen(bad[i]), 1, &info, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	/* A NUL inside a line. */
	assert_int_equal(qstore_info_parse("osd-info 1\nrcpt do\0ne\n", 22, 1, &info, err,
					   sizeof(err)), -1);
}

/* Ids and buckets: only digits and dots; buckets spread and are stable. */
static void
test_ids_and_buckets(void **state)
{
	unsigned seen[QSTORE_BUCKETS] = { 0 };
	char id[64], b[3];
	unsigned i, used = 0;

	(void)state;
	assert_true(qstore_id_ok("1700000000.000001.42"));
	assert_false(qstore_id_ok(".1700"));
	assert_false(qstore_id_ok("1700/../x"));
	assert_false(qstore_id_ok(""));
	assert_false(qstore_id_ok("1700000000.000001.42.1234567890123456"));
	qstore_bucket("1700000000.000001.42", b);
	assert_int_equal(strlen(b), 2);
	for (i = 0; i < 25600; i++) {
		snprintf(id, sizeof(id), "1700000000.%06u.4242", i);
		qstore_bucket(id, b);
		seen[strtoul(b, NULL, 16)]++;
	}
	for (i = 0; i < QSTORE_BUCKETS; i++)
		used += seen[i] > 0;
	/* Sequential ids must not pile into a few folders. */
	assert_int_equal(used, QSTORE_BUCKETS);
	for (i = 0; i < QSTORE_BUCKETS; i++)
		assert_true(seen[i] < 300);
}

/* info files on disk: written atomically, read back, absent means "never tried". */
static void
test_info_files(void **state)
{
	const char *dir = *state;
	struct qstore_info a, b;
	char err[256], p[PATH_MAX];

	assert_int_equal(qstore_init(dir, err, sizeof(err)), 0);
	assert_int_equal(qstore_info_read(dir, "1700000000.000001.42", 2, &b, err, sizeof(err)), 0);
	assert_int_equal(qstore_info_init(&a, 2), 0);
	a.tries = 1;
	assert_int_equal(qstore_info_set(&a, 1, QSTORE_DONE, "ok"), 0);
	assert_int_equal(qstore_info_write(dir, "1700000000.000001.42", &a, true, err, sizeof(err)), 0);
	assert_int_equal(qstore_info_read(dir, "1700000000.000001.42", 2, &b, err, sizeof(err)), 1);
	assert_int_equal(b.rcpts[1].status, QSTORE_DONE);
	qstore_info_free(&b);
	/* The envelope says 3 recipients now: the file does not fit, an error, not a guess. */
	assert_int_equal(qstore_info_read(dir, "1700000000.000001.42", 3, &b, err, sizeof(err)), -1);
	/* The start-up shortcut reads the same next time, and nothing without a file. */
	{
		time_t next = 0;

		a.next = 1800000123;
		assert_int_equal(qstore_info_write(dir, "1700000000.000001.42", &a, false, err,
						   sizeof(err)), 0);
		assert_int_equal(qstore_info_next(dir, "1700000000.000001.42", &next), 1);
		assert_int_equal(next, 1800000123);
		assert_int_equal(qstore_info_next(dir, "1700000000.000009.42", &next), 0);
	}
	qstore_remove(dir, "1700000000.000001.42");
	assert_int_equal(qstore_info_path(dir, "1700000000.000001.42", p, sizeof(p)), 0);
	assert_int_equal(access(p, F_OK), -1);
	qstore_info_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_round_trip),
		cmocka_unit_test(test_info_long_reason),
		cmocka_unit_test(test_info_parse_refuses),
		cmocka_unit_test(test_ids_and_buckets),
		cmocka_unit_test_setup_teardown(test_info_files, testutil_setup_tmpdir,
						testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
