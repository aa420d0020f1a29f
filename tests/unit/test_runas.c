/* test_runas.c - unit tests for preparing the folders a daemon writes (lib/config/runas.c); the hand-over to another user is in tests/integration/test_unprivileged.py. */
#include <errno.h>
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

#include "conf.h"
#include "path.h"
#include "runas.h"
#include "testutil.h"

static char *
at(const char *dir, const char *name)
{
	static char p[PATH_MAX];

	assert_int_equal(path_join(p, sizeof(p), dir, name), 0);
	return p;
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

/* A runas without a user: no hand-over, the rest of the rules apply. */
static void
init(struct runas *ra, struct osd_conf *conf, const char *dir)
{
	char err[256];

	conf_defaults(conf);
	snprintf(conf->state_dir, sizeof(conf->state_dir), "%s", dir);
	assert_int_equal(runas_init(ra, conf, err, sizeof(err)), 0);
}

static void
test_runas_user_is_user_else_mail_user(void **state)
{
	struct osd_conf conf;

	(void)state;
	conf_defaults(&conf);
	assert_string_equal(runas_user(&conf), "");
	snprintf(conf.mail_user, sizeof(conf.mail_user), "vpopmail");
	assert_string_equal(runas_user(&conf), "vpopmail");
	snprintf(conf.user, sizeof(conf.user), "osd");
	assert_string_equal(runas_user(&conf), "osd");
}

static void
test_runas_dir_creates_each_name_with_its_mode(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256];

	init(&ra, &conf, dir);
	assert_int_equal(runas_dir(&ra, dir, "queue/tmp", 0700, 0077, RUNAS_WRITE, err,
				   sizeof(err)), 0);
	assert_int_equal(mode_of(at(dir, "queue")), 0700);
	assert_int_equal(mode_of(at(dir, "queue/tmp")), 0700);
	assert_int_equal(ra.npaths, 1);
	assert_string_equal(ra.paths[0].path, at(dir, "queue/tmp"));
	assert_int_equal(runas_drop(&ra, err, sizeof(err)), 0);
}

static void
test_runas_dir_takes_away_world_write_and_adds_owner_bits(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256];

	init(&ra, &conf, dir);
	assert_int_equal(mkdir(at(dir, "open-smtp"), 0700), 0);
	assert_int_equal(chmod(at(dir, "open-smtp"), 0577), 0);
	assert_int_equal(runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof(err)), 0);
	/* Group write is the administrator's choice; world write never. */
	assert_int_equal(mode_of(at(dir, "open-smtp")), 0775);
	assert_int_equal(mkdir(at(dir, "queue"), 0777), 0);
	assert_int_equal(chmod(at(dir, "queue"), 0755), 0);
	assert_int_equal(runas_dir(&ra, dir, "queue", 0700, 0077, RUNAS_WRITE, err, sizeof(err)), 0);
	assert_int_equal(mode_of(at(dir, "queue")), 0700);
	runas_free(&ra);
}

static void
test_runas_dir_refuses_a_symbolic_link_and_leaves_its_target(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256], target[PATH_MAX];

	init(&ra, &conf, dir);
	snprintf(target, sizeof(target), "%s", at(dir, "elsewhere"));
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(chmod(target, 0777), 0);
	assert_int_equal(symlink(target, at(dir, "open-smtp")), 0);
	assert_int_equal(runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open-smtp: is a symbolic link"));
	assert_int_equal(mode_of(target), 0777);
	assert_int_equal(ra.npaths, 0);
}

static void
test_runas_dir_follows_no_link_on_the_way(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256], target[PATH_MAX];

	init(&ra, &conf, dir);
	snprintf(target, sizeof(target), "%s", at(dir, "elsewhere"));
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, at(dir, "queue")), 0);
	assert_int_equal(runas_dir(&ra, dir, "queue/tmp", 0700, 0077, RUNAS_WRITE, err,
				   sizeof(err)), -1);
	assert_non_null(strstr(err, "queue: is a symbolic link"));
	assert_int_equal(access(at(target, "tmp"), F_OK), -1);
	assert_int_equal(mode_of(target), 0755);
}

static void
test_runas_dir_refuses_a_file_where_a_folder_belongs(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256];
	FILE *f;

	init(&ra, &conf, dir);
	assert_non_null(f = fopen(at(dir, "open-smtp"), "w"));
	fclose(f);
	assert_int_equal(runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open-smtp: not a folder"));
}

static void
test_runas_file_refuses_a_hard_link_and_skips_an_absent_file(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256], other[PATH_MAX];
	FILE *f;

	init(&ra, &conf, dir);
	assert_int_equal(runas_file(&ra, dir, "relay.cdb", 0022, RUNAS_REPLACE, err, sizeof(err)),
			 0);
	assert_int_equal(ra.npaths, 0);
	assert_non_null(f = fopen(at(dir, "relay.cdb"), "w"));
	fclose(f);
	assert_int_equal(chmod(at(dir, "relay.cdb"), 0666), 0);
	snprintf(other, sizeof(other), "%s", at(dir, "other"));
	assert_int_equal(link(at(dir, "relay.cdb"), other), 0);
	assert_int_equal(runas_file(&ra, dir, "relay.cdb", 0022, RUNAS_REPLACE, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "relay.cdb: has 2 names"));
	assert_int_equal(mode_of(other), 0666);
	assert_int_equal(unlink(other), 0);
	assert_int_equal(runas_file(&ra, dir, "relay.cdb", 0022, RUNAS_REPLACE, err, sizeof(err)),
			 0);
	assert_int_equal(mode_of(at(dir, "relay.cdb")), 0644);
	runas_free(&ra);
}

static void
test_runas_relay_state_prepares_state_dir_itself(void **state)
{
	const char *dir = *state;
	struct osd_conf conf;
	struct runas ra;
	char err[PATH_MAX + 256], sd[PATH_MAX];

	snprintf(sd, sizeof(sd), "%s", at(dir, "state"));
	init(&ra, &conf, sd);
	assert_int_equal(runas_relay_state(&ra, &conf, err, sizeof(err)), 0);
	assert_int_equal(mode_of(sd) & 0002, 0);
	assert_int_equal(access(at(sd, "open-smtp"), W_OK | X_OK), 0);
	assert_int_equal(ra.npaths, 2);         /* state_dir and open-smtp/; no relay.cdb yet */
	assert_int_equal(runas_drop(&ra, err, sizeof(err)), 0);
	assert_int_equal(ra.npaths, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runas_user_is_user_else_mail_user),
		cmocka_unit_test_setup_teardown(test_runas_dir_creates_each_name_with_its_mode,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runas_dir_takes_away_world_write_and_adds_owner_bits,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runas_dir_refuses_a_symbolic_link_and_leaves_its_target,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runas_dir_follows_no_link_on_the_way,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runas_dir_refuses_a_file_where_a_folder_belongs,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runas_file_refuses_a_hard_link_and_skips_an_absent_file,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_runas_relay_state_prepares_state_dir_itself,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
