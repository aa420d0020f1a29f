/* test_sasl.c - unit tests for the server side of SASL (lib/auth/sasl.c): the PLAIN, LOGIN and CRAM-MD5 messages and exchanges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sasl.h"

static int
plain(const char *msg, size_t len, struct sasl_plain *p)
{
	const char *why = NULL;
	int r = sasl_plain_parse((const unsigned char *)msg, len, p, &why);

	if (r == -1)
		assert_non_null(why);
	return r;
}

static void
test_sasl_plain_accepts_empty_and_equal_authzid(void **state)
{
	struct sasl_plain p;

	(void)state;
	assert_int_equal(plain("\0alice@example.org\0s3cret pass", 30, &p), 0);
	assert_string_equal(p.authcid, "alice@example.org");
	assert_string_equal(p.passwd, "s3cret pass");
	assert_int_equal(plain("bob\0bob\0pw", 10, &p), 0);
	assert_string_equal(p.authcid, "bob");
	assert_string_equal(p.passwd, "pw");
	sasl_plain_clear(&p);
	assert_int_equal(p.passwd[0], '\0');
}

static void
test_sasl_plain_rejects_malformed_messages(void **state)
{
	struct sasl_plain p;
	char big[300 + 2 + 2];

	(void)state;
	assert_int_equal(plain("alice", 5, &p), -1);                  /* no NUL */
	assert_int_equal(plain("\0alice", 6, &p), -1);                /* one NUL */
	assert_int_equal(plain("\0\0pw", 4, &p), -1);                 /* empty authcid */
	assert_int_equal(plain("\0alice\0", 7, &p), -1);              /* empty password */
	assert_int_equal(plain("\0alice\0p\0w", 10, &p), -1);         /* third NUL */
	assert_int_equal(plain("mallory\0alice\0pw", 16, &p), -1);    /* acting as another */
	assert_int_equal(plain("alic\0alice\0pw", 13, &p), -1);
	assert_int_equal(plain("", 0, &p), -1);
	/* 300-octet password: over the RFC 4616 limit. */
	memset(big, 'x', sizeof(big));
	big[0] = '\0';
	big[2] = '\0';
	assert_int_equal(plain(big, sizeof(big), &p), -1);
	/* Nothing of a refused message stays behind. */
	assert_int_equal(p.authcid[0], '\0');
	assert_int_equal(p.passwd[0], '\0');
}

static void
test_sasl_plain_accepts_fields_of_255_octets(void **state)
{
	struct sasl_plain p;
	char msg[1 + 255 + 1 + 255];

	(void)state;
	memset(msg, 'u', sizeof(msg));
	msg[0] = '\0';
	msg[256] = '\0';
	assert_int_equal(plain(msg, sizeof(msg), &p), 0);
	assert_int_equal(strlen(p.authcid), 255);
	assert_int_equal(strlen(p.passwd), 255);
}

static void
test_sasl_response_decode_cancel_empty_and_garbage(void **state)
{
	unsigned char out[64];
	size_t len = 99;

	(void)state;
	assert_int_equal(sasl_response_decode("*", 1, false, out, sizeof(out), &len),
			 SASL_RESPONSE_CANCEL);
	/* "*" is no initial response: RFC 5034 cancels only continuations. */
	assert_int_equal(sasl_response_decode("*", 1, true, out, sizeof(out), &len),
			 SASL_RESPONSE_INVALID);
	assert_int_equal(sasl_response_decode("=", 1, true, out, sizeof(out), &len),
			 SASL_RESPONSE_DATA);
	assert_int_equal(len, 0);
	assert_int_equal(sasl_response_decode("=", 1, false, out, sizeof(out), &len),
			 SASL_RESPONSE_INVALID);
	assert_int_equal(sasl_response_decode("", 0, false, out, sizeof(out), &len),
			 SASL_RESPONSE_DATA);
	assert_int_equal(len, 0);
	assert_int_equal(sasl_response_decode("", 0, true, out, sizeof(out), &len),
			 SASL_RESPONSE_INVALID);
	assert_int_equal(sasl_response_decode("YWxpY2U=", 8, false, out, sizeof(out), &len),
			 SASL_RESPONSE_DATA);
	assert_int_equal(len, 5);
	assert_string_equal((char *)out, "alice");
	assert_int_equal(sasl_response_decode("YWxp Y2U=", 9, false, out, sizeof(out), &len),
			 SASL_RESPONSE_INVALID);
	assert_int_equal(sasl_response_decode("YW\0pY2U=", 8, false, out, sizeof(out), &len),
			 SASL_RESPONSE_INVALID);
	/* Too long for out (which must keep room for the NUL). */
	assert_int_equal(sasl_response_decode("YWxpY2U=", 8, false, out, 5, &len),
			 SASL_RESPONSE_INVALID);
}

