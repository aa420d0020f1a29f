/* test_checkpw_login.c - unit tests for checkpassword/checkpw_login.c: the POP3 login of osd checkpassword, by password and, as vchkpw, by an APOP digest of the timestamp. */
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

#include <cmocka.h>

#include "checkpw_login.h"
#include "cram.h"
#include "path.h"
#include "testutil.h"
#include "userdb.h"

#define TS "<4711.1700000000@pop.example.org>"

struct fixture {
	char *root;
	char users[PATH_MAX];
	char dom[PATH_MAX];
	struct login_db db;
};

/* example.org: every password is "pw"; alice, nopop and norelay have the cleartext field "clear". */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];
	static const struct testutil_vuser users[] = {
		{ "alice", 0, "clear" },
		{ "nopop", USERDB_NO_POP, "clear" },
		{ "norelay", USERDB_NO_RELAY, "clear" },
		{ "plainonly", 0, "" },
	};

	assert_non_null(f);
	assert_non_null(f->root = testutil_mkdtemp("checkpw"));
	assert_int_equal(path_join(f->users, sizeof(f->users), f->root, "domains"), 0);
	assert_int_equal(path_join(f->dom, sizeof(f->dom), f->users, "example.org"), 0);
	assert_int_equal(testutil_write_vpasswd(f->users, "example.org", "pw", users,
						sizeof(users) / sizeof(users[0])), 0);
	/* broken.org: its vpasswd is a folder, so it cannot be read (a temporary error). */
	assert_int_equal(path_join(path, sizeof(path), f->users, "broken.org/vpasswd"), 0);
	assert_int_equal(path_mkdirs(path, 0700), 0);
	f->db = (struct login_db){ .users_dir = f->users, .default_domain = "example.org" };
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testutil_rmtree(f->root);
	free(f->root);
	free(f);
	return 0;
}

/* checkpw_login of login/password/timestamp; home and no_relay out, err in *why. */
static int
check(struct fixture *f, const char *login, const char *password, const char *ts, char **home,
      bool *no_relay, const char **why)
{
	static char err[256];
	struct checkpw_input in = { .login = login, .password = password, .timestamp = ts };

	err[0] = '\0';
	*home = NULL;
	*no_relay = false;
	*why = err;
	return checkpw_login(&f->db, &in, home, no_relay, err, sizeof(err));
}

/* The APOP digest qmail-popup's APOP command hands over for secret. */
static const char *
digest(const char *secret)
{
	static char hex[CRAM_HEX_SIZE];

	assert_int_equal(cram_apop_digest(TS, secret, hex), 0);
	return hex;
}

/* The password logs in (bare name in default_domain or user@domain); home and NO_RELAY come back. */
static void
test_checkpw_login_password(void **state)
{
	struct fixture *f = *state;
	char home[PATH_MAX], *got;
	const char *why;
	bool no_relay;

	assert_int_equal(path_join(home, sizeof(home), f->dom, "alice"), 0);
	assert_int_equal(check(f, "alice", "pw", TS, &got, &no_relay, &why), LOGIN_OK);
	assert_string_equal(got, home);
	assert_false(no_relay);
	free(got);
	assert_int_equal(check(f, "alice@EXAMPLE.org", "pw", "", &got, &no_relay, &why), LOGIN_OK);
	free(got);
	assert_int_equal(check(f, "norelay@example.org", "pw", TS, &got, &no_relay, &why), LOGIN_OK);
	assert_true(no_relay);
	free(got);
}

/* Wrong passwords, unknown users, empty names and passwords: refused with a reason, nothing handed out. */
static void
test_checkpw_login_refusals(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char *got;
	bool no_relay;

	assert_int_equal(check(f, "alice", "wrong", TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_string_equal(why, "wrong password");
	assert_null(got);
	assert_int_equal(check(f, "alice", "", TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	assert_int_equal(check(f, "", "pw", TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	assert_int_equal(check(f, "nobody", "pw", TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	/* The password never appears in the reason. */
	assert_int_equal(check(f, "alice", "hunter2", TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(strstr(why, "hunter2"));
}

/* NO_POP refuses the POP3 login by password and by APOP digest alike. */
static void
test_checkpw_login_no_pop(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char *got;
	bool no_relay;

	assert_int_equal(check(f, "nopop", "pw", TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_string_equal(why, login_refusal(LOGIN_POP3));
	assert_null(got);
	assert_int_equal(check(f, "nopop", digest("clear"), TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
}

/* As vchkpw: the APOP digest of the timestamp and the cleartext field logs in, in either case of hex. */
static void
test_checkpw_login_apop_digest(void **state)
{
	struct fixture *f = *state;
	char upper[CRAM_HEX_SIZE], *got;
	const char *why;
	bool no_relay;
	size_t i;

	assert_int_equal(check(f, "alice", digest("clear"), TS, &got, &no_relay, &why), LOGIN_OK);
	assert_non_null(got);
	free(got);
	memcpy(upper, digest("clear"), sizeof(upper));
	for (i = 0; upper[i] != '\0'; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	assert_int_equal(check(f, "alice", upper, TS, &got, &no_relay, &why), LOGIN_OK);
	free(got);
	assert_int_equal(check(f, "norelay", digest("clear"), TS, &got, &no_relay, &why), LOGIN_OK);
	assert_true(no_relay);
	free(got);
}

/* A digest is refused for another secret, without a timestamp, for a user without a cleartext field, and cut short. */
static void
test_checkpw_login_apop_refusals(void **state)
{
	struct fixture *f = *state;
	char cut[CRAM_HEX_SIZE], *got;
	const char *why;
	bool no_relay;

	assert_int_equal(check(f, "alice", digest("wrong"), TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	assert_int_equal(check(f, "alice", digest("clear"), "", &got, &no_relay, &why), LOGIN_BAD);
	assert_string_equal(why, "wrong password");
	assert_int_equal(check(f, "plainonly", digest(""), TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	assert_int_equal(check(f, "plainonly", digest("pw"), TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	memcpy(cut, digest("clear"), sizeof(cut));
	cut[31] = '\0';
	assert_int_equal(check(f, "alice", cut, TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
	assert_int_equal(check(f, "nobody", digest("clear"), TS, &got, &no_relay, &why), LOGIN_BAD);
	assert_null(got);
}

/* An unreadable vpasswd is a temporary error (exit 111), by password and by digest. */
static void
test_checkpw_login_unreadable_vpasswd_is_temporary(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char *got;
	bool no_relay;

	assert_int_equal(check(f, "bob@broken.org", "pw", TS, &got, &no_relay, &why),
			 LOGIN_TEMPFAIL);
	assert_null(got);
	assert_true(why[0] != '\0');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_checkpw_login_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpw_login_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpw_login_no_pop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpw_login_apop_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpw_login_apop_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpw_login_unreadable_vpasswd_is_temporary,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
