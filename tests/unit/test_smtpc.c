/* test_smtpc.c - unit tests for the SMTP client's pure parts: replies, EHLO keywords (smtp-gate/remote/smtpc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "smtpc.h"

/*
 * Feed in (len octets) in pieces of at most step octets (0: all at once)
 * and collect up to max replies.  Returns how many, or -1 when the parser
 * called the input garbage (replies before it are kept).
 */
static int
parse_all(const char *in, size_t len, size_t step, struct smtpc_reply *out, int max)
{
	struct smtpc_reply_parser p;
	size_t pos = 0;
	int n = 0;

	smtp_reply_parser_init(&p);
	while (pos < len) {
		size_t piece = step == 0 || len - pos < step ? len - pos : step, off = 0;

		while (off < piece) {
			size_t used;
			int r = smtp_reply_parse(&p, in + pos + off, piece - off, &used, &out[n]);

			assert_true(used <= piece - off);
			off += used;
			if (r == -1)
				return -1;
			if (r == 1) {
				n++;
				if (n == max)
					return n;
			} else {
				assert_int_equal(off, piece);
			}
		}
		pos += piece;
	}
	return n;
}

static void
test_smtpc_reply_single_line(void **state)
{
	struct smtpc_reply r[2];
	char line[600];

	(void)state;
	assert_int_equal(parse_all("250 2.1.0 Ok\r\n", 14, 0, r, 2), 1);
	assert_int_equal(r[0].code, 250);
	assert_string_equal(r[0].enhanced, "2.1.0");
	assert_string_equal(r[0].text, "2.1.0 Ok");
	assert_int_equal(r[0].nlines, 1);
	assert_false(r[0].cut);
	assert_string_equal(smtp_reply_format(&r[0], line, sizeof(line)), "250 2.1.0 Ok");
}

static void
test_smtpc_reply_multiline_and_pipelined(void **state)
{
	static const char in[] = "250-mx.example.net hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
				 "550 5.1.1 <x@y>: no such user\r\n354 go ahead\r\n";
	struct smtpc_reply r[4];
	char line[600];

	(void)state;
	for (size_t step = 0; step <= 7; step++) {
		assert_int_equal(parse_all(in, sizeof(in) - 1, step, r, 4), 3);
		assert_int_equal(r[0].code, 250);
		assert_int_equal(r[0].nlines, 3);
		assert_string_equal(r[0].text, "mx.example.net hello\nPIPELINING\nSIZE 1000");
		assert_string_equal(r[0].enhanced, "");
		assert_int_equal(r[1].code, 550);
		assert_string_equal(r[1].enhanced, "5.1.1");
		assert_int_equal(r[2].code, 354);
	}
	assert_string_equal(smtp_reply_format(&r[0], line, sizeof(line)),
			    "250 mx.example.net hello / PIPELINING / SIZE 1000");
	/* Cut to the room given, never past it. */
	assert_string_equal(smtp_reply_format(&r[0], line, 12), "250 mx.exam");
}

static void
test_smtpc_reply_split_leaves_rest_for_next(void **state)
{
	struct smtpc_reply_parser p;
	struct smtpc_reply r;
	size_t used;

	(void)state;
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_parse(&p, "22", 2, &used, &r), 0);
	assert_int_equal(used, 2);
	assert_int_equal(smtp_reply_parse(&p, "0 hi\r", 5, &used, &r), 0);
	assert_int_equal(smtp_reply_parse(&p, "\n250 next\r\n", 11, &used, &r), 1);
	assert_int_equal(used, 1);
	assert_int_equal(r.code, 220);
	assert_string_equal(r.text, "hi");
	assert_int_equal(smtp_reply_parse(&p, "250 next\r\n", 10, &used, &r), 1);
	assert_int_equal(r.code, 250);
	assert_int_equal(used, 10);
}

static void
test_smtpc_reply_bare_code_and_lf_only(void **state)
{
	struct smtpc_reply r[2];

	(void)state;
	assert_int_equal(parse_all("250\n221 bye\n", 12, 0, r, 2), 2);
	assert_int_equal(r[0].code, 250);
	assert_string_equal(r[0].text, "");
	assert_int_equal(r[1].code, 221);
	assert_string_equal(r[1].text, "bye");
}

static void
test_smtpc_reply_garbage(void **state)
{
	static const char *const bad[] = {
		"hello\r\n", "25\r\n", "2x0 ok\r\n", "650 no\r\n", "150 no\r\n", "250_x\r\n",
		"250-a\r\n251 b\r\n", "\r\n", "<html>\n",
	};
	struct smtpc_reply r[2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_all(bad[i], strlen(bad[i]), 0, r, 2), -1);
}

static void
test_smtpc_reply_control_characters_made_harmless(void **state)
{
	static const char in[] = "550 bad\tname\x01\x7f here\r\n";
	struct smtpc_reply r[1];

	(void)state;
	assert_int_equal(parse_all(in, sizeof(in) - 1, 0, r, 1), 1);
	assert_string_equal(r[0].text, "bad?name?? here");
}

