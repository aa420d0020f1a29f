/* test_path.c - unit tests for path building without truncation (lib/util/path.c). */
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

#include "path.h"
#include "testutil.h"

static void
test_path_join_puts_one_slash_between(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(path_join(out, sizeof(out), "/var/lib/osd", "relay.cdb"), 0);
	assert_string_equal(out, "/var/lib/osd/relay.cdb");
	assert_int_equal(path_join(out, sizeof(out), "/var/lib/osd/", "x"), 0);
	assert_string_equal(out, "/var/lib/osd/x");
	assert_int_equal(path_join(out, sizeof(out), "/", "etc"), 0);
	assert_string_equal(out, "/etc");
	assert_int_equal(path_join(out, sizeof(out), "", "name"), 0);
	assert_string_equal(out, "name");
}

static void
test_path_join_exact_fit_succeeds(void **state)
{
	char out[6];

	(void)state;
	/* "ab/cd" is 5 bytes plus the NUL: exactly 6. */
	assert_int_equal(path_join(out, sizeof(out), "ab", "cd"), 0);
	assert_string_equal(out, "ab/cd");
}

static void
test_path_join_too_long_fails_enametoolong_not_truncated(void **state)
{
	char out[5];

	(void)state;
	memset(out, 'x', sizeof(out));
	errno = 0;
	assert_int_equal(path_join(out, sizeof(out), "ab", "cd"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	/* No cut path left behind for a careless caller. */
	assert_string_equal(out, "");
	errno = 0;
	assert_int_equal(path_join(out, 0, "a", "b"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void
test_path_join_out_may_be_dir(void **state)
{
	char out[64] = "/srv/osd";

	(void)state;
	assert_int_equal(path_join(out, sizeof(out), out, "queue"), 0);
	assert_string_equal(out, "/srv/osd/queue");
}

static void
test_path_fmt_formats_and_refuses_truncation(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(path_fmt(out, sizeof(out), "%s/%d", "/q", 17), 0);
	assert_string_equal(out, "/q/17");
	errno = 0;
	assert_int_equal(path_fmt(out, sizeof(out), "%s/%s", "/0123456789", "abcdef"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_string_equal(out, "");
	/* 15 characters fit a 16-byte buffer, 16 do not. */
	assert_int_equal(path_fmt(out, sizeof(out), "%s", "123456789012345"), 0);
	assert_int_equal(path_fmt(out, sizeof(out), "%s", "1234567890123456"), -1);
}

static void
test_path_dirname_matches_dirname3(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "/var/lib/osd/relay.cdb", "/var/lib/osd" },
		{ "/var/lib/osd/", "/var/lib" },
		{ "/var//lib//", "/var" },
		{ "relay.cdb", "." },
		{ "state/relay.cdb", "state" },
		{ "/relay.cdb", "/" },
		{ "/", "/" },
		{ "//", "/" },
		{ "", "." },
		{ ".", "." },
		{ "..", "." },
		{ "a/", "." },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(path_dirname(out, sizeof(out), cases[i].in), 0);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_path_dirname_too_small_fails_enametoolong(void **state)
{
	char out[4];

	(void)state;
	errno = 0;
	assert_int_equal(path_dirname(out, sizeof(out), "/abcd/e"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(path_dirname(out, sizeof(out), "/abcd"), 0);
	assert_string_equal(out, "/");
	assert_int_equal(path_dirname(out, sizeof(out), "/ab/e"), 0);
	assert_string_equal(out, "/ab");
}

static void
test_path_mkdirs_creates_missing_parents(void **state)
{
	char dir[PATH_MAX];
	struct stat st;

	assert_int_equal(path_fmt(dir, sizeof(dir), "%s/a/b//c/", (char *)*state), 0);
	assert_int_equal(path_mkdirs(dir, 0755), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* Like mkdir -p, an existing folder is fine. */
	assert_int_equal(path_mkdirs(dir, 0755), 0);
}

static void
test_path_mkdirs_file_in_the_way_is_enotdir(void **state)
{
	char file[PATH_MAX], dir[PATH_MAX];
	int fd;

	assert_int_equal(path_join(file, sizeof(file), *state, "plain"), 0);
	fd = open(file, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	errno = 0;
	assert_int_equal(path_mkdirs(file, 0755), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(path_join(dir, sizeof(dir), file, "sub/dir"), 0);
	errno = 0;
	assert_int_equal(path_mkdirs(dir, 0755), -1);
	assert_int_equal(errno, ENOTDIR);
}

static void
test_path_mkdirs_rejects_empty_and_overlong(void **state)
{
	char *longdir;
	size_t n = PATH_MAX + 10;

	(void)state;
	errno = 0;
	assert_int_equal(path_mkdirs("", 0755), -1);
	assert_int_equal(errno, ENOENT);
	longdir = malloc(n + 1);
	assert_non_null(longdir);
	memset(longdir, 'a', n);
	longdir[0] = '/';
	longdir[n] = '\0';
	errno = 0;
	assert_int_equal(path_mkdirs(longdir, 0755), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	free(longdir);
}

static void
test_path_mkdirs_relative_path(void **state)
{
	char cwd[PATH_MAX];
	struct stat st;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(*state), 0);
	assert_int_equal(path_mkdirs("rel/x", 0700), 0);
	assert_int_equal(stat("rel/x", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(chdir(cwd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_join_puts_one_slash_between),
		cmocka_unit_test(test_path_join_exact_fit_succeeds),
		cmocka_unit_test(test_path_join_too_long_fails_enametoolong_not_truncated),
		cmocka_unit_test(test_path_join_out_may_be_dir),
		cmocka_unit_test(test_path_fmt_formats_and_refuses_truncation),
		cmocka_unit_test(test_path_dirname_matches_dirname3),
		cmocka_unit_test(test_path_dirname_too_small_fails_enametoolong),
		cmocka_unit_test_setup_teardown(test_path_mkdirs_creates_missing_parents,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_path_mkdirs_file_in_the_way_is_enotdir,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test(test_path_mkdirs_rejects_empty_and_overlong),
		cmocka_unit_test_setup_teardown(test_path_mkdirs_relative_path,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}
