/* test_smtp_address.c - unit tests for RFC 5321 path and ESMTP parameter parsing (smtp-gate/smtpd/address.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"

static struct smtp_path path;
static struct smtp_params params;

static enum smtp_addr_error
mail(const char *arg)
{
	return smtp_parse_path(arg, strlen(arg), true, &path, &params);
}

static enum smtp_addr_error
rcpt(const char *arg)
{
	return smtp_parse_path(arg, strlen(arg), false, &path, &params);
}

static void
test_smtp_address_plain_mailbox_lowercases_domain_only(void **state)
{
	(void)state;
	assert_int_equal(mail("<Alice.Smith@Example.ORG>"), SMTP_ADDR_OK);
	assert_false(path.null);
	assert_false(path.quoted);
	assert_false(path.had_route);
	assert_false(path.domain_literal);
	assert_false(path.no_domain);
	assert_string_equal(path.local, "Alice.Smith");
	assert_string_equal(path.domain, "example.org");
	assert_string_equal(path.address, "Alice.Smith@example.org");
	assert_false(params.have_size);
	assert_int_equal(params.body, SMTP_BODY_NONE);
	assert_false(params.have_auth);
	/* Every atext special character is allowed in a dot-atom. */
	assert_int_equal(rcpt("<!#$%&'*+-/=?^_`{|}~@x.example>"), SMTP_ADDR_OK);
	assert_string_equal(path.address, "!#$%&'*+-/=?^_`{|}~@x.example");
}

