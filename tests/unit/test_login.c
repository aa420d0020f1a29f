/* test_login.c - unit tests for the one login check of every server (lib/auth/login.c). */
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

#include "login.h"
#include "path.h"
#include "testutil.h"
#include "userdb.h"

/* The texts the servers have logged for a refused flag since before login.c (pop3d, smtpd). */
#define NO_POP_TEXT "POP3 access disabled for this user (vpasswd flag NO_POP)"
#define NO_SMTP_TEXT "SMTP AUTH disabled for this user (vpasswd flag NO_SMTP)"
#define NO_IMAP_TEXT "IMAP access disabled for this user (vpasswd flag NO_IMAP)"

struct fixture {
	char *root;
	char users[PATH_MAX];
	char dom[PATH_MAX];
	struct login_db db;
};

/*
 * example.org: every user's password is "pw"; the gid field is vpopmail's
 * flag mask; alice and the flagged users have the cleartext 8th field "clear".
 */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static const struct testutil_vuser users[] = {
		{ "alice", 0, "clear" },
		{ "nopop", USERDB_NO_POP, "clear" },
		{ "noimap", USERDB_NO_IMAP, "clear" },
		{ "norelay", USERDB_NO_RELAY, "clear" },
		{ "nosmtp", USERDB_NO_SMTP, "clear" },
		{ "plainonly", 0, "" },
	};

	assert_non_null(f);
	assert_non_null(f->root = testutil_mkdtemp("login"));
	assert_int_equal(path_join(f->users, sizeof(f->users), f->root, "domains"), 0);
	assert_int_equal(path_join(f->dom, sizeof(f->dom), f->users, "example.org"), 0);
	assert_int_equal(testutil_write_vpasswd(f->users, "example.org", "pw", users,
						sizeof(users) / sizeof(users[0])), 0);
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

/* login_password's answer, and err in *why (static for the asserts). */
static int
by_password(struct fixture *f, enum login_service svc, const char *login, const char *password,
	    struct login_user *u, const char **why)
{
	static char err[256];
	int r;

	err[0] = '\0';
	r = login_password(&f->db, svc, login, password, u, err, sizeof(err));
	*why = err;
	return r;
}

static int
by_secret(struct fixture *f, enum login_service svc, const char *login, struct login_user *u,
	  const char **why)
{
	static char err[256];
	int r;

	err[0] = '\0';
	r = login_secret(&f->db, svc, login, u, err, sizeof(err));
	*why = err;
	return r;
}

/* Each vpasswd flag refuses its own service only, by password and by secret, with the servers' text. */
static void
test_login_each_flag_refuses_its_service_only(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *user;
		enum login_service refused;
		const char *text;
	} cases[] = {
		{ "nopop@example.org", LOGIN_POP3, NO_POP_TEXT },
		{ "nosmtp@example.org", LOGIN_SMTP, NO_SMTP_TEXT },
		{ "noimap@example.org", LOGIN_IMAP, NO_IMAP_TEXT },
	};
	const enum login_service services[] = { LOGIN_POP3, LOGIN_SMTP, LOGIN_IMAP };
	struct login_user u;
	const char *why;
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < sizeof(services) / sizeof(services[0]); j++) {
			bool refused = services[j] == cases[i].refused;
			int want = refused ? LOGIN_BAD : LOGIN_OK;

			assert_int_equal(by_password(f, services[j], cases[i].user, "pw", &u, &why),
					 want);
			if (refused) {
				assert_string_equal(why, cases[i].text);
				assert_string_equal(u.home, "");        /* nothing handed out */
			} else {
				assert_non_null(strstr(u.home, "/example.org/"));
			}
			assert_int_equal(by_secret(f, services[j], cases[i].user, &u, &why), want);
			if (refused) {
				assert_string_equal(why, cases[i].text);
				assert_string_equal(u.secret, "");
			} else {
				assert_string_equal(u.secret, "clear");
			}
			login_user_clear(&u);
		}
	}
	/* The flag is checked after the password: a wrong password says so, not the flag. */
	assert_int_equal(by_password(f, LOGIN_POP3, "nopop", "wrong", &u, &why), LOGIN_BAD);
	assert_string_equal(why, "wrong password");
}

/* The refusal texts are the ones osd pop3d and osd smtpd logged before login.c, and the coming IMAP's. */
static void
test_login_refusal_texts(void **state)
{
	(void)state;
	assert_string_equal(login_refusal(LOGIN_POP3), NO_POP_TEXT);
	assert_string_equal(login_refusal(LOGIN_SMTP), NO_SMTP_TEXT);
	assert_string_equal(login_refusal(LOGIN_IMAP), NO_IMAP_TEXT);
	assert_int_equal(USERDB_NO_IMAP, 0x08);
}

