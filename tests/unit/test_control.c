/* test_control.c - unit tests for qmail-style control files (lib/util/control.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "path.h"
#include "testutil.h"

/* Write len bytes (NUL bytes allowed) as dir/name. */
static void
put_bytes(const char *dir, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX];
	FILE *fp;

	assert_int_equal(path_join(path, sizeof(path), dir, name), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
put(const char *dir, const char *name, const char *text)
{
	put_bytes(dir, name, text, strlen(text));
}

static void
test_control_read_line_first_meaningful_line_trimmed(void **state)
{
	char out[256];

	put(*state, "me", "# the host name\n\n   mail.example.org \t\r\nsecond.example\n");
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "mail.example.org");
}

/* control_me: control/me, else the host name (never empty). */
static void
test_control_me_file_else_hostname(void **state)
{
	char out[256], host[256] = "";

	control_me(*state, out, sizeof(out));
	if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0')
		assert_string_equal(out, host);
	else
		assert_string_equal(out, "localhost");
	put(*state, "me", "\n# blank means unset\n");
	control_me(*state, out, sizeof(out));
	assert_true(out[0] != '\0');
	put(*state, "me", "mx.example.org\n");
	control_me(*state, out, sizeof(out));
	assert_string_equal(out, "mx.example.org");
}

static void
test_control_read_line_missing_file_gives_default_or_enoent(void **state)
{
	char out[64];

	assert_int_equal(control_read_line(*state, "me", "localhost", out, sizeof(out)), 0);
	assert_string_equal(out, "localhost");
	errno = 0;
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_control_read_line_empty_file_is_like_missing(void **state)
{
	char out[64];

	put(*state, "me", "# only a comment\n\n   \n");
	assert_int_equal(control_read_line(*state, "me", "dflt", out, sizeof(out)), 0);
	assert_string_equal(out, "dflt");
	errno = 0;
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_control_read_line_without_newline(void **state)
{
	char out[64];

	put(*state, "me", "host.example");
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "host.example");
}

static void
test_control_read_line_small_buffer_fails_erange(void **state)
{
	char out[5];

	put(*state, "me", "abcde\n");
	errno = 0;
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), -1);
	assert_int_equal(errno, ERANGE);
	put(*state, "me", "abcd\n");
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "abcd");
}

