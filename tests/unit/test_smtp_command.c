/* test_smtp_command.c - unit tests for splitting SMTP command lines (smtp-gate/smtpd/command.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "command.h"

static struct smtp_command cmd;

static enum smtp_command_error
parse(const char *line)
{
	return smtp_command_parse(line, strlen(line), &cmd);
}

/* The argument as a NUL-terminated string, for assert_string_equal. */
static const char *
arg(void)
{
	static char s[SMTP_COMMAND_MAX + 1];

	assert_true(cmd.arg_len <= SMTP_COMMAND_MAX);
	memcpy(s, cmd.arg, cmd.arg_len);
	s[cmd.arg_len] = '\0';
	return s;
}

static void
test_smtp_command_verbs_case_insensitive(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
	} cases[] = {
		{ "HELO a.example", SMTP_VERB_HELO }, { "ehlo a.example", SMTP_VERB_EHLO },
		{ "Mail From:<a@b>", SMTP_VERB_MAIL }, { "rCpT tO:<a@b>", SMTP_VERB_RCPT },
		{ "data", SMTP_VERB_DATA }, { "RSET", SMTP_VERB_RSET }, { "noop", SMTP_VERB_NOOP },
		{ "QUIT", SMTP_VERB_QUIT }, { "VRFY bob", SMTP_VERB_VRFY }, { "EXPN list", SMTP_VERB_EXPN },
		{ "HELP", SMTP_VERB_HELP }, { "StartTLS", SMTP_VERB_STARTTLS },
		{ "AUTH PLAIN AGJvYgBwdw==", SMTP_VERB_AUTH }, { "BDAT 100 LAST", SMTP_VERB_BDAT },
		{ "GET / HTTP/1.1", SMTP_VERB_HTTP }, { "post /x HTTP/1.0", SMTP_VERB_HTTP },
		{ "CONNECT mx.example:25 HTTP/1.1", SMTP_VERB_HTTP }, { "HEAD /", SMTP_VERB_HTTP },
		{ "PUT /", SMTP_VERB_HTTP },
		{ "MAILX", SMTP_VERB_UNKNOWN }, { "HEL", SMTP_VERB_UNKNOWN }, { "XCLIENT a=b", SMTP_VERB_UNKNOWN },
		{ "GETX /", SMTP_VERB_UNKNOWN }, { "HELO\ta.example", SMTP_VERB_UNKNOWN },
		{ " HELO a.example", SMTP_VERB_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].line) != SMTP_COMMAND_OK || cmd.verb != cases[i].verb)
			fail_msg("wrong verb for \"%s\": %d", cases[i].line, cmd.verb);
	}
}