/* NO_RELAY lets the user in everywhere and says so; the others may relay. */
static void
test_login_no_relay_is_reported_not_refused(void **state)
{
	struct fixture *f = *state;
	const enum login_service services[] = { LOGIN_POP3, LOGIN_SMTP, LOGIN_IMAP };
	struct login_user u;
	const char *why;
	char home[PATH_MAX];
	size_t j;

	assert_int_equal(path_join(home, sizeof(home), f->dom, "norelay"), 0);
	for (j = 0; j < sizeof(services) / sizeof(services[0]); j++) {
		assert_int_equal(by_password(f, services[j], "norelay", "pw", &u, &why), LOGIN_OK);
		assert_true(u.no_relay);
		assert_string_equal(u.home, home);
		assert_string_equal(u.secret, "");      /* a password login hands out no secret */
		assert_int_equal(by_secret(f, services[j], "norelay", &u, &why), LOGIN_OK);
		assert_true(u.no_relay);
		assert_int_equal(by_password(f, services[j], "alice@EXAMPLE.org", "pw", &u, &why),
				 LOGIN_OK);
		assert_false(u.no_relay);
		login_user_clear(&u);
	}
}

/* Unknown users, bad names and wrong passwords are refused with a reason for the log. */
static void
test_login_unknown_user_and_bad_name(void **state)
{
	struct fixture *f = *state;
	struct login_user u;
	const char *why;

	assert_int_equal(by_password(f, LOGIN_POP3, "nobody", "pw", &u, &why), LOGIN_BAD);
	assert_string_equal(why, "unknown user");
	assert_int_equal(by_secret(f, LOGIN_SMTP, "nobody@example.org", &u, &why), LOGIN_BAD);
	assert_string_equal(why, "unknown user");
	assert_int_equal(by_password(f, LOGIN_IMAP, "alice@nowhere.example", "pw", &u, &why),
			 LOGIN_BAD);
	assert_string_equal(why, "unknown user");
	/* A name that could be a path never reaches the file system. */
	assert_int_equal(by_password(f, LOGIN_POP3, "../alice", "pw", &u, &why), LOGIN_BAD);
	assert_non_null(strstr(why, "bad login name: "));
	assert_int_equal(by_secret(f, LOGIN_SMTP, "a/b@example.org", &u, &why), LOGIN_BAD);
	assert_non_null(strstr(why, "bad login name: "));
	assert_int_equal(by_password(f, LOGIN_SMTP, "alice", "wrong", &u, &why), LOGIN_BAD);
	assert_string_equal(why, "wrong password");
	assert_string_equal(u.home, "");
}

/* APOP/CRAM-MD5: the cleartext 8th field, and a user without one is refused. */
static void
test_login_secret_needs_the_cleartext_field(void **state)
{
	struct fixture *f = *state;
	struct login_user u;
	const char *why;
	char home[PATH_MAX];

	assert_int_equal(path_join(home, sizeof(home), f->dom, "alice"), 0);
	assert_int_equal(by_secret(f, LOGIN_POP3, "alice", &u, &why), LOGIN_OK);
	assert_string_equal(u.secret, "clear");
	assert_string_equal(u.home, home);
	login_user_clear(&u);
	assert_string_equal(u.secret, "");
	assert_int_equal(by_secret(f, LOGIN_SMTP, "plainonly", &u, &why), LOGIN_BAD);
	assert_string_equal(why, "no cleartext password in vpasswd");
	/* The password still works for that user. */
	assert_int_equal(by_password(f, LOGIN_SMTP, "plainonly", "pw", &u, &why), LOGIN_OK);
}

/* A vpasswd that cannot be read is a temporary failure, not a refusal. */
static void
test_login_unreadable_database_is_tempfail(void **state)
{
	struct fixture *f = *state;
	struct login_user u;
	const char *why;
	char path[PATH_MAX], moved[PATH_MAX];

	assert_int_equal(path_join(path, sizeof(path), f->dom, "vpasswd"), 0);
	assert_int_equal(path_join(moved, sizeof(moved), f->dom, "vpasswd.real"), 0);
	assert_int_equal(rename(path, moved), 0);
	/* A folder where the file should be: reading it fails with EISDIR. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(by_password(f, LOGIN_POP3, "alice", "pw", &u, &why), LOGIN_TEMPFAIL);
	assert_int_equal(by_secret(f, LOGIN_SMTP, "alice", &u, &why), LOGIN_TEMPFAIL);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rename(moved, path), 0);
}

/* The one rule for a login name, ASCII only: the two servers disagreed on bytes >= 0x80. */
static void
test_login_name_ok_is_printable_ascii(void **state)
{
	(void)state;
	assert_true(login_name_ok("alice@example.org"));
	assert_true(login_name_ok("a!#$%&'*+-/=?^_`{|}~"));
	assert_false(login_name_ok(""));
	assert_false(login_name_ok("alice smith"));
	assert_false(login_name_ok("alice\t"));
	assert_false(login_name_ok("al\x01ice"));
	assert_false(login_name_ok("alice\x7f"));
	/* UTF-8 ("café") and any other 8-bit byte: vpasswd names are ASCII. */
	assert_false(login_name_ok("caf\xc3\xa9"));
	assert_false(login_name_ok("\x80"));
	assert_false(login_name_ok("alice\xff"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_each_flag_refuses_its_service_only, setup,
						teardown),
		cmocka_unit_test(test_login_refusal_texts),
		cmocka_unit_test_setup_teardown(test_login_no_relay_is_reported_not_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_login_unknown_user_and_bad_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_secret_needs_the_cleartext_field, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_login_unreadable_database_is_tempfail, setup,
						teardown),
		cmocka_unit_test(test_login_name_ok_is_printable_ascii),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
