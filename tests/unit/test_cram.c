/* test_cram.c - unit tests for lib/net/cram.c: the RFC 1939 APOP and RFC 2195 CRAM-MD5 examples, challenges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cram.h"

/* RFC 1939 section 7. */
static void
test_cram_apop_rfc1939_example(void **state)
{
	char hex[CRAM_HEX_SIZE];

	(void)state;
	assert_int_equal(cram_apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", hex), 0);
	assert_string_equal(hex, "c4c9334bac560ecc979e58001b3e22fb");
}

/* RFC 2195 section 2. */
static void
test_cram_md5_rfc2195_example(void **state)
{
	char hex[CRAM_HEX_SIZE];

	(void)state;
	assert_int_equal(cram_md5_digest("<1896.697170952@postoffice.reston.mci.net>",
					 "tanstaaftanstaaf", hex), 0);
	assert_string_equal(hex, "b913a602c7eda7a495b4e6e7334d3890");
}

/* cram_verify: the RFC 2195 example matches; a wrong digest, a missing secret or APOP mode do not. */
static void
test_cram_verify(void **state)
{
	const char *ch = "<1896.697170952@postoffice.reston.mci.net>";
	const char *d = "b913a602c7eda7a495b4e6e7334d3890";

	(void)state;
	assert_int_equal(cram_verify(ch, true, "tanstaaftanstaaf", d, 32), 1);
	assert_int_equal(cram_verify(ch, true, "tanstaaftanstaaf", "B913A602C7EDA7A495B4E6E7334D3890", 32), 1);
	assert_int_equal(cram_verify(ch, true, "tanstaaftanstaaX", d, 32), 0);
	assert_int_equal(cram_verify(ch, true, NULL, d, 32), 0);
	assert_int_equal(cram_verify(ch, true, "", d, 32), 0);
	assert_int_equal(cram_verify(ch, false, "tanstaaftanstaaf", d, 32), 0);
	assert_int_equal(cram_verify(ch, true, "tanstaaftanstaaf", d, 31), 0);
}

static void
test_cram_digest_equal(void **state)
{
	const char *d = "b913a602c7eda7a495b4e6e7334d3890";

	(void)state;
	assert_true(cram_digest_equal(d, d, 32));
	assert_true(cram_digest_equal(d, "B913A602C7EDA7A495B4E6E7334D3890", 32));
	assert_false(cram_digest_equal(d, "b913a602c7eda7a495b4e6e7334d3891", 32));
	assert_false(cram_digest_equal(d, "c913a602c7eda7a495b4e6e7334d3890", 32));
	assert_false(cram_digest_equal(d, d, 31));
	assert_false(cram_digest_equal(d, "b913a602c7eda7a495b4e6e7334d3890b", 33));
	assert_false(cram_digest_equal(d, "", 0));
	/* 'A'..'Z' fold, nothing else: '@' ^ 0x20 would be '`'. */
	assert_false(cram_digest_equal("````````````````````````````````",
				       "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@", 32));
}

static void
test_cram_challenge_unique_and_well_formed(void **state)
{
	char a[CRAM_CHALLENGE_SIZE], b[CRAM_CHALLENGE_SIZE], host[400];
	size_t n;

	(void)state;
	n = cram_challenge("mail.example.org", a);
	assert_int_equal(n, strlen(a));
	assert_true(a[0] == '<' && a[n - 1] == '>');
	assert_non_null(strstr(a, "@mail.example.org>"));
	cram_challenge("mail.example.org", b);
	assert_string_not_equal(a, b);
	cram_challenge(NULL, a);
	assert_non_null(strstr(a, "@localhost>"));
	/* A host name too long is cut; the result still ends with '>'. */
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	n = cram_challenge(host, a);
	assert_true(n < CRAM_CHALLENGE_SIZE && a[n - 1] == '>');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cram_apop_rfc1939_example),
		cmocka_unit_test(test_cram_md5_rfc2195_example),
		cmocka_unit_test(test_cram_digest_equal),
		cmocka_unit_test(test_cram_verify),
		cmocka_unit_test(test_cram_challenge_unique_and_well_formed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
