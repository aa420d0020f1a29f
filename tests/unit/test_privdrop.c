/* test_privdrop.c - unit tests for the user and group lookups of the privilege drop (lib/net/privdrop.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <grp.h>
#include <pwd.h>

#include <cmocka.h>

#include "privdrop.h"

/* The user's uid and primary gid; a group given replaces the gid. */
static void
test_privdrop_ids_user_and_group(void **state)
{
	const struct passwd *pw = getpwnam("root");
	const struct group *gr = getgrnam("nogroup") != NULL ? getgrnam("nogroup") : getgrnam("nobody");
	uid_t uid = 42;
	gid_t gid = 42, want_gid;
	char err[256];

	(void)state;
	assert_non_null(pw);
	assert_int_equal(privdrop_ids("root", NULL, &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(uid, pw->pw_uid);
	assert_int_equal(gid, pw->pw_gid);
	assert_int_equal(privdrop_ids("root", "", &uid, &gid, err, sizeof(err)), 0);
	assert_int_equal(gid, pw->pw_gid);
	if (gr != NULL) {
		want_gid = gr->gr_gid;
		assert_int_equal(privdrop_ids("root", gr->gr_name, &uid, &gid, err, sizeof(err)), 0);
		assert_int_equal(uid, 0);
		assert_int_equal(gid, want_gid);
	}
}

/* A missing user or group is an error that names which, and what. */
static void
test_privdrop_ids_unknown_names(void **state)
{
	uid_t uid;
	gid_t gid;
	char err[256];

	(void)state;
	assert_int_equal(privdrop_ids("osd-no-such-user", NULL, &uid, &gid, err, sizeof(err)), -1);
	assert_string_equal(err, "user osd-no-such-user: no such user");
	assert_int_equal(privdrop_ids("root", "osd-no-such-group", &uid, &gid, err, sizeof(err)), -1);
	assert_string_equal(err, "group osd-no-such-group: no such group");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_privdrop_ids_user_and_group),
		cmocka_unit_test(test_privdrop_ids_unknown_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
