/* test_maildir_deliver.c - unit tests for Maildir delivery, unique names and quota use (smtp-gate/local/maildir_deliver.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "maildir_deliver.h"
#include "maildir_name.h"
#include "path.h"
#include "testutil.h"
#include "userdb.h"

/* dir/Maildir with tmp, new and cur; its path into out. */
static void
make_maildir(const char *dir, char *out, size_t size)
{
	char sub[PATH_MAX];

	assert_int_equal(path_join(out, size, dir, "Maildir"), 0);
	assert_int_equal(mkdir(out, 0700), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(path_join(sub, sizeof(sub), out, (const char *[]){ "tmp", "new", "cur" }[i]), 0);
		assert_int_equal(mkdir(sub, 0700), 0);
	}
}

static void
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	assert_int_equal(path_join(path, sizeof(path), dir, name), 0);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
}

/* Names in maildir/sub (at most max), their count returned. */
static int
list(const char *maildir, const char *sub, char names[][MAILDIR_NAME_MAX + 1], int max)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_int_equal(path_join(path, sizeof(path), maildir, sub), 0);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n < max)
			snprintf(names[n], MAILDIR_NAME_MAX + 1, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* A queue-like file: an envelope, an empty line, then body; fd and the body's offset. */
static int
message_fd(const char *dir, const char *body, off_t *offset_r)
{
	static const char envelope[] = "osd-queue 1\nfrom a@example.org\nto b@example.test\n\n";
	char path[PATH_MAX];
	int fd;

	write_file(dir, "queuefile", envelope, sizeof(envelope) - 1);
	assert_int_equal(path_join(path, sizeof(path), dir, "queuefile"), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write_all(fd, body, strlen(body)), 0);
	close(fd);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	*offset_r = (off_t)(sizeof(envelope) - 1);
	return fd;
}

static void
test_maildir_deliver_unique_name_format(void **state)
{
	char name[MAILDIR_NAME_MAX + 1];
	uint64_t size;

	(void)state;
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1718000000, 42, 31337,
					     "mail.example.test", 1234), 0);
	assert_string_equal(name, "1718000000.M000042P31337.mail.example.test,S=1234");
	assert_true(maildir_name_size(name, strlen(name), &size));
	assert_int_equal(size, 1234);
	/* The Maildir spec's escapes, and ',' which would cut the S= field short. */
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1, 999999, 2, "a/b:c,d\\e f", 0), 0);
	assert_string_equal(name, "1.M999999P2.a\\057b\\072c\\054d\\134e\\040f,S=0");
	/* No host name: still a valid name. */
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1, 0, 2, "", 7), 0);
	assert_string_equal(name, "1.M000000P2.localhost,S=7");
	/* A short buffer is an error, not a cut name. */
	assert_int_equal(maildir_unique_name(name, 20, 1718000000, 42, 31337, "host", 1234), -1);
}

static void
test_maildir_deliver_unique_name_bounds_the_host(void **state)
{
	char name[MAILDIR_NAME_MAX + 1], host[300];

	(void)state;
	memset(host, ':', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1718000000, 1, 2147483647, host,
					     UINT64_MAX), 0);
	assert_true(strlen(name) < 200);
	/* Escapes are never cut in half. */
	assert_true(strstr(name, ",S=18446744073709551615") != NULL);
	assert_int_equal((strstr(name, ",S=") - strchr(name + 12, '.') - 1) % 4, 0);
}