static void
test_smtpc_reply_overlong_line_cut(void **state)
{
	size_t len = 100000;
	char *in = malloc(len + 20);
	struct smtpc_reply r[2];

	(void)state;
	assert_non_null(in);
	memcpy(in, "550 ", 4);
	memset(in + 4, 'x', len - 4);
	memcpy(in + len, "\r\n221 bye\r\n", 11);
	for (size_t step = 0; step <= 4096; step += 4096) {
		assert_int_equal(parse_all(in, len + 11, step, r, 2), 2);
		assert_int_equal(r[0].code, 550);
		assert_true(r[0].cut);
		assert_int_equal(r[0].len, SMTPC_LINE_MAX - 4);
		assert_int_equal(r[1].code, 221);
		assert_false(r[1].cut);
	}
	free(in);
}

static void
test_smtpc_reply_many_lines_kept_bounded(void **state)
{
	struct buf in;
	struct smtpc_reply r[1];

	(void)state;
	buf_init(&in, 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(buf_printf(&in, "250-%s line %d\r\n",
					    "a-fairly-long-keyword-for-filling-the-text", i), 0);
	assert_int_equal(buf_append_str(&in, "250 end\r\n"), 0);
	assert_int_equal(parse_all(in.data, in.len, 1000, r, 1), 1);
	assert_int_equal(r[0].nlines, 201);
	assert_true(r[0].cut);
	assert_true(r[0].len < SMTPC_TEXT_MAX);
	assert_int_equal(strlen(r[0].text), r[0].len);
	buf_free(&in);

	/* A reply that never ends is garbage, not an endless wait. */
	buf_init(&in, 0);
	for (int i = 0; i <= SMTPC_LINES_LIMIT; i++)
		assert_int_equal(buf_append_str(&in, "250-x\r\n"), 0);
	assert_int_equal(parse_all(in.data, in.len, 0, r, 1), -1);
	buf_free(&in);
}

static void
test_smtpc_reply_enhanced_code_rules(void **state)
{
	static const struct {
		const char *in, *enhanced;
	} cases[] = {
		{ "550 5.7.1 denied\r\n", "5.7.1" },
		{ "550 5.7.123\r\n", "5.7.123" },
		{ "450 5.7.1 class differs\r\n", "" },
		{ "550 5.7.1234 too long\r\n", "" },
		{ "550 5.71\r\n", "" },
		{ "550 5..1 x\r\n", "" },
		{ "550 5.1.1x\r\n", "" },
		{ "550 sorry\r\n", "" },
	};
	struct smtpc_reply r[1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_all(cases[i].in, strlen(cases[i].in), 0, r, 1), 1);
		assert_string_equal(r[0].enhanced, cases[i].enhanced);
	}
}

static struct smtp_ehlo
ehlo_of(const char *in)
{
	struct smtpc_reply r[1];
	struct smtp_ehlo e;

	assert_int_equal(parse_all(in, strlen(in), 0, r, 1), 1);
	smtp_ehlo_parse(&r[0], &e);
	return e;
}

static void
test_smtpc_ehlo_keywords(void **state)
{
	struct smtp_ehlo e;

	(void)state;
	e = ehlo_of("250-mx.example.net STARTTLS PIPELINING\r\n250-pipelining\r\n"
		    "250-Size 10240000\r\n250-STARTTLSX\r\n250-8BITMIME\r\n250 StartTLS\r\n");
	assert_true(e.pipelining);
	assert_true(e.size);
	assert_int_equal(e.size_max, 10240000);
	assert_true(e.eightbitmime);
	assert_true(e.starttls);

	/* The greeting line names the server: its words are no keywords. */
	e = ehlo_of("250-mx STARTTLS PIPELINING SIZE\r\n250-STARTTLSX\r\n250 SIZE\r\n");
	assert_false(e.starttls);
	assert_false(e.pipelining);
	assert_true(e.size);
	assert_int_equal(e.size_max, 0);

	e = ehlo_of("250 mx.example.net\r\n");
	assert_false(e.starttls || e.pipelining || e.size || e.eightbitmime);

	e = ehlo_of("250-mx\r\n250 SIZE 99999999999999999999999\r\n");
	assert_true(e.size);
	assert_int_equal(e.size_max, 0);

	/* A refused EHLO offers nothing. */
	e = ehlo_of("502-mx\r\n502 STARTTLS\r\n");
	assert_false(e.starttls);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtpc_reply_single_line),
		cmocka_unit_test(test_smtpc_reply_multiline_and_pipelined),
		cmocka_unit_test(test_smtpc_reply_split_leaves_rest_for_next),
		cmocka_unit_test(test_smtpc_reply_bare_code_and_lf_only),
		cmocka_unit_test(test_smtpc_reply_garbage),
		cmocka_unit_test(test_smtpc_reply_control_characters_made_harmless),
		cmocka_unit_test(test_smtpc_reply_overlong_line_cut),
		cmocka_unit_test(test_smtpc_reply_many_lines_kept_bounded),
		cmocka_unit_test(test_smtpc_reply_enhanced_code_rules),
		cmocka_unit_test(test_smtpc_ehlo_keywords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