static void
test_sasl_login_field_rules(void **state)
{
	unsigned char big[256];

	(void)state;
	memset(big, 'a', sizeof(big));
	assert_true(sasl_login_field_ok((const unsigned char *)"alice", 5));
	assert_false(sasl_login_field_ok((const unsigned char *)"", 0));
	assert_false(sasl_login_field_ok((const unsigned char *)"al\0ce", 5));
	assert_true(sasl_login_field_ok(big, 255));
	assert_false(sasl_login_field_ok(big, 256));
}

static void
test_sasl_response_max_holds_longest_plain(void **state)
{
	(void)state;
	assert_int_equal(SASL_PLAIN_MAX, 767);
	assert_int_equal(SASL_RESPONSE_MAX, 1024);
}

/* sasl_cram_split: the last space separates; empty name, no space, NUL and overlong names are refused. */
static void
test_sasl_cram_split(void **state)
{
	char user[SASL_FIELD_MAX + 1], big[SASL_FIELD_MAX + 40];
	const char *digest;
	size_t dlen;

	(void)state;
	assert_int_equal(sasl_cram_split((const unsigned char *)"tim abc", 7, user, &digest, &dlen), 0);
	assert_string_equal(user, "tim");
	assert_int_equal(dlen, 3);
	assert_memory_equal(digest, "abc", 3);
	assert_int_equal(sasl_cram_split((const unsigned char *)"a b c", 5, user, &digest, &dlen), 0);
	assert_string_equal(user, "a b");
	assert_int_equal(sasl_cram_split((const unsigned char *)"tim ", 4, user, &digest, &dlen), 0);
	assert_int_equal(dlen, 0);
	assert_int_equal(sasl_cram_split((const unsigned char *)"timabc", 6, user, &digest, &dlen), -1);
	assert_int_equal(sasl_cram_split((const unsigned char *)" abc", 4, user, &digest, &dlen), -1);
	assert_int_equal(sasl_cram_split((const unsigned char *)"t\0m abc", 7, user, &digest, &dlen), -1);
	memset(big, 'u', sizeof(big));
	big[SASL_FIELD_MAX + 1] = ' ';
	assert_int_equal(sasl_cram_split((const unsigned char *)big, SASL_FIELD_MAX + 5, user, &digest, &dlen), -1);
	big[SASL_FIELD_MAX + 1] = 'u';
	big[SASL_FIELD_MAX] = ' ';
	assert_int_equal(sasl_cram_split((const unsigned char *)big, SASL_FIELD_MAX + 5, user, &digest, &dlen), 0);
}

/* One step of an exchange on a C string. */
static enum sasl_result
step(struct sasl_server *x, const char *line, bool initial)
{
	return sasl_server_step(x, line, strlen(line), initial);
}

static void
test_sasl_mech_names(void **state)
{
	(void)state;
	assert_int_equal(sasl_mech_parse("plain", 5), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("LOGIN", 5), SASL_MECH_LOGIN);
	assert_int_equal(sasl_mech_parse("Cram-Md5", 8), SASL_MECH_CRAM_MD5);
	assert_int_equal(sasl_mech_parse("PLAINX", 5), SASL_MECH_PLAIN);      /* len counts */
	assert_int_equal(sasl_mech_parse("PLAIN", 4), -1);
	assert_int_equal(sasl_mech_parse("DIGEST-MD5", 10), -1);
	assert_int_equal(sasl_mech_parse("", 0), -1);
	assert_string_equal(sasl_mech_name(SASL_MECH_CRAM_MD5), "CRAM-MD5");
}

/* PLAIN: an empty challenge, then the message; or the message as the initial response. */
static void
test_sasl_server_plain(void **state)
{
	struct sasl_server x;

	(void)state;
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_string_equal(x.challenge, "");
	assert_int_equal(step(&x, "AGFsaWNlAHB3", false), SASL_DONE);
	assert_string_equal(x.login, "alice");
	assert_string_equal(x.secret, "pw");
	assert_int_equal(x.secret_len, 2);
	sasl_server_clear(&x);
	assert_string_equal(x.secret, "");

	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "AGFsaWNlAHB3", true), SASL_DONE);
	assert_string_equal(x.login, "alice");
	/* "=" is the empty initial response: not a PLAIN message. */
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "=", true), SASL_MALFORMED);
	assert_non_null(x.error);
	assert_string_equal(x.login, "");
	/* An empty password: malformed, and nothing of it is kept. */
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "AGFsaWNlAA==", false), SASL_MALFORMED);
	assert_non_null(strstr(x.error, "empty password"));
	assert_string_equal(x.login, "");
	assert_string_equal(x.secret, "");
}