static void
test_maildir_deliver_quota_parsing_edge_cases(void **state)
{
	struct userdb_quota q;

	(void)state;
	/* vpasswd's forms, as osd-local reads them through lib/userdb. */
	assert_int_equal(userdb_parse_quota("NOQUOTA", &q), 0);
	assert_true(q.bytes == 0 && q.count == 0);
	assert_int_equal(userdb_parse_quota("noquota", &q), 0);
	assert_true(q.bytes == 0 && q.count == 0);
	assert_int_equal(userdb_parse_quota("", &q), 0);
	assert_int_equal(userdb_parse_quota("1000S", &q), 0);
	assert_true(q.bytes == 1000 && q.count == 0);
	assert_int_equal(userdb_parse_quota("1000S,2C", &q), 0);
	assert_true(q.bytes == 1000 && q.count == 2);
	assert_int_equal(userdb_parse_quota("5C", &q), 0);
	assert_true(q.bytes == 0 && q.count == 5);
	assert_int_equal(userdb_parse_quota("1000", &q), 0);
	assert_true(q.bytes == 1000);
	assert_int_equal(userdb_parse_quota("18446744073709551615S", &q), 0);
	assert_true(q.bytes == UINT64_MAX);
	assert_int_equal(userdb_parse_quota("18446744073709551616S", &q), -1);
	assert_int_equal(userdb_parse_quota("-1S", &q), -1);
	assert_int_equal(userdb_parse_quota("S", &q), -1);
	assert_int_equal(userdb_parse_quota("1000S,", &q), -1);
	assert_int_equal(userdb_parse_quota("1000X", &q), -1);
}

static void
test_maildir_deliver_over_quota(void **state)
{
	struct userdb_quota none = { 0, 0 }, bytes = { 1000, 0 }, count = { 0, 3 }, both = { 1000, 3 };
	struct maildir_usage use = { 900, 2 }, full = { 1200, 3 }, huge = { UINT64_MAX, 0 };

	(void)state;
	assert_false(maildir_over_quota(&none, &full, UINT64_MAX));
	assert_false(maildir_over_quota(&bytes, &use, 100));     /* exactly fills it */
	assert_true(maildir_over_quota(&bytes, &use, 101));
	assert_true(maildir_over_quota(&bytes, &full, 0));       /* already over */
	assert_true(maildir_over_quota(&bytes, &huge, 1));
	assert_false(maildir_over_quota(&count, &use, 5000));    /* the third message fits */
	assert_true(maildir_over_quota(&count, &full, 1));
	assert_true(maildir_over_quota(&both, &use, 200));
	/* A message that can never fit: over (no overflow in use + size). */
	assert_true(maildir_over_quota(&bytes, &(struct maildir_usage){ 0, 0 }, UINT64_MAX));
}