static void
test_control_read_line_overlong_line_fails_emsgsize(void **state)
{
	char *text = malloc(CONTROL_LINE_MAX + 2);
	char *out = malloc(CONTROL_LINE_MAX + 1);

	assert_non_null(text);
	assert_non_null(out);
	/* Exactly CONTROL_LINE_MAX bytes is allowed. */
	memset(text, 'a', CONTROL_LINE_MAX);
	text[CONTROL_LINE_MAX] = '\n';
	put_bytes(*state, "me", text, CONTROL_LINE_MAX + 1);
	assert_int_equal(control_read_line(*state, "me", NULL, out, CONTROL_LINE_MAX + 1), 0);
	assert_int_equal(strlen(out), CONTROL_LINE_MAX);
	/* One more is not, even though the file holds no newline to find. */
	text[CONTROL_LINE_MAX] = 'a';
	text[CONTROL_LINE_MAX + 1] = '\n';
	put_bytes(*state, "me", text, CONTROL_LINE_MAX + 2);
	errno = 0;
	assert_int_equal(control_read_line(*state, "me", "dflt", out, CONTROL_LINE_MAX + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	free(text);
	free(out);
}

static void
test_control_read_line_nul_byte_fails_einval(void **state)
{
	static const char text[] = "example.com\0.evil.example\n";
	char out[64];

	put_bytes(*state, "me", text, sizeof(text) - 1);
	errno = 0;
	assert_int_equal(control_read_line(*state, "me", "dflt", out, sizeof(out)), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_control_read_line_reads_afresh_each_call(void **state)
{
	char out[64];

	put(*state, "me", "one\n");
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "one");
	put(*state, "me", "two\n");
	assert_int_equal(control_read_line(*state, "me", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "two");
}

static void
test_control_read_line_folder_is_an_error(void **state)
{
	char path[PATH_MAX], out[64];

	assert_int_equal(path_join(path, sizeof(path), *state, "me"), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	errno = 0;
	assert_int_equal(control_read_line(*state, "me", "dflt", out, sizeof(out)), -1);
	assert_int_equal(errno, EISDIR);
}

static void
test_control_read_ulong_parses_number(void **state)
{
	unsigned long v = 0;

	put(*state, "databytes", "  10485760  \n");
	assert_int_equal(control_read_ulong(*state, "databytes", 0, &v), 0);
	assert_int_equal(v, 10485760UL);
	put(*state, "databytes", "0\n");
	assert_int_equal(control_read_ulong(*state, "databytes", 7, &v), 0);
	assert_int_equal(v, 0);
	put(*state, "databytes", "18446744073709551615\n");
	assert_int_equal(control_read_ulong(*state, "databytes", 7, &v), 0);
	assert_true(v == ULONG_MAX);
}

static void
test_control_read_ulong_missing_gives_default(void **state)
{
	unsigned long v = 0;

	assert_int_equal(control_read_ulong(*state, "queuelifetime", 604800, &v), 0);
	assert_int_equal(v, 604800UL);
}

static void
test_control_read_ulong_rejects_non_digits_and_overflow(void **state)
{
	static const char *const bad[] = {
		"-1\n", "+5\n", "12abc\n", "1 2\n", "0x10\n", "1.5\n", "ten\n",
		"18446744073709551616\n", "99999999999999999999999\n",
	};
	unsigned long v = 42;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(*state, "databytes", bad[i]);
		errno = 0;
		assert_int_equal(control_read_ulong(*state, "databytes", 0, &v), -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(v, 42);
}

/* control_read_seconds: the bound itself is accepted; one more is refused with the default and a message. */
static void
test_control_read_seconds_bounds(void **state)
{
	unsigned long v = 42;
	char err[256];

	/* Missing: the default, no message. */
	assert_int_equal(control_read_seconds(*state, "timeoutremote", 1200, 1, CONTROL_TIMEOUT_MAX,
					      &v, err, sizeof(err)), 0);
	assert_int_equal(v, 1200);
	assert_string_equal(err, "");

	put(*state, "timeoutremote", "86400\n");
	assert_int_equal(control_read_seconds(*state, "timeoutremote", 1200, 1, CONTROL_TIMEOUT_MAX,
					      &v, err, sizeof(err)), 0);
	assert_int_equal(v, 86400);

	put(*state, "timeoutremote", "86401\n");
	errno = 0;
	assert_int_equal(control_read_seconds(*state, "timeoutremote", 1200, 1, CONTROL_TIMEOUT_MAX,
					      &v, err, sizeof(err)), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(v, 1200);
	assert_string_equal(err, "control/timeoutremote: 86401 is out of range (1 to 86400 seconds); "
				 "using 1200");

	put(*state, "timeoutremote", "0\n");
	assert_int_equal(control_read_seconds(*state, "timeoutremote", 1200, 1, CONTROL_TIMEOUT_MAX,
					      &v, err, sizeof(err)), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(v, 1200);

	/* queuelifetime: 0 is allowed (qmail: the first failure is final), 100 days at most. */
	put(*state, "queuelifetime", "0\n");
	assert_int_equal(control_read_seconds(*state, "queuelifetime", 604800, 0,
					      CONTROL_QUEUELIFETIME_MAX, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 0);
	put(*state, "queuelifetime", "8640000\n");
	assert_int_equal(control_read_seconds(*state, "queuelifetime", 604800, 0,
					      CONTROL_QUEUELIFETIME_MAX, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 8640000);
	put(*state, "queuelifetime", "8640001\n");
	assert_int_equal(control_read_seconds(*state, "queuelifetime", 604800, 0,
					      CONTROL_QUEUELIFETIME_MAX, &v, err, sizeof(err)), -1);
	assert_int_equal(v, 604800);
	assert_string_equal(err, "control/queuelifetime: 8640001 is out of range (0 to 8640000 "
				 "seconds); using 604800");

	/* More digits than a long holds, and words: the default, said clearly. */
	put(*state, "queuelifetime", "9223372036854775807999\n");
	assert_int_equal(control_read_seconds(*state, "queuelifetime", 604800, 0,
					      CONTROL_QUEUELIFETIME_MAX, &v, err, sizeof(err)), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(v, 604800);
	assert_string_equal(err, "control/queuelifetime: \"9223372036854775807999\" is too large; "
				 "using 604800");
	put(*state, "timeoutsmtpd", "20m\n");
	assert_int_equal(control_read_seconds(*state, "timeoutsmtpd", 1200, 1, CONTROL_TIMEOUT_MAX,
					      &v, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(v, 1200);
	assert_string_equal(err, "control/timeoutsmtpd: \"20m\" is not a number of seconds; using 1200");
}

static void
test_control_read_lines_skips_comments_and_blanks(void **state)
{
	struct control_lines cl;

	put(*state, "rcpthosts",
	    "# local domains\n"
	    "example.org\n"
	    "\n"
	    "   \t\n"
	    "  example.net  \r\n"
	    "   # indented comment\n"
	    ".example.com\n"
	    "last.example");
	assert_int_equal(control_read_lines(*state, "rcpthosts", &cl), 0);
	assert_int_equal(cl.count, 4);
	assert_string_equal(cl.lines[0], "example.org");
	assert_string_equal(cl.lines[1], "example.net");
	assert_string_equal(cl.lines[2], ".example.com");
	assert_string_equal(cl.lines[3], "last.example");
	/* The file's own line numbers, for osd config check's "file:line" messages. */
	assert_int_equal(cl.linenos[0], 2);
	assert_int_equal(cl.linenos[1], 5);
	assert_int_equal(cl.linenos[2], 7);
	assert_int_equal(cl.linenos[3], 8);
	control_lines_free(&cl);
	assert_null(cl.lines);
	assert_int_equal(cl.count, 0);
}

/* The text in memory gives what the same file gives, and the same errors, without I/O. */
static void
test_control_parse_lines_same_as_the_file(void **state)
{
	static const char text[] = "# local domains\nexample.org\n\n  example.net  \r\nlast.example";
	char longline[CONTROL_LINE_MAX + 2];
	struct control_lines cl;

	(void)state;
	assert_int_equal(control_parse_lines(text, sizeof(text) - 1, &cl), 0);
	assert_int_equal(cl.count, 3);
	assert_string_equal(cl.lines[0], "example.org");
	assert_string_equal(cl.lines[1], "example.net");
	assert_string_equal(cl.lines[2], "last.example");
	assert_int_equal(cl.linenos[2], 5);
	control_lines_free(&cl);
	/* Only len octets are read: the rest of the buffer is not part of it. */
	assert_int_equal(control_parse_lines(text, 27, &cl), 0);
	assert_int_equal(cl.count, 1);
	assert_string_equal(cl.lines[0], "example.org");
	control_lines_free(&cl);
	assert_int_equal(control_parse_lines("", 0, &cl), 0);
	assert_int_equal(cl.count, 0);
	/* A NUL byte and an overlong line: all or nothing, with the line. */
	assert_int_equal(control_parse_lines("a\nb\0c\n", 6, &cl), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cl.count, 0);
	assert_int_equal(cl.bad_line, 2);
	memset(longline, 'x', sizeof(longline));
	assert_int_equal(control_parse_lines(longline, sizeof(longline), &cl), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(cl.bad_line, 1);
}

static void
test_control_read_lines_missing_file_is_empty_list(void **state)
{
	struct control_lines cl;

	assert_int_equal(control_read_lines(*state, "morercpthosts", &cl), 0);
	assert_int_equal(cl.count, 0);
	control_lines_free(&cl);
}

static void
test_control_read_lines_many_lines(void **state)
{
	struct control_lines cl;
	char path[PATH_MAX], want[32];
	FILE *fp;
	int i;

	assert_int_equal(path_join(path, sizeof(path), *state, "rcpthosts"), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (i = 0; i < 5000; i++)
		fprintf(fp, "d%d.example\n", i);
	fclose(fp);
	assert_int_equal(control_read_lines(*state, "rcpthosts", &cl), 0);
	assert_int_equal(cl.count, 5000);
	snprintf(want, sizeof(want), "d%d.example", 4999);
	assert_string_equal(cl.lines[4999], want);
	control_lines_free(&cl);
}

static void
test_control_read_lines_overlong_line_fails_emsgsize(void **state)
{
	struct control_lines cl;
	size_t n = CONTROL_LINE_MAX * 3;
	char *text = malloc(n + 32);

	assert_non_null(text);
	memcpy(text, "ok.example\n", 11);
	memset(text + 11, 'x', n);
	memcpy(text + 11 + n, "\nafter\n", 7);
	put_bytes(*state, "rcpthosts", text, 11 + n + 7);
	errno = 0;
	assert_int_equal(control_read_lines(*state, "rcpthosts", &cl), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(cl.bad_line, 2);       /* the line that is too long */
	/* All or nothing: no partial list is handed back. */
	assert_null(cl.lines);
	assert_int_equal(cl.count, 0);
	free(text);
}

static void
test_control_read_lines_nul_byte_fails_einval(void **state)
{
	static const char text[] = "a.example\nb.example\0c.example\n";
	struct control_lines cl;

	put_bytes(*state, "badmailfrom", text, sizeof(text) - 1);
	errno = 0;
	assert_int_equal(control_read_lines(*state, "badmailfrom", &cl), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cl.count, 0);
}

static void
test_control_read_lines_file_over_max_fails_efbig(void **state)
{
	struct control_lines cl;
	char path[PATH_MAX];
	char *chunk;
	size_t chunk_size = 1024 * 1024, written = 0, i;
	FILE *fp;

	/* Short valid lines, so only the total size is wrong. */
	chunk = malloc(chunk_size);
	assert_non_null(chunk);
	for (i = 0; i < chunk_size; i += 16)
		memcpy(chunk + i, "x.example.org.\n\n", 16);
	assert_int_equal(path_join(path, sizeof(path), *state, "morercpthosts"), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	while (written <= CONTROL_FILE_MAX) {
		assert_int_equal(fwrite(chunk, 1, chunk_size, fp), chunk_size);
		written += chunk_size;
	}
	assert_int_equal(fclose(fp), 0);
	free(chunk);
	errno = 0;
	assert_int_equal(control_read_lines(*state, "morercpthosts", &cl), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(cl.count, 0);
	assert_int_equal(unlink(path), 0);
}

static void
test_control_read_lines_overlong_dir_fails_enametoolong(void **state)
{
	struct control_lines cl;
	char *dir = malloc(PATH_MAX + 2);

	(void)state;
	assert_non_null(dir);
	memset(dir, 'd', PATH_MAX + 1);
	dir[0] = '/';
	dir[PATH_MAX + 1] = '\0';
	errno = 0;
	assert_int_equal(control_read_lines(dir, "rcpthosts", &cl), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	free(dir);
}

#define T(name) cmocka_unit_test_setup_teardown(name, testutil_setup_tmpdir, testutil_teardown_tmpdir)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_control_read_line_first_meaningful_line_trimmed),
		T(test_control_read_line_missing_file_gives_default_or_enoent),
		T(test_control_read_line_empty_file_is_like_missing),
		T(test_control_read_line_without_newline),
		T(test_control_me_file_else_hostname),
		T(test_control_read_line_small_buffer_fails_erange),
		T(test_control_read_line_overlong_line_fails_emsgsize),
		T(test_control_read_line_nul_byte_fails_einval),
		T(test_control_read_line_reads_afresh_each_call),
		T(test_control_read_line_folder_is_an_error),
		T(test_control_read_ulong_parses_number),
		T(test_control_read_ulong_missing_gives_default),
		T(test_control_read_ulong_rejects_non_digits_and_overflow),
		T(test_control_read_seconds_bounds),
		T(test_control_read_lines_skips_comments_and_blanks),
		T(test_control_read_lines_missing_file_is_empty_list),
		cmocka_unit_test(test_control_parse_lines_same_as_the_file),
		T(test_control_read_lines_many_lines),
		T(test_control_read_lines_overlong_line_fails_emsgsize),
		T(test_control_read_lines_nul_byte_fails_einval),
		T(test_control_read_lines_file_over_max_fails_efbig),
		cmocka_unit_test(test_control_read_lines_overlong_dir_fails_enametoolong),
	};

	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