static void
test_smtp_command_argument_after_spaces(void **state)
{
	(void)state;
	assert_int_equal(parse("HELO   mx.example.org\r\n"), SMTP_COMMAND_OK);
	assert_string_equal(arg(), "mx.example.org");
	assert_int_equal(parse("EHLO mx.example.org  \r\n"), SMTP_COMMAND_OK);
	assert_string_equal(arg(), "mx.example.org");
	assert_int_equal(parse("EHLO"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.arg_len, 0);
	assert_int_equal(parse("AUTH LOGIN"), SMTP_COMMAND_OK);
	assert_string_equal(arg(), "LOGIN");
	assert_int_equal(parse("XFOO bar baz"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
	assert_string_equal(arg(), "bar baz");
}

static void
test_smtp_command_mail_from_and_rcpt_to_keywords(void **state)
{
	(void)state;
	assert_int_equal(parse("MAIL FROM:<a@b.example> SIZE=10\r\n"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	assert_string_equal(arg(), "<a@b.example> SIZE=10");
	/* Spaces after the colon stay for smtp_parse_path. */
	assert_int_equal(parse("mail from:  <a@b.example>"), SMTP_COMMAND_OK);
	assert_string_equal(arg(), "  <a@b.example>");
	assert_int_equal(parse("RCPT  TO:<c@d.example>"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.verb, SMTP_VERB_RCPT);
	assert_string_equal(arg(), "<c@d.example>");
	assert_int_equal(parse("MAIL FROM:"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.arg_len, 0);
	assert_int_equal(parse("MAIL FROM :<a@b.example>"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	assert_int_equal(parse("MAIL FROM<a@b.example>"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("MAIL TO:<a@b.example>"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("MAIL"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("MAIL FRO"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("RCPT FROM:<a@b.example>"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(cmd.verb, SMTP_VERB_RCPT);
	assert_int_equal(parse("RCPT TO <a@b.example>"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("RCPT"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("MAILFROM:<a@b.example>"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
}

static void
test_smtp_command_no_argument_verbs(void **state)
{
	(void)state;
	assert_int_equal(parse("DATA\r\n"), SMTP_COMMAND_OK);
	assert_int_equal(parse("DATA   \r\n"), SMTP_COMMAND_OK);
	assert_int_equal(parse("DATA x"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(cmd.verb, SMTP_VERB_DATA);
	assert_int_equal(parse("RSET now"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("QUIT bye"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("STARTTLS x"), SMTP_COMMAND_SYNTAX);
	assert_int_equal(parse("NOOP anything at all"), SMTP_COMMAND_OK);
	assert_int_equal(parse("HELP DATA"), SMTP_COMMAND_OK);
	assert_int_equal(parse("VRFY postmaster"), SMTP_COMMAND_OK);
}

static void
test_smtp_command_empty_lines(void **state)
{
	(void)state;
	assert_int_equal(smtp_command_parse("", 0, &cmd), SMTP_COMMAND_EMPTY);
	assert_int_equal(parse("\r\n"), SMTP_COMMAND_EMPTY);
	assert_int_equal(parse("    \r\n"), SMTP_COMMAND_EMPTY);
}

static void
test_smtp_command_bad_bytes(void **state)
{
	(void)state;
	assert_int_equal(smtp_command_parse("HELO a\0b\r\n", 10, &cmd), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(smtp_command_parse("\0", 1, &cmd), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("HELO a\rb\r\n"), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("QUIT\r"), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("\r"), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("QUIT\r\r\n"), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("QUIT\nDATA\r\n"), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("H\xc3\x89LO a"), SMTP_COMMAND_BAD_BYTES);
	assert_int_equal(parse("\xff"), SMTP_COMMAND_BAD_BYTES);
	/* 8-bit in the argument is for the argument's parser to judge. */
	assert_int_equal(parse("HELO caf\xc3\xa9.example"), SMTP_COMMAND_OK);
	assert_int_equal(cmd.verb, SMTP_VERB_HELO);
}

static void
test_smtp_command_length_limit(void **state)
{
	char line[SMTP_COMMAND_MAX + 8];

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_MAX, &cmd), SMTP_COMMAND_OK);
	assert_int_equal(cmd.arg_len, SMTP_COMMAND_MAX - 5);
	memcpy(line + SMTP_COMMAND_MAX, "\r\n", 2);
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_MAX + 2, &cmd), SMTP_COMMAND_OK);
	memcpy(line + SMTP_COMMAND_MAX, "\n", 1);
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_MAX + 1, &cmd), SMTP_COMMAND_BARE_LF);
	line[SMTP_COMMAND_MAX] = 'a';
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_MAX + 1, &cmd), SMTP_COMMAND_TOO_LONG);
	memcpy(line + SMTP_COMMAND_MAX + 1, "\r\n", 2);
	assert_int_equal(smtp_command_parse(line, SMTP_COMMAND_MAX + 3, &cmd), SMTP_COMMAND_TOO_LONG);
}

/* RFC 5321 2.3.8: a command ends in CRLF; a bare LF is refused as Postfix's smtpd_forbid_bare_newline = reject does. */
static void
test_smtp_command_bare_lf_refused(void **state)
{
	(void)state;
	assert_int_equal(parse("NOOP\n"), SMTP_COMMAND_BARE_LF);
	assert_int_equal(parse("\n"), SMTP_COMMAND_BARE_LF);
	assert_int_equal(parse("QUIT\n\n"), SMTP_COMMAND_BARE_LF);
	assert_int_equal(parse("MAIL FROM:<a@b.example>\n"), SMTP_COMMAND_BARE_LF);
	assert_int_equal(parse("NOOP\r\n"), SMTP_COMMAND_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_command_verbs_case_insensitive),
		cmocka_unit_test(test_smtp_command_argument_after_spaces),
		cmocka_unit_test(test_smtp_command_mail_from_and_rcpt_to_keywords),
		cmocka_unit_test(test_smtp_command_no_argument_verbs),
		cmocka_unit_test(test_smtp_command_empty_lines),
		cmocka_unit_test(test_smtp_command_bad_bytes),
		cmocka_unit_test(test_smtp_command_length_limit),
		cmocka_unit_test(test_smtp_command_bare_lf_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