/* LOGIN: "Username:", the name, "Password:", the password (the name may come as initial response). */
static void
test_sasl_server_login(void **state)
{
	struct sasl_server x;

	(void)state;
	assert_int_equal(sasl_server_start(&x, SASL_MECH_LOGIN, NULL), SASL_CHALLENGE);
	assert_string_equal(x.challenge, SASL_LOGIN_USERNAME_CHALLENGE);
	assert_int_equal(step(&x, "YWxpY2U=", false), SASL_CHALLENGE);
	assert_string_equal(x.challenge, SASL_LOGIN_PASSWORD_CHALLENGE);
	assert_string_equal(x.login, "alice");
	assert_int_equal(step(&x, "cHc=", false), SASL_DONE);
	assert_string_equal(x.login, "alice");
	assert_string_equal(x.secret, "pw");

	assert_int_equal(sasl_server_start(&x, SASL_MECH_LOGIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "YWxpY2U=", true), SASL_CHALLENGE);
	assert_string_equal(x.challenge, SASL_LOGIN_PASSWORD_CHALLENGE);
	/* An empty password: malformed, the name is still known (for the log). */
	assert_int_equal(step(&x, "", false), SASL_MALFORMED);
	assert_string_equal(x.error, "invalid password");
	assert_string_equal(x.login, "alice");
	/* A NUL in the name. */
	assert_int_equal(sasl_server_start(&x, SASL_MECH_LOGIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "YWwAY2U=", false), SASL_MALFORMED);
	assert_string_equal(x.error, "invalid user name");
	assert_string_equal(x.login, "");
	sasl_server_clear(&x);
}

/* CRAM-MD5: the challenge in base64, then "user SP digest" (the user may hold spaces). */
static void
test_sasl_server_cram_md5(void **state)
{
	const char *text = "<1896.697170952@postoffice.example.net>";
	char big[SASL_CRAM_CHALLENGE_MAX + 2];
	struct sasl_server x;

	(void)state;
	assert_int_equal(sasl_server_start(&x, SASL_MECH_CRAM_MD5, text), SASL_CHALLENGE);
	assert_string_equal(x.challenge, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+");
	assert_string_equal(x.cram_text, text);
	assert_int_equal(step(&x, "YWxpY2UgNmQyYTBm", false), SASL_DONE);
	assert_string_equal(x.login, "alice");
	assert_int_equal(x.secret_len, 6);
	assert_memory_equal(x.secret, "6d2a0f", 6);
	/* The digest is the caller's to check: the challenge stays for it. */
	assert_string_equal(x.cram_text, text);

	assert_int_equal(sasl_server_start(&x, SASL_MECH_CRAM_MD5, text), SASL_CHALLENGE);
	assert_int_equal(step(&x, "YSBiIGMgNmQyYTBm", false), SASL_DONE);
	assert_string_equal(x.login, "a b c");
	assert_int_equal(sasl_server_start(&x, SASL_MECH_CRAM_MD5, text), SASL_CHALLENGE);
	assert_int_equal(step(&x, "bm9zcGFjZQ==", false), SASL_MALFORMED);
	assert_string_equal(x.error, "malformed response");
	assert_string_equal(x.login, "");
	/* No challenge, or one too long: nothing starts. */
	assert_int_equal(sasl_server_start(&x, SASL_MECH_CRAM_MD5, NULL), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sasl_server_start(&x, SASL_MECH_CRAM_MD5, big), -1);
	big[sizeof(big) - 2] = '\0';
	assert_int_equal(sasl_server_start(&x, SASL_MECH_CRAM_MD5, big), SASL_CHALLENGE);
	sasl_server_clear(&x);
}

/* "*" cancels a continuation; bad base64, "*" as initial response, or too much is undecodable. */
static void
test_sasl_server_cancel_and_garbage(void **state)
{
	char longline[SASL_RESPONSE_MAX + 8];
	struct sasl_server x;

	(void)state;
	assert_int_equal(sasl_server_start(&x, SASL_MECH_LOGIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "*", false), SASL_CANCELLED);
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "*", true), SASL_UNDECODABLE);
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "!!!", false), SASL_UNDECODABLE);
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, "", true), SASL_UNDECODABLE);
	/* Longer than the longest PLAIN message. */
	memset(longline, 'A', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	longline[(sizeof(longline) - 1) / 4 * 4] = '\0';
	assert_int_equal(sasl_server_start(&x, SASL_MECH_PLAIN, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&x, longline, false), SASL_UNDECODABLE);
	sasl_server_clear(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sasl_plain_accepts_empty_and_equal_authzid),
		cmocka_unit_test(test_sasl_plain_rejects_malformed_messages),
		cmocka_unit_test(test_sasl_plain_accepts_fields_of_255_octets),
		cmocka_unit_test(test_sasl_response_decode_cancel_empty_and_garbage),
		cmocka_unit_test(test_sasl_login_field_rules),
		cmocka_unit_test(test_sasl_response_max_holds_longest_plain),
		cmocka_unit_test(test_sasl_cram_split),
		cmocka_unit_test(test_sasl_mech_names),
		cmocka_unit_test(test_sasl_server_plain),
		cmocka_unit_test(test_sasl_server_login),
		cmocka_unit_test(test_sasl_server_cram_md5),
		cmocka_unit_test(test_sasl_server_cancel_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