static void
test_smtp_address_spaces_and_unbracketed_form(void **state)
{
	(void)state;
	assert_int_equal(mail("   <a@b.example>  "), SMTP_ADDR_OK);
	assert_string_equal(path.address, "a@b.example");
	assert_int_equal(rcpt("a@B.example"), SMTP_ADDR_OK);
	assert_string_equal(path.address, "a@b.example");
	assert_int_equal(rcpt("  a@b.example "), SMTP_ADDR_OK);
	/* Without brackets nothing may follow, not even parameters. */
	assert_int_equal(mail("a@b.example SIZE=10"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("a@b.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("a@b.example <c@d.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("@r.example:a@b.example"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail(""), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("   "), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_null_path_only_for_mail(void **state)
{
	(void)state;
	assert_int_equal(mail("<>"), SMTP_ADDR_OK);
	assert_true(path.null);
	assert_string_equal(path.address, "");
	assert_false(smtp_path_is_relay_trick(&path));
	assert_int_equal(mail("<> SIZE=1000 BODY=8BITMIME"), SMTP_ADDR_OK);
	assert_true(path.null);
	assert_true(params.have_size);
	assert_int_equal(params.size, 1000);
	assert_int_equal(rcpt("<>"), SMTP_ADDR_NULL_NOT_ALLOWED);
	assert_int_equal(mail("< >"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("<>x"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("<<>>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("<"), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_postmaster_without_domain_for_rcpt_only(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<Postmaster>"), SMTP_ADDR_OK);
	assert_true(path.no_domain);
	assert_string_equal(path.local, "postmaster");
	assert_string_equal(path.address, "postmaster");
	assert_string_equal(path.domain, "");
	assert_false(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("POSTMASTER"), SMTP_ADDR_OK);
	assert_true(path.no_domain);
	assert_int_equal(mail("<postmaster>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"postmaster\">"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@a.example:postmaster>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<alice>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<postmasters>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<postmaster@Example.org>"), SMTP_ADDR_OK);
	assert_false(path.no_domain);
	assert_string_equal(path.address, "postmaster@example.org");
}

static void
test_smtp_address_quoted_local_part_unescaped_and_requoted(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<\"john doe\"@example.org>"), SMTP_ADDR_OK);
	assert_true(path.quoted);
	assert_string_equal(path.local, "john doe");
	assert_string_equal(path.address, "\"john doe\"@example.org");
	/* A '>' and '@' inside quotes do not end the path or the local part. */
	assert_int_equal(rcpt("<\"a>b@c\"@example.org>"), SMTP_ADDR_OK);
	assert_string_equal(path.local, "a>b@c");
	assert_string_equal(path.address, "\"a>b@c\"@example.org");
	/* Backslash escapes: removed in local, put back only for '"' and '\'. */
	assert_int_equal(rcpt("<\"a\\\"b\\\\c\\d\"@example.org>"), SMTP_ADDR_OK);
	assert_string_equal(path.local, "a\"b\\cd");
	assert_string_equal(path.address, "\"a\\\"b\\\\cd\"@example.org");
	/* A quoted dot-atom needs no quotes in the canonical form. */
	assert_int_equal(rcpt("<\"j.doe\"@example.org>"), SMTP_ADDR_OK);
	assert_true(path.quoted);
	assert_string_equal(path.address, "j.doe@example.org");
	assert_int_equal(rcpt("<\"j..doe\"@example.org>"), SMTP_ADDR_OK);
	assert_string_equal(path.address, "\"j..doe\"@example.org");
	/* The empty quoted string is a valid local part (RFC 5321 4.1.2). */
	assert_int_equal(rcpt("<\"\"@example.org>"), SMTP_ADDR_OK);
	assert_string_equal(path.local, "");
	assert_string_equal(path.address, "\"\"@example.org");
	/* Unterminated quotes, a dangling backslash, 8-bit and tabs. */
	assert_int_equal(rcpt("<\"abc@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"abc\\\"@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"abc\\"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"caf\xc3\xa9\"@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"a\\\xc3\"@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"a\tb\"@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<\"a\"b@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a\"b\"@example.org>"), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_dot_atom_rules(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<.a@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a.@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a..b@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a b@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a(b)@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a,b@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@b@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<caf\xc3\xa9@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@example.org"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("a@example.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@example.org>>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<<a@example.org>"), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_domain_rules(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<a@example>"), SMTP_ADDR_OK);
	assert_int_equal(rcpt("<a@x-1.example>"), SMTP_ADDR_OK);
	assert_int_equal(rcpt("<a@-x.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@x-.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@x..example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@example.>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@ex_ample.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@exa mple.org>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@ex%ample.org>"), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_literals_checked_by_inet_pton(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<a@[192.0.2.1]>"), SMTP_ADDR_OK);
	assert_true(path.domain_literal);
	assert_string_equal(path.domain, "[192.0.2.1]");
	assert_string_equal(path.address, "a@[192.0.2.1]");
	assert_true(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("<a@[ipv6:2001:DB8::1]>"), SMTP_ADDR_OK);
	assert_string_equal(path.domain, "[IPv6:2001:db8::1]");
	assert_int_equal(rcpt("<a@[IPv6:::ffff:192.0.2.1]>"), SMTP_ADDR_OK);
	assert_int_equal(rcpt("<a@[256.0.2.1]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[192.0.2]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[192.0.2.1.5]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[2001:db8::1]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[IPv6:192.0.2.1]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[IPv6:2001:db8:::1]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[IPv6:]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[x-tag:stuff]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[192.0.2.1>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[192.0.2.1]x>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[192.0.[2.1]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[ 192.0.2.1]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[IPv6:2001:db8::1%eth0]>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<a@[1111111111111111111111111111111111111111111111111111]>"), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_source_route_dropped_but_flagged(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<@relay.example,@Two.example:bob@Dest.example>"), SMTP_ADDR_OK);
	assert_true(path.had_route);
	assert_string_equal(path.address, "bob@dest.example");
	assert_true(smtp_path_is_relay_trick(&path));
	assert_int_equal(mail("<@a.example:bob@b.example>"), SMTP_ADDR_OK);
	assert_int_equal(rcpt("<@a.example bob@b.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@a.example,bob@b.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@:bob@b.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@a.example,:bob@b.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@a.example:>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("<@a.example:>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@[192.0.2.1]:bob@b.example>"), SMTP_ADDR_SYNTAX);
	assert_int_equal(rcpt("<@a.example:@b.example:c@d.example>"), SMTP_ADDR_SYNTAX);
}

static void
test_smtp_address_relay_tricks(void **state)
{
	(void)state;
	assert_int_equal(rcpt("<user%other.example@local.example>"), SMTP_ADDR_OK);
	assert_true(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("<other.example!user@local.example>"), SMTP_ADDR_OK);
	assert_true(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("<\"user@other.example\"@local.example>"), SMTP_ADDR_OK);
	assert_true(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("<\"user\\@other.example\"@local.example>"), SMTP_ADDR_OK);
	assert_true(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("<user+tag@local.example>"), SMTP_ADDR_OK);
	assert_false(smtp_path_is_relay_trick(&path));
	assert_int_equal(rcpt("<\"user name\"@local.example>"), SMTP_ADDR_OK);
	assert_false(smtp_path_is_relay_trick(&path));
}

static void
test_smtp_address_control_bytes_anywhere_refused(void **state)
{
	static const char *const bad[] = {
		"<a@b.example>\r", "<a@b.example>\n", "<a\r\n@b.example>", "<a@b.example> SIZE=1\r\n",
		"\t<a@b.example>", "<a@b.example>\x7f", "<\"a\x01\"@b.example>",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mail(bad[i]), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a\0@b.example>", 14, true, &path, &params), SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_path("<a@b.example>\0", 14, true, &path, &params), SMTP_ADDR_SYNTAX);
	/* The length given is what counts, not a NUL terminator. */
	assert_int_equal(smtp_parse_path("<a@b.example>junk", 13, true, &path, &params), SMTP_ADDR_OK);
	assert_string_equal(path.address, "a@b.example");
}

/* A string of c repeated n times into buf (NUL-terminated). */
static char *
fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void
test_smtp_address_length_limits(void **state)
{
	char local[200], label[100], arg[800];
	char dom[450];

	(void)state;
	/* Local part: 64 octets accepted, 65 refused, quoted form counted as sent. */
	snprintf(arg, sizeof(arg), "<%s@example.org>", fill(local, 'l', 64));
	assert_int_equal(rcpt(arg), SMTP_ADDR_OK);
	assert_int_equal(strlen(path.local), 64);
	snprintf(arg, sizeof(arg), "<%s@example.org>", fill(local, 'l', 65));
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	snprintf(arg, sizeof(arg), "<\"%s\"@example.org>", fill(local, 'l', 62));
	assert_int_equal(rcpt(arg), SMTP_ADDR_OK);
	snprintf(arg, sizeof(arg), "<\"%s\"@example.org>", fill(local, 'l', 63));
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	snprintf(arg, sizeof(arg), "<\"%s\"@example.org>", fill(local, 'l', 150));
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	/* A label of 63 octets is fine, 64 is not. */
	snprintf(arg, sizeof(arg), "<a@%s.example>", fill(label, 'd', 63));
	assert_int_equal(rcpt(arg), SMTP_ADDR_OK);
	snprintf(arg, sizeof(arg), "<a@%s.example>", fill(label, 'd', 64));
	assert_int_equal(rcpt(arg), SMTP_ADDR_SYNTAX);
	/* Domain of 255 octets: valid alone, but the path is then too long. */
	fill(label, 'd', 63);
	snprintf(dom, sizeof(dom), "%s.%s.%s.%s", label, label, label, label);
	dom[255] = '\0';
	assert_true(smtp_domain_valid(dom, 255));
	snprintf(arg, sizeof(arg), "<a@%s>", dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	snprintf(dom, sizeof(dom), "%s.%s.%s.%s.x", label, label, label, label);
	assert_false(smtp_domain_valid(dom, strlen(dom)));
	snprintf(arg, sizeof(arg), "<a@%s>", dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	/* Path: 256 octets with brackets accepted, 257 refused (both spellings). */
	fill(local, 'l', 62);
	snprintf(dom, sizeof(dom), "%s.%s.%s", label, label, label);
	assert_int_equal(strlen(local) + 1 + strlen(dom) + 2, 256);
	snprintf(arg, sizeof(arg), "<%s@%s>", local, dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_OK);
	assert_int_equal(strlen(path.address), 254);
	snprintf(arg, sizeof(arg), "%s@%s", local, dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_OK);
	snprintf(arg, sizeof(arg), "<%sl@%s>", local, dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	snprintf(arg, sizeof(arg), "%sl@%s", local, dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
	/* The source route counts toward the 256 octets. */
	snprintf(arg, sizeof(arg), "<@r.example:%s@%s>", local, dom);
	assert_int_equal(rcpt(arg), SMTP_ADDR_TOO_LONG);
}

static void
test_smtp_address_params_known_values(void **state)
{
	(void)state;
	assert_int_equal(mail("<a@b.example> SIZE=12345 BODY=8bitmime AUTH=<>"), SMTP_ADDR_OK);
	assert_true(params.have_size);
	assert_int_equal(params.size, 12345);
	assert_int_equal(params.body, SMTP_BODY_8BITMIME);
	assert_true(params.have_auth);
	assert_int_equal(mail("<a@b.example>   size=0   body=7BIT  "), SMTP_ADDR_OK);
	assert_int_equal(params.size, 0);
	assert_int_equal(params.body, SMTP_BODY_7BIT);
	assert_int_equal(mail("<a@b.example> AUTH=alice+40example.org"), SMTP_ADDR_OK);
	assert_true(params.have_auth);
	assert_int_equal(mail("<a@b.example> SIZE=18446744073709551615"), SMTP_ADDR_OK);
	assert_true(params.size == UINT64_MAX);
}

static void
test_smtp_address_params_malformed_are_501(void **state)
{
	static const char *const bad[] = {
		"<a@b.example> SIZE",                   /* SIZE needs a value */
		"<a@b.example> SIZE=",
		"<a@b.example> SIZE=12a",
		"<a@b.example> SIZE=-1",
		"<a@b.example> SIZE=18446744073709551616", /* one past uint64 */
		"<a@b.example> SIZE=000000000000000000001",
		"<a@b.example> SIZE=1 SIZE=2",
		"<a@b.example> BODY",
		"<a@b.example> BODY=9BIT",
		"<a@b.example> BODY=7BIT BODY=7BIT",
		"<a@b.example> AUTH",
		"<a@b.example> AUTH=a=b",
		"<a@b.example> AUTH=<> AUTH=<>",
		"<a@b.example> =1",
		"<a@b.example> -X=1",
		"<a@b.example> SI_ZE=1",
		"<a@b.example> SIZE==1",
		"<a@b.example> BODY=8BIT\xc3\xa9",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mail(bad[i]) != SMTP_PARAM_SYNTAX)
			fail_msg("not a parameter syntax error: %s", bad[i]);
	}
	/* Without a space after '>' the path itself is malformed. */
	assert_int_equal(mail("<a@b.example>SIZE=1"), SMTP_ADDR_SYNTAX);
	/* Malformed before unknown: the first parameter decides. */
	assert_int_equal(mail("<a@b.example> SIZE=x XFOO"), SMTP_PARAM_SYNTAX);
	assert_int_equal(mail("<a@b.example> XFOO SIZE=x"), SMTP_PARAM_UNKNOWN);
}

static void
test_smtp_address_params_unknown_are_555(void **state)
{
	(void)state;
	assert_int_equal(mail("<a@b.example> SMTPUTF8"), SMTP_PARAM_UNKNOWN);
	assert_int_equal(mail("<a@b.example> RET=HDRS"), SMTP_PARAM_UNKNOWN);
	assert_int_equal(mail("<a@b.example> BODY=BINARYMIME"), SMTP_PARAM_UNKNOWN);
	assert_int_equal(mail("<a@b.example> X-1=2"), SMTP_PARAM_UNKNOWN);
	/* RCPT takes no parameter osd knows: DSN is not offered, SIZE is a MAIL parameter. */
	assert_int_equal(rcpt("<a@b.example> NOTIFY=NEVER"), SMTP_PARAM_UNKNOWN);
	assert_int_equal(rcpt("<a@b.example> SIZE=10"), SMTP_PARAM_UNKNOWN);
	assert_int_equal(rcpt("<a@b.example> ORCPT=rfc822;a@b.example"), SMTP_PARAM_UNKNOWN);
	assert_int_equal(rcpt("<a@b.example>  "), SMTP_ADDR_OK);
}

static void
test_smtp_address_domain_valid_for_helo(void **state)
{
	(void)state;
	assert_true(smtp_domain_valid("mail.example.org", 16));
	assert_true(smtp_domain_valid("localhost", 9));
	assert_true(smtp_domain_valid("1.2.3.4", 7));
	assert_true(smtp_domain_valid("[192.0.2.1]", 11));
	assert_true(smtp_domain_valid("[IPv6:::1]", 10));
	assert_false(smtp_domain_valid("", 0));
	assert_false(smtp_domain_valid(".", 1));
	assert_false(smtp_domain_valid("a..b", 4));
	assert_false(smtp_domain_valid("a.b.", 4));
	assert_false(smtp_domain_valid("-a.b", 4));
	assert_false(smtp_domain_valid("a-.b", 4));
	assert_false(smtp_domain_valid("a_b.c", 5));
	assert_false(smtp_domain_valid("a b", 3));
	assert_false(smtp_domain_valid("[192.0.2.1", 10));
	assert_false(smtp_domain_valid("[300.0.2.1]", 11));
	assert_false(smtp_domain_valid("[]", 2));
	assert_false(smtp_domain_valid("[", 1));
	assert_false(smtp_domain_valid("a\0b", 3));
	/* Only len octets are looked at. */
	assert_true(smtp_domain_valid("example.org..", 11));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_address_plain_mailbox_lowercases_domain_only),
		cmocka_unit_test(test_smtp_address_spaces_and_unbracketed_form),
		cmocka_unit_test(test_smtp_address_null_path_only_for_mail),
		cmocka_unit_test(test_smtp_address_postmaster_without_domain_for_rcpt_only),
		cmocka_unit_test(test_smtp_address_quoted_local_part_unescaped_and_requoted),
		cmocka_unit_test(test_smtp_address_dot_atom_rules),
		cmocka_unit_test(test_smtp_address_domain_rules),
		cmocka_unit_test(test_smtp_address_literals_checked_by_inet_pton),
		cmocka_unit_test(test_smtp_address_source_route_dropped_but_flagged),
		cmocka_unit_test(test_smtp_address_relay_tricks),
		cmocka_unit_test(test_smtp_address_control_bytes_anywhere_refused),
		cmocka_unit_test(test_smtp_address_length_limits),
		cmocka_unit_test(test_smtp_address_params_known_values),
		cmocka_unit_test(test_smtp_address_params_malformed_are_501),
		cmocka_unit_test(test_smtp_address_params_unknown_are_555),
		cmocka_unit_test(test_smtp_address_domain_valid_for_helo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