static void
test_maildir_deliver_usage_counts_new_cur_and_folders(void **state)
{
	const char *dir = *state;
	char maildir[PATH_MAX], sub[PATH_MAX], err[256];
	struct maildir_usage use;

	make_maildir(dir, maildir, sizeof(maildir));
	assert_int_equal(path_join(sub, sizeof(sub), maildir, "new"), 0);
	/* The S= field is believed (the file may be smaller here); no field: stat. */
	write_file(sub, "1.M1P1.h,S=100", "x", 1);
	write_file(sub, "2.M1P1.h", "12345", 5);
	assert_int_equal(path_join(sub, sizeof(sub), maildir, "cur"), 0);
	write_file(sub, "3.M1P1.h,S=1000:2,S", "", 0);
	write_file(sub, ".hidden", "1234567890", 10);
	/* tmp/ is not mail yet. */
	assert_int_equal(path_join(sub, sizeof(sub), maildir, "tmp"), 0);
	write_file(sub, "4.M1P1.h,S=50000", "", 0);
	/* A Maildir++ folder counts; a folder without new/ is fine. */
	assert_int_equal(path_join(sub, sizeof(sub), maildir, ".Sent"), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(path_join(sub, sizeof(sub), maildir, ".Sent/cur"), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(sub, "5.M1P1.h,S=7:2,S", "", 0);
	assert_int_equal(path_join(sub, sizeof(sub), maildir, ".Empty"), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(maildir_usage(maildir, &use, err, sizeof(err)), 0);
	assert_int_equal(use.bytes, 100 + 5 + 1000 + 7);
	assert_int_equal(use.count, 4);
	/* No Maildir at all: nothing used. */
	assert_int_equal(path_join(sub, sizeof(sub), dir, "nothing"), 0);
	assert_int_equal(maildir_usage(sub, &use, err, sizeof(err)), 0);
	assert_int_equal(use.bytes, 0);
	assert_int_equal(use.count, 0);
}

static void
test_maildir_deliver_writes_head_and_body_and_leaves_no_tmp(void **state)
{
	const char *dir = *state;
	const char head[] = "Return-Path: <a@example.org>\nDelivered-To: b@example.test\n";
	const char *body = "Subject: hi\n\nHello.\n";
	char maildir[PATH_MAX], path[PATH_MAX], err[256], names[4][MAILDIR_NAME_MAX + 1];
	char name[MAILDIR_NAME_MAX + 1], got[512];
	struct stat st;
	uint64_t size;
	off_t offset;
	ssize_t n;
	int fd, in;

	make_maildir(dir, maildir, sizeof(maildir));
	in = message_fd(dir, body, &offset);
	assert_int_equal(maildir_deliver(maildir, head, strlen(head), in, offset, strlen(body), true,
					 name, err, sizeof(err)), 0);
	/* pread: stdin's own offset is left alone. */
	assert_int_equal(lseek(in, 0, SEEK_CUR), 0);
	close(in);
	assert_int_equal(list(maildir, "tmp", names, 4), 0);
	assert_int_equal(list(maildir, "new", names, 4), 1);
	assert_string_equal(names[0], name);
	assert_true(maildir_name_size(name, strlen(name), &size));
	assert_int_equal(size, strlen(head) + strlen(body));
	assert_int_equal(path_fmt(path, sizeof(path), "%s/new/%s", maildir, name), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)size);
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = open(path, O_RDONLY);
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	assert_true(n > 0);
	got[n] = '\0';
	assert_int_equal(strncmp(got, head, strlen(head)), 0);
	assert_string_equal(got + strlen(head), body);
}

static void
test_maildir_deliver_two_deliveries_get_two_names(void **state)
{
	const char *dir = *state;
	char maildir[PATH_MAX], err[256], a[MAILDIR_NAME_MAX + 1], b[MAILDIR_NAME_MAX + 1];
	char names[4][MAILDIR_NAME_MAX + 1];
	off_t offset;
	int in;

	make_maildir(dir, maildir, sizeof(maildir));
	in = message_fd(dir, "x\n", &offset);
	assert_int_equal(maildir_deliver(maildir, "", 0, in, offset, 2, false, a, err, sizeof(err)), 0);
	assert_int_equal(maildir_deliver(maildir, "", 0, in, offset, 2, false, b, err, sizeof(err)), 0);
	close(in);
	assert_string_not_equal(a, b);
	assert_int_equal(list(maildir, "new", names, 4), 2);
	assert_int_equal(list(maildir, "tmp", names, 4), 0);
}

static void
test_maildir_deliver_large_message_in_chunks(void **state)
{
	const char *dir = *state;
	size_t len = 3 * DELIVER_CHUNK + 17;
	char *body = malloc(len + 1), maildir[PATH_MAX], path[PATH_MAX], err[256];
	char name[MAILDIR_NAME_MAX + 1];
	struct stat st;
	off_t offset;
	int in;

	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	body[len] = '\0';
	make_maildir(dir, maildir, sizeof(maildir));
	in = message_fd(dir, body, &offset);
	assert_int_equal(maildir_deliver(maildir, "H: 1\n", 5, in, offset, len, false, name, err,
					 sizeof(err)), 0);
	close(in);
	assert_int_equal(path_fmt(path, sizeof(path), "%s/new/%s", maildir, name), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)(len + 5));
	free(body);
}

static void
test_maildir_deliver_failures_leave_nothing(void **state)
{
	const char *dir = *state;
	char maildir[PATH_MAX], path[PATH_MAX], err[256], names[4][MAILDIR_NAME_MAX + 1];
	char name[MAILDIR_NAME_MAX + 1];
	off_t offset;
	int in;

	make_maildir(dir, maildir, sizeof(maildir));
	in = message_fd(dir, "short\n", &offset);
	/* The message ends before the promised length: EIO, and tmp/ is cleaned up. */
	assert_int_equal(maildir_deliver(maildir, "", 0, in, offset, 1000, false, name, err,
					 sizeof(err)), -1);
	assert_int_equal(errno, EIO);
	assert_true(strstr(err, "write") != NULL);
	assert_int_equal(list(maildir, "tmp", names, 4), 0);
	assert_int_equal(list(maildir, "new", names, 4), 0);
	/* No Maildir: an error naming it. */
	assert_int_equal(path_join(path, sizeof(path), dir, "missing"), 0);
	assert_int_equal(maildir_deliver(path, "", 0, in, offset, 6, false, name, err, sizeof(err)),
			 -1);
	assert_int_equal(errno, ENOENT);
	assert_true(strstr(err, "missing") != NULL);
	close(in);
}

/* A keyed delivery is found again by its key, in new/ and after a reader moved it to cur/. */
static void
test_maildir_deliver_find_key(void **state)
{
	const char *dir = *state;
	char maildir[PATH_MAX], err[256], name[MAILDIR_NAME_MAX + 1], found[MAILDIR_NAME_MAX + 1];
	char from[PATH_MAX], to[PATH_MAX];
	off_t offset;
	int in;

	make_maildir(dir, maildir, sizeof(maildir));
	in = message_fd(dir, "x\n", &offset);
	assert_int_equal(maildir_find_key(maildir, "1718000000.000001.42.0", found, err,
					  sizeof(err)), 0);
	assert_int_equal(maildir_deliver_keyed(maildir, "1718000000.000001.42.1", "", 0, in, offset,
					       2, false, name, err, sizeof(err)), 0);
	close(in);
	assert_non_null(strstr(name, ",S=2,Q=1718000000.000001.42.1"));
	assert_int_equal(maildir_find_key(maildir, "1718000000.000001.42.1", found, err,
					  sizeof(err)), 1);
	assert_string_equal(found, name);
	/* Another recipient of the same message, and a key that is a prefix of it: not found. */
	assert_int_equal(maildir_find_key(maildir, "1718000000.000001.42.0", found, err,
					  sizeof(err)), 0);
	assert_int_equal(maildir_find_key(maildir, "1718000000.000001.42", found, err,
					  sizeof(err)), 0);
	/* Read by a client: cur/NAME:2,S is still found. */
	assert_int_equal(path_fmt(from, sizeof(from), "%s/new/%s", maildir, name), 0);
	assert_int_equal(path_fmt(to, sizeof(to), "%s/cur/%s:2,S", maildir, name), 0);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(maildir_find_key(maildir, "1718000000.000001.42.1", found, err,
					  sizeof(err)), 1);
	/* Deleted by its owner: gone (that delivery would be made again). */
	assert_int_equal(unlink(to), 0);
	assert_int_equal(maildir_find_key(maildir, "1718000000.000001.42.1", found, err,
					  sizeof(err)), 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testutil_setup_tmpdir, testutil_teardown_tmpdir)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maildir_deliver_unique_name_format),
		cmocka_unit_test(test_maildir_deliver_unique_name_bounds_the_host),
		cmocka_unit_test(test_maildir_deliver_quota_parsing_edge_cases),
		cmocka_unit_test(test_maildir_deliver_over_quota),
		T(test_maildir_deliver_usage_counts_new_cur_and_folders),
		T(test_maildir_deliver_writes_head_and_body_and_leaves_no_tmp),
		T(test_maildir_deliver_two_deliveries_get_two_names),
		T(test_maildir_deliver_large_message_in_chunks),
		T(test_maildir_deliver_failures_leave_nothing),
		T(test_maildir_deliver_find_key),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
