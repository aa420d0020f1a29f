/* test_imap_quota.c - unit tests for imapd/imap_quota.c: the Maildir++ maildirsize, read, appended to, and recalculated when Maildir++ asks. */
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "buf.h"
#include "imap_quota.h"
#include "path.h"
#include "testutil.h"

static int
setup_root(void **state)
{
	char *root = testutil_mkdtemp("imapquota");

	if (root == NULL)
		return -1;
	*state = root;
	return 0;
}

static void
put(const char *root, const char *rel, const char *text)
{
	char p[PATH_MAX];
	int fd;

	assert_int_equal(path_join(p, sizeof(p), root, rel), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static void
mkdirs(const char *root, const char *rel)
{
	char p[PATH_MAX];

	assert_int_equal(path_join(p, sizeof(p), root, rel), 0);
	assert_int_equal(mkdir(p, 0700), 0);
}

/*
 * INBOX 100 + 23 (a name without ,S=: its 23 octets stat'ed) in cur/ and
 * new/, .Sent 200, .Trash 5000 (left out), tmp/ 999 (left out): 323
 * octets in 3 messages.
 */
static void
make_maildir(const char *root)
{
	static const char *const dirs[] = { "cur", "new", "tmp", ".Sent", ".Sent/cur", ".Sent/new", ".Trash",
					    ".Trash/cur", ".Trash/new" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		mkdirs(root, dirs[i]);
	put(root, "cur/1700000001.M1P1.h,S=100:2,S", "x");
	put(root, "new/1700000002.M2P1.h", "twenty-three octets...\n");
	put(root, "tmp/1700000003.M3P1.h,S=999", "x");
	put(root, ".Sent/cur/1700000004.M4P1.h,S=200:2,S", "x");
	put(root, ".Trash/cur/1700000005.M5P1.h,S=5000:2,ST", "x");
}

static void
read_size_file(const char *root, struct buf *b)
{
	char p[PATH_MAX];
	int fd;

	assert_int_equal(path_join(p, sizeof(p), root, IMAP_QUOTA_NAME), 0);
	buf_init(b, 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(buf_read_fd(b, fd), 0);
	assert_int_equal(buf_append_char(b, '\0'), 0);
	b->len--;
	close(fd);
}

/* The sums: cur/ and new/ of the root and every folder but .Trash; ,S= else stat. */
static void
test_imap_quota_sum_folders_not_trash(void **state)
{
	const char *root = *state;
	uint64_t bytes, count;

	make_maildir(root);
	assert_int_equal(imap_quota_sum(root, &bytes, &count), 0);
	assert_int_equal(bytes, 323);
	assert_int_equal(count, 3);
}

/* A maildirsize with its definition line only (as maildirmake -q writes it) is counted at once. */
static void
test_imap_quota_definition_only_recalculated(void **state)
{
	const char *root = *state;
	struct buf b;
	bool over;

	make_maildir(root);
	put(root, IMAP_QUOTA_NAME, "400S,10C\n");
	assert_int_equal(imap_quota_check(root, 50, 1, &over), 0);
	assert_false(over);
	read_size_file(root, &b);
	assert_string_equal(b.data, "400S,10C\n323 3\n");
	buf_free(&b);
	assert_int_equal(imap_quota_check(root, 78, 1, &over), 0);
	assert_true(over);
}

/* Past 5120 octets the file is recalculated: after an append that makes it so, and when read. */
static void
test_imap_quota_long_file_recalculated(void **state)
{
	const char *root = *state;
	struct buf b, text;
	bool over;
	int i;

	make_maildir(root);
	/* Lines that sum to 5 messages of 1000 octets more than there are: wrong, as drift makes it. */
	buf_init(&text, 0);
	assert_int_equal(buf_printf(&text, "100000S\n1323 8\n"), 0);
	for (i = 0; text.len <= 5100; i++)
		assert_int_equal(buf_printf(&text, "%d %d\n", i % 2 == 0 ? 7 : -7, i % 2 == 0 ? 1 : -1), 0);
	/* 5109-5112 octets: "10 1\n" keeps it at most 5120, "-10 -1\n" then takes it past. */
	while (text.len < 5109)
		assert_int_equal(buf_printf(&text, "0 0\n"), 0);
	assert_int_equal(buf_append_char(&text, '\0'), 0);
	put(root, IMAP_QUOTA_NAME, text.data);
	/* Still at most 5120 octets: appended to, not recalculated. */
	assert_int_equal(imap_quota_add(root, 10, 1), 0);
	read_size_file(root, &b);
	assert_true(b.len > 5113 && b.len <= 5120);
	buf_free(&b);
	/* The line that takes it past: recalculated from the folders (the delta's file does not exist here). */
	assert_int_equal(imap_quota_add(root, -10, -1), 0);
	read_size_file(root, &b);
	assert_string_equal(b.data, "100000S\n323 3\n");
	buf_free(&b);
	/* Read when long (another writer made it so): recalculated before the check. */
	text.len--;
	while (text.len <= 5120)
		assert_int_equal(buf_printf(&text, "0 0\n"), 0);
	assert_int_equal(buf_append_char(&text, '\0'), 0);
	put(root, IMAP_QUOTA_NAME, text.data);
	assert_int_equal(imap_quota_check(root, 1, 1, &over), 0);
	assert_false(over);
	read_size_file(root, &b);
	assert_string_equal(b.data, "100000S\n323 3\n");
	buf_free(&b);
	buf_free(&text);
}

/*
 * "Over" by a file older than 15 minutes: recalculated before refusing
 * (pop3d and deliveries changed the folders without a line); a fresh one
 * is believed.
 */
static void
test_imap_quota_stale_over_recalculated(void **state)
{
	const char *root = *state;
	struct timespec old[2];
	char p[PATH_MAX];
	struct buf b;
	bool over;

	make_maildir(root);
	put(root, IMAP_QUOTA_NAME, "1000S\n990 9\n");
	assert_int_equal(imap_quota_check(root, 20, 1, &over), 0);
	assert_true(over);
	read_size_file(root, &b);
	assert_string_equal(b.data, "1000S\n990 9\n");
	buf_free(&b);
	clock_gettime(CLOCK_REALTIME, &old[0]);
	old[0].tv_sec -= 16 * 60;
	old[1] = old[0];
	assert_int_equal(path_join(p, sizeof(p), root, IMAP_QUOTA_NAME), 0);
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	assert_int_equal(imap_quota_check(root, 20, 1, &over), 0);
	assert_false(over);
	read_size_file(root, &b);
	assert_string_equal(b.data, "1000S\n323 3\n");
	buf_free(&b);
}

/* No file, or a first line that is no definition: no quota, and nothing written. */
static void
test_imap_quota_none_or_malformed_limits_nothing(void **state)
{
	const char *root = *state;
	struct buf b;
	bool over;

	make_maildir(root);
	assert_int_equal(imap_quota_check(root, 1u << 30, 1, &over), 0);
	assert_false(over);
	assert_int_equal(imap_quota_add(root, 5, 1), 0);
	put(root, IMAP_QUOTA_NAME, "lots\n");
	assert_int_equal(imap_quota_check(root, 1u << 30, 1, &over), 0);
	assert_false(over);
	read_size_file(root, &b);
	assert_string_equal(b.data, "lots\n");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_imap_quota_sum_folders_not_trash, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_quota_definition_only_recalculated, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_quota_long_file_recalculated, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_quota_stale_over_recalculated, setup_root,
						testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_quota_none_or_malformed_limits_nothing, setup_root,
						testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
