/* test_imap_parser.c - unit tests for the IMAP command parser (imapd/imap_parser.c): every construct, every error with its text and code, literals in pieces, the caps. */
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
#include "imap_parser.h"

/* What feed() saw: the literal announcements, in order. */
struct seen {
	size_t literals;
	size_t sizes[8];
	bool sync[8];
};

/*
 * Feed wire octets as a server would: a line up to CRLF, then the octets
 * of the literal it announces in pieces of at most piece octets (0: all
 * at once), and so on until DONE or ERROR.  Returns that result; *used_r
 * (when not NULL) the octets consumed.
 */
static enum imap_parse_result
feed_n(struct imap_parser *p, const char *wire, size_t len, size_t piece, struct seen *seen,
       size_t *used_r)
{
	size_t pos = 0;
	enum imap_parse_result r = IMAP_PARSE_ERROR;

	if (seen != NULL)
		memset(seen, 0, sizeof(*seen));
	while (pos < len) {
		const char *crlf = NULL;
		size_t lit;
		bool sync;

		for (size_t i = pos; i + 1 < len; i++) {
			if (wire[i] == '\r' && wire[i + 1] == '\n') {
				crlf = wire + i;
				break;
			}
		}
		assert_non_null(crlf);
		r = imap_parser_line(p, wire + pos, (size_t)(crlf - (wire + pos)), &lit, &sync);
		pos = (size_t)(crlf - wire) + 2;
		if (r != IMAP_PARSE_LITERAL)
			break;
		if (seen != NULL && seen->literals < 8) {
			seen->sizes[seen->literals] = lit;
			seen->sync[seen->literals] = sync;
			seen->literals++;
		}
		assert_true(lit <= len - pos);
		if (lit == 0) {
			/* Zero octets: the caller may say so, or go straight on with the line. */
			if ((pos & 1) == 0)
				assert_int_equal(imap_parser_literal(p, "", 0), IMAP_PARSE_LITERAL);
			continue;
		}
		while (lit > 0) {
			size_t k = piece == 0 || piece > lit ? lit : piece;

			r = imap_parser_literal(p, wire + pos, k);
			pos += k;
			lit -= k;
			assert_int_equal(r, lit > 0 ? IMAP_PARSE_MORE : IMAP_PARSE_LITERAL);
		}
	}
	if (used_r != NULL)
		*used_r = pos;
	return r;
}

static enum imap_parse_result
feed(struct imap_parser *p, const char *wire)
{
	return feed_n(p, wire, strlen(wire), 0, NULL, NULL);
}

static void
dump_args(struct buf *b, const struct imap_arg *args, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];

		if (i > 0)
			buf_append_char(b, ' ');
		assert_true(a->type == IMAP_ARG_LIST || a->str[a->len] == '\0');
		switch (a->type) {
		case IMAP_ARG_ATOM:
			buf_append(b, a->str, a->len);
			break;
		case IMAP_ARG_NIL:
			buf_printf(b, "<NIL:%s>", a->str);
			break;
		case IMAP_ARG_STRING:
			buf_append_char(b, '"');
			buf_append(b, a->str, a->len);
			buf_append_char(b, '"');
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(b, "%s{%zu}", a->literal8 ? "~" : "", a->len);
			for (size_t j = 0; j < a->len; j++)
				buf_append_char(b, a->str[j] == '\0' ? '@' : a->str[j]);
			break;
		case IMAP_ARG_LIST:
			buf_append_char(b, '(');
			dump_args(b, a->list, a->count);
			buf_append_char(b, ')');
			break;
		}
	}
}

/* The parsed command as "TAG COMMAND args", atoms bare, strings in quotes, literals as {n}octets. */
static const char *
dump(struct imap_parser *p)
{
	static struct buf b;
	size_t n;
	const struct imap_arg *args = imap_parser_args(p, &n);

	buf_free(&b);
	buf_init(&b, 0);
	buf_printf(&b, "%s %s", imap_parser_tag(p), imap_parser_command(p));
	if (n > 0) {
		buf_append_char(&b, ' ');
		dump_args(&b, args, n);
	}
	return b.data;
}

/* One whole command (with its CRLFs), parsed: its dump. */
static const char *
parse_ok(struct imap_parser *p, const char *wire)
{
	imap_parser_reset(p);
	if (feed(p, wire) != IMAP_PARSE_DONE)
		fail_msg("%s: %s", wire, imap_parser_error(p));
	return dump(p);
}

/* Tag, command name and argument kinds, on single lines. */
static void
test_imap_parser_constructs(void **state)
{
	static const struct {
		const char *wire, *dump;
	} cases[] = {
		{ "a1 NOOP\r\n", "a1 NOOP" },
		{ "a1 noop\r\n", "a1 noop" },
		{ "A2 LOGIN alice secret\r\n", "A2 LOGIN alice secret" },
		{ "A3 LOGIN \"al\\\"ice\" \"se\\\\cr et\"\r\n", "A3 LOGIN \"al\"ice\" \"se\\cr et\"" },
		{ "A4 SELECT \"\"\r\n", "A4 SELECT \"\"" },
		{ "A5 LIST \"\" *\r\n", "A5 LIST \"\" *" },
		{ "A6 LIST \"\" %/Sub%\r\n", "A6 LIST \"\" %/Sub%" },
		{ "A7 STORE 1:3,5 +FLAGS.SILENT (\\Seen \\Deleted $Junk)\r\n",
		  "A7 STORE 1:3,5 +FLAGS.SILENT (\\Seen \\Deleted $Junk)" },
		{ "A8 STORE 1 FLAGS ()\r\n", "A8 STORE 1 FLAGS ()" },
		{ "A9 X (a (b (c)) () d)\r\n", "A9 X (a (b (c)) () d)" },
		{ "B1 ID NIL\r\n", "B1 ID <NIL:NIL>" },
		{ "B2 ID (\"name\" nil \"x\" Nil)\r\n", "B2 ID (\"name\" <NIL:nil> \"x\" <NIL:Nil>)" },
		{ "B3 X NILS NI \"NIL\"\r\n", "B3 X NILS NI \"NIL\"" },
		{ "B4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048>)\r\n",
		  "B4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048>)" },
		{ "B5 FETCH 1 BODY[]\r\n", "B5 FETCH 1 BODY[]" },
		{ "B6 FETCH 1 (BODY[] BODY[1.2.MIME] BINARY.PEEK[1]<0.100>)\r\n",
		  "B6 FETCH 1 (BODY[] BODY[1.2.MIME] BINARY.PEEK[1]<0.100>)" },
		{ "B7 FETCH 1 BODY[HEADER.FIELDS.NOT (\"X-A\" B)]\r\n",
		  "B7 FETCH 1 BODY[HEADER.FIELDS.NOT (\"X-A\" B)]" },
		{ "B8 FETCH 1 (BODY[HEADER.FIELDS (A B)])\r\n", "B8 FETCH 1 (BODY[HEADER.FIELDS (A B)])" },
		{ "B9 SEARCH UID 1:*,4 NOT SEEN OR (FROM x) TO \"y z\"\r\n",
		  "B9 SEARCH UID 1:*,4 NOT SEEN OR (FROM x) TO \"y z\"" },
		{ "C1 X \\* ]a a]\r\n", "C1 X \\* ]a a]" },
		/* A '[' with no ']' after it on the line is an ordinary atom char (imaptest atoms, as Dovecot reads it). */
		{ "C5 SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}\r\n", "C5 SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}" },
		{ "C6 FETCH 1 BODY[HEADER\r\n", "C6 FETCH 1 BODY[HEADER" },
		{ "C7 FETCH 1 BODY[[]\r\n", "C7 FETCH 1 BODY[[]" },
		{ "C8 X a[b c\r\n", "C8 X a[b c" },
		/* Control characters other than CR, LF and NUL are TEXT-CHARs. */
		{ "C2 X \"a\tb\"\r\n", "C2 X \"a\tb\"" },
		/* One space before the end: tolerated. */
		{ "C3 LOGOUT \r\n", "C3 LOGOUT" },
		{ "C4 CHECK 1 \r\n", "C4 CHECK 1" },
	};
	struct imap_parser *p = imap_parser_new(NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(parse_ok(p, cases[i].wire), cases[i].dump);
	imap_parser_free(p);
}

/* Tags: any ASTRING-CHAR but "+"; a tag that cannot be read leaves "" for "* BAD". */
static void
test_imap_parser_tags(void **state)
{
	static const char *const good[] = { "a]b", "!#$&'-.~=^_`|/", "0", "[x", "A.1<>" };
	static const char *const bad[] = { "+", "a+b", "*", "a%", "(a", "a\"b", "a\\b", "a{1}", "\x80x", "a\x01" };
	struct imap_parser *p = imap_parser_new(NULL);
	char line[64];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof line, "%s NOOP\r\n", good[i]);
		imap_parser_reset(p);
		assert_int_equal(feed(p, line), IMAP_PARSE_DONE);
		assert_string_equal(imap_parser_tag(p), good[i]);
		assert_string_equal(imap_parser_command(p), "NOOP");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof line, "%s NOOP\r\n", bad[i]);
		imap_parser_reset(p);
		assert_int_equal(feed(p, line), IMAP_PARSE_ERROR);
		assert_string_equal(imap_parser_error(p), "Invalid tag");
		assert_null(imap_parser_error_code(p));
		assert_false(imap_parser_error_fatal(p));
		assert_string_equal(imap_parser_tag(p), "");
	}
	imap_parser_free(p);
}

/* Every syntax error: its text, no code, the tag kept when it was read, never fatal. */
static void
test_imap_parser_syntax_errors(void **state)
{
	static const struct {
		const char *wire, *tag, *error;
	} cases[] = {
		{ "\r\n", "", "Empty command line" },
		{ " NOOP\r\n", "", "Invalid tag" },
		{ "a1\r\n", "a1", "Missing command" },
		{ "a1 \r\n", "a1", "Missing command" },
		{ "a1  NOOP\r\n", "a1", "Missing command" },
		{ "a1 (NOOP)\r\n", "a1", "Missing command" },
		{ "a1 NO*OP\r\n", "a1", "Invalid characters in command name" },
		{ "a1 NO]OP\r\n", "a1", "Invalid characters in command name" },
		{ "a1 N\xc3\xa9\r\n", "a1", "Invalid characters in command name" },
		{ "a2 LOGIN  alice\r\n", "a2", "Unexpected space" },
		{ "a2 LOGIN alice  secret\r\n", "a2", "Unexpected space" },
		{ "a2 LOGIN alice secret  \r\n", "a2", "Unexpected space" },
		{ "a2 X ( a)\r\n", "a2", "Unexpected space" },
		{ "a2 X (a )\r\n", "a2", "Unexpected ')'" },
		{ "a3 X (a\r\n", "a3", "Missing ')'" },
		{ "a3 X (\r\n", "a3", "Missing ')'" },
		{ "a3 X ((a) b\r\n", "a3", "Missing ')'" },
		{ "a3 X (a \r\n", "a3", "Missing ')'" },
		{ "a4 X a)\r\n", "a4", "Unexpected ')'" },
		{ "a4 X (a))\r\n", "a4", "Unexpected ')'" },
		{ "a4 X )\r\n", "a4", "Unexpected ')'" },
		{ "a5 X \"a\"b\r\n", "a5", "Missing space between arguments" },
		{ "a5 X (a)(b)\r\n", "a5", "Missing space between arguments" },
		{ "a5 X (a)b\r\n", "a5", "Missing space between arguments" },
		{ "a6 X \"abc\r\n", "a6", "Missing '\"'" },
		{ "a6 X \"abc\\\"\r\n", "a6", "Missing '\"'" },
		{ "a7 X \"a\\b\"\r\n", "a7", "Invalid escape in quoted string" },
		{ "a7 X \"a\\\r\n", "a7", "Invalid escape in quoted string" },
		{ "a8 X \"caf\xc3\xa9\"\r\n", "a8", "Invalid characters in quoted string" },
		{ "a8 X \"a\rb\"\r\n", "a8", "Invalid characters in quoted string" },
		{ "a8 X \"a\nb\"\r\n", "a8", "Invalid characters in quoted string" },
		{ "a9 X caf\xc3\xa9\r\n", "a9", "Invalid characters in atom" },
		{ "a9 X a\"b\r\n", "a9", "Invalid characters in atom" },
		{ "a9 X a{5}\r\n", "a9", "Invalid characters in atom" },
		{ "a9 X a(b\r\n", "a9", "Invalid characters in atom" },
		{ "a9 X a\x7f\r\n", "a9", "Invalid characters in atom" },
		{ "a9 X a\tb\r\n", "a9", "Invalid characters in atom" },
		{ "a9 X BODY[\x01]\r\n", "a9", "Invalid characters in atom" },
		/* A '[' without its ']' is an atom char: what follows is read as usual. */
		{ "b1 FETCH 1 (BODY[HEADER.FIELDS (A B)\r\n", "b1", "Missing ')'" },
		{ "b2 X {\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {}\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {+}\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {5\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {5}x\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {5} \r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {-5}\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {5++}\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X ~{x}\r\n", "b2", "Invalid literal announcement" },
		{ "b2 X {5} {6}\r\n", "b2", "Invalid literal announcement" },
	};
	struct imap_parser *p = imap_parser_new(NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		imap_parser_reset(p);
		if (feed(p, cases[i].wire) != IMAP_PARSE_ERROR)
			fail_msg("accepted: %s", cases[i].wire);
		if (strcmp(imap_parser_error(p), cases[i].error) != 0)
			fail_msg("%s: \"%s\", expected \"%s\"", cases[i].wire, imap_parser_error(p),
				 cases[i].error);
		assert_string_equal(imap_parser_tag(p), cases[i].tag);
		assert_null(imap_parser_error_code(p));
		assert_false(imap_parser_error_fatal(p));
	}
	imap_parser_free(p);
}

/* {n}, {n+}, ~{n} and ~{n+}: the announcement's size and kind, the octets as one argument, NULs kept. */
static void
test_imap_parser_literals(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct seen seen;
	const struct imap_arg *args;
	size_t n;
	static const char wire[] = "A1 APPEND INBOX (\\Seen) ~{5+}\r\na\0b\r\n\r\n";

	(void)state;
	assert_string_equal(parse_ok(p, "A1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"),
			    "A1 LOGIN {5}alice {6}secret");
	imap_parser_reset(p);
	assert_int_equal(feed_n(p, "A1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n",
				strlen("A1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"), 0, &seen, NULL),
			 IMAP_PARSE_DONE);
	assert_int_equal(seen.literals, 2);
	assert_int_equal(seen.sizes[0], 5);
	assert_true(seen.sync[0]);
	assert_int_equal(seen.sizes[1], 6);
	assert_false(seen.sync[1]);

	/* literal8, non-synchronizing, holding NUL, CR and LF: binary, not an astring. */
	imap_parser_reset(p);
	assert_int_equal(feed_n(p, wire, sizeof(wire) - 1, 0, &seen, NULL), IMAP_PARSE_DONE);
	assert_string_equal(dump(p), "A1 APPEND INBOX (\\Seen) ~{5}a@b\r\n");
	assert_false(seen.sync[0]);
	args = imap_parser_args(p, &n);
	assert_int_equal(n, 3);
	assert_true(args[2].literal8);
	assert_int_equal(args[2].len, 5);
	assert_false(imap_arg_is_astring(&args[2]));
	assert_null(imap_arg_astring(&args[2]));
	assert_false(args[0].literal8);

	assert_string_equal(parse_ok(p, "A2 APPEND INBOX ~{3}\r\nabc\r\n"), "A2 APPEND INBOX ~{3}abc");
	/* Literals inside lists, and a list after a literal. */
	assert_string_equal(parse_ok(p, "A3 X ({1}\r\na {2}\r\nbc) (d)\r\n"), "A3 X ({1}a {2}bc) (d)");
	assert_string_equal(parse_ok(p, "A4 X ({1}\r\na)\r\n"), "A4 X ({1}a)");
	/* A literal is a literal whatever it holds: not an atom, not NIL, not a list. */
	assert_string_equal(parse_ok(p, "A5 X {3}\r\nNIL {3}\r\n(a)\r\n"), "A5 X {3}NIL {3}(a)");
	/* After a literal: the end, a space and more, ")" - nothing else. */
	imap_parser_reset(p);
	assert_int_equal(feed(p, "A6 X {1}\r\nax\r\n"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Missing space between arguments");
	assert_string_equal(imap_parser_tag(p), "A6");
	imap_parser_reset(p);
	assert_int_equal(feed(p, "A7 X {1}\r\na)\r\n"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Unexpected ')'");
	imap_parser_reset(p);
	assert_int_equal(feed(p, "A8 X ({1}\r\na\r\n"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Missing ')'");
	imap_parser_free(p);
}

/* A literal of size 0, with or without a call to imap_parser_literal, and the octets in pieces of every size. */
static void
test_imap_parser_literal_pieces_and_empty(void **state)
{
	static const char wire[] = "A1 APPEND Box (\\Seen) {24+}\r\nFrom: a\r\n\r\nHello\0world\r\n {0}\r\n\r\n";
	struct imap_parser *p = imap_parser_new(NULL);
	struct seen seen;
	size_t used;

	(void)state;
	for (size_t piece = 1; piece <= 27; piece++) {
		imap_parser_reset(p);
		assert_int_equal(feed_n(p, wire, sizeof(wire) - 1, piece, &seen, &used), IMAP_PARSE_DONE);
		assert_int_equal(used, sizeof(wire) - 1);
		assert_string_equal(dump(p), "A1 APPEND Box (\\Seen) {24}From: a\r\n\r\nHello@world\r\n {0}");
		assert_int_equal(seen.literals, 2);
		assert_int_equal(seen.sizes[1], 0);
	}
	/* Zero-size literal: both ways of going on (imap_parser_literal with 0 octets, or the line at once). */
	imap_parser_reset(p);
	{
		size_t lit;
		bool sync;

		assert_int_equal(imap_parser_line(p, "B1 LOGIN {0}", 12, &lit, &sync), IMAP_PARSE_LITERAL);
		assert_int_equal(lit, 0);
		assert_true(sync);
		assert_int_equal(imap_parser_literal(p, "", 0), IMAP_PARSE_LITERAL);
		assert_int_equal(imap_parser_line(p, " {0+}", 5, &lit, &sync), IMAP_PARSE_LITERAL);
		assert_false(sync);
		assert_int_equal(imap_parser_line(p, "", 0, &lit, &sync), IMAP_PARSE_DONE);
		assert_string_equal(dump(p), "B1 LOGIN {0} {0}");
		/* Zero octets in the middle of a literal: still more to come. */
		imap_parser_reset(p);
		assert_int_equal(imap_parser_line(p, "B2 X {2}", 8, &lit, &sync), IMAP_PARSE_LITERAL);
		assert_int_equal(imap_parser_literal(p, "", 0), IMAP_PARSE_MORE);
		assert_int_equal(imap_parser_literal(p, "a", 1), IMAP_PARSE_MORE);
		assert_int_equal(imap_parser_literal(p, "b", 1), IMAP_PARSE_LITERAL);
		assert_int_equal(imap_parser_line(p, "", 0, &lit, &sync), IMAP_PARSE_DONE);
		assert_string_equal(dump(p), "B2 X {2}ab");
	}
	imap_parser_free(p);
}

/* MULTIAPPEND over three lines with two literals, and a large literal whose octets land where they stay. */
static void
test_imap_parser_multiline(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_arg *args;
	size_t n, lit, big = 3 * 1024 * 1024;
	bool sync;
	char *data = malloc(big);

	(void)state;
	assert_string_equal(parse_ok(p, "M1 APPEND Sent (\\Seen) \"7-Feb-1994 21:52:25 -0800\" {3+}\r\n"
				     "abc (\\Draft) {4+}\r\ndefg\r\n"),
			    "M1 APPEND Sent (\\Seen) \"7-Feb-1994 21:52:25 -0800\" {3}abc (\\Draft) {4}defg");
	args = imap_parser_args(p, &n);
	assert_int_equal(n, 6);
	assert_int_equal(args[1].type, IMAP_ARG_LIST);
	assert_int_equal(args[1].count, 1);
	assert_int_equal(args[2].type, IMAP_ARG_STRING);
	assert_int_equal(args[4].type, IMAP_ARG_LIST);
	assert_int_equal(args[5].type, IMAP_ARG_LITERAL);

	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)(i * 7 + i / 251);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "M2 APPEND INBOX {3145728}", 25, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(lit, big);
	for (size_t off = 0; off < big; off += 65536)
		assert_int_equal(imap_parser_literal(p, data + off, 65536),
				 off + 65536 < big ? IMAP_PARSE_MORE : IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(p, "", 0, &lit, &sync), IMAP_PARSE_DONE);
	args = imap_parser_args(p, &n);
	assert_int_equal(n, 2);
	assert_int_equal(args[1].len, big);
	assert_memory_equal(args[1].str, data, big);
	assert_int_equal(args[1].str[big], '\0');
	free(data);
	imap_parser_free(p);
}

/* Literals over literal_max: a synchronizing one is answered and the session goes on; a non-synchronizing one ends it. */
static void
test_imap_parser_literal_too_large(void **state)
{
	static const struct {
		const char *line, *error;
		bool fatal;
	} cases[] = {
		{ "L1 APPEND INBOX {1001}", "Literal too large", false },
		{ "L1 APPEND INBOX ~{1001}", "Literal too large", false },
		{ "L1 APPEND INBOX {99999999999999999999999}", "Literal too large", false },
		{ "L1 APPEND INBOX {1001+}", "Literal too large", true },
		{ "L1 APPEND INBOX ~{1001+}", "Literal too large", true },
		{ "L1 APPEND INBOX {99999999999999999999999+}", "Literal too large", true },
		/* Within literal_max, over command_max with what came before. */
		{ "L1 APPEND INBOX {1000}", "Command too long", false },
		{ "L1 APPEND INBOX {1000+}", "Command too long", true },
	};
	struct imap_parser_limits lim = { .literal_max = 1000, .command_max = 1010 };
	struct imap_parser *p = imap_parser_new(&lim);
	size_t lit;
	bool sync;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		imap_parser_reset(p);
		assert_int_equal(imap_parser_line(p, cases[i].line, strlen(cases[i].line), &lit, &sync),
				 IMAP_PARSE_ERROR);
		assert_string_equal(imap_parser_error(p), cases[i].error);
		assert_string_equal(imap_parser_error_code(p), "TOOBIG");
		assert_string_equal(imap_parser_tag(p), "L1");
		assert_int_equal(imap_parser_error_fatal(p), cases[i].fatal);
	}
	/* The cap itself is allowed. */
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "L2 X {990}", 10, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(lit, 990);
	imap_parser_free(p);

	lim = (struct imap_parser_limits){ .literal_max = 1000 };
	p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_line(p, "L3 X {1000}", 11, &lit, &sync), IMAP_PARSE_LITERAL);
	imap_parser_free(p);
}

/* command_max across lines and literals: the third piece that passes it is refused. */
static void
test_imap_parser_command_max(void **state)
{
	struct imap_parser_limits lim = { .command_max = 40 };
	struct imap_parser *p = imap_parser_new(&lim);
	size_t lit;
	bool sync;

	(void)state;
	/* 9 + 2 octets, 10, 6 + 2, 0, 9 + 2: 40 exactly. */
	assert_int_equal(imap_parser_line(p, "C1 X {10}", 9, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal(p, "0123456789", 10), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(p, " a {0}", 6, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(p, " bcdefghi", 9, &lit, &sync), IMAP_PARSE_DONE);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "C2 X {10}", 9, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal(p, "0123456789", 10), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(p, " a {0}", 6, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(p, " bcdefghij", 10, &lit, &sync), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Command too long");
	assert_string_equal(imap_parser_error_code(p), "TOOBIG");
	assert_string_equal(imap_parser_tag(p), "C2");
	assert_false(imap_parser_error_fatal(p));
	imap_parser_free(p);
}

/* depth_max nested lists parse; one more is refused with LIMIT. */
static void
test_imap_parser_depth(void **state)
{
	struct imap_parser_limits lim = { .depth_max = 4 };
	struct imap_parser *p = imap_parser_new(&lim);
	struct imap_parser *d = imap_parser_new(NULL);
	char line[128];
	size_t n;

	(void)state;
	assert_string_equal(parse_ok(p, "D1 X ((((a))) (((b))))\r\n"), "D1 X ((((a))) (((b))))");
	assert_string_equal(parse_ok(p, "D1 X (((()))) ()\r\n"), "D1 X (((()))) ()");
	imap_parser_reset(p);
	assert_int_equal(feed(p, "D2 X (((((a)))))\r\n"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Too deeply nested");
	assert_string_equal(imap_parser_error_code(p), "LIMIT");
	assert_string_equal(imap_parser_tag(p), "D2");
	assert_false(imap_parser_error_fatal(p));
	/* The default: 16. */
	n = (size_t)snprintf(line, sizeof line, "D3 X %.16s%.16s\r\n", "((((((((((((((((((((",
			     "))))))))))))))))))))");
	assert_int_equal(feed_n(d, line, n, 0, NULL, NULL), IMAP_PARSE_DONE);
	imap_parser_reset(d);
	n = (size_t)snprintf(line, sizeof line, "D4 X %.17s%.17s\r\n", "((((((((((((((((((((",
			     "))))))))))))))))))))");
	assert_int_equal(feed_n(d, line, n, 0, NULL, NULL), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(d), "Too deeply nested");
	imap_parser_free(d);
	imap_parser_free(p);
}

/* line_max octets (without CRLF) parse; one more is refused with TOOBIG and the tag. */
static void
test_imap_parser_line_max(void **state)
{
	struct imap_parser_limits lim = { .line_max = 100 };
	struct imap_parser *p = imap_parser_new(&lim);
	char line[102];
	size_t lit;
	bool sync;

	(void)state;
	memset(line, 'x', sizeof line);
	memcpy(line, "T1 X ", 5);
	assert_int_equal(imap_parser_line(p, line, 100, &lit, &sync), IMAP_PARSE_DONE);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, line, 101, &lit, &sync), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Line too long");
	assert_string_equal(imap_parser_error_code(p), "TOOBIG");
	assert_string_equal(imap_parser_tag(p), "T1");
	assert_false(imap_parser_error_fatal(p));
	/* A line after a literal counts the same. */
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "T2 X {1}", 8, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal(p, "a", 1), IMAP_PARSE_LITERAL);
	line[0] = ' ';
	assert_int_equal(imap_parser_line(p, line, 101, &lit, &sync), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Line too long");
	assert_string_equal(imap_parser_tag(p), "T2");
	/* A tag that runs past line_max is not answered with a part of it. */
	imap_parser_reset(p);
	memset(line, 'x', sizeof line);
	line[101] = ' ';
	assert_int_equal(imap_parser_line(p, line, 102, &lit, &sync), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Line too long");
	assert_string_equal(imap_parser_tag(p), "");
	imap_parser_reset(p);
	line[100] = ' ';
	assert_int_equal(imap_parser_line(p, line, 102, &lit, &sync), IMAP_PARSE_ERROR);
	assert_int_equal(strlen(imap_parser_tag(p)), 100);
	/* An overlong line that announces a non-synchronizing literal: its octets follow, so fatal. */
	imap_parser_reset(p);
	memcpy(line, "T3 X ", 5);
	memcpy(line + 101 - 5, "{10+}", 5);
	assert_int_equal(imap_parser_line(p, line, 101, &lit, &sync), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Line too long");
	assert_true(imap_parser_error_fatal(p));
	imap_parser_free(p);
}

/* args_max counts arguments at every level, lists and literals included. */
static void
test_imap_parser_args_max(void **state)
{
	struct imap_parser_limits lim = { .args_max = 4 };
	struct imap_parser *p = imap_parser_new(&lim);
	size_t lit;
	bool sync;

	(void)state;
	assert_string_equal(parse_ok(p, "A1 X a (b c)\r\n"), "A1 X a (b c)");
	imap_parser_reset(p);
	assert_int_equal(feed(p, "A2 X a (b c) d\r\n"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Too many arguments");
	assert_string_equal(imap_parser_error_code(p), "LIMIT");
	imap_parser_reset(p);
	assert_int_equal(feed(p, "A3 X a b c d e\r\n"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Too many arguments");
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "A4 X a b c {1+}", 15, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal(p, "d", 1), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(p, " {1+}", 5, &lit, &sync), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "Too many arguments");
	assert_true(imap_parser_error_fatal(p));
	imap_parser_free(p);
}

/*
 * Any error on a line that ends in {n+}: the octets are on their way and
 * would be read as commands, so the connection must close.  With {n} the
 * client waits for "+", so the error is an ordinary BAD.
 */
static void
test_imap_parser_error_before_nonsync_literal_is_fatal(void **state)
{
	static const char *const lines[] = {
		"N1 X \"a {5+}", "N1 X a  {5+}", "N1 X a) {5+}", "N1 X \xff {5+}", "N1 X ~{5+}x {5+}",
	};
	struct imap_parser *p = imap_parser_new(NULL);
	size_t lit;
	bool sync;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		imap_parser_reset(p);
		assert_int_equal(imap_parser_line(p, lines[i], strlen(lines[i]), &lit, &sync), IMAP_PARSE_ERROR);
		assert_true(imap_parser_error_fatal(p));
		assert_string_equal(imap_parser_tag(p), "N1");
		/* The same with a synchronizing literal is not fatal. */
		{
			char sync_line[64];
			size_t n = strlen(lines[i]);

			memcpy(sync_line, lines[i], n - 2);
			memcpy(sync_line + n - 2, "}", 2);
			imap_parser_reset(p);
			assert_int_equal(imap_parser_line(p, sync_line, n - 1, &lit, &sync), IMAP_PARSE_ERROR);
			assert_false(imap_parser_error_fatal(p));
		}
	}
	imap_parser_free(p);
}

/* Calls out of order: octets with no literal announced, a line while octets are due, too many octets. */
static void
test_imap_parser_misuse_is_fatal(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t lit;
	bool sync;

	(void)state;
	assert_int_equal(imap_parser_literal(p, "x", 1), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error_fatal(p));
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "a X {2}", 7, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal(p, "x", 1), IMAP_PARSE_MORE);
	assert_int_equal(imap_parser_line(p, "", 0, &lit, &sync), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error_fatal(p));
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, "a X {2}", 7, &lit, &sync), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal(p, "xyz", 3), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error_fatal(p));
	assert_string_equal(imap_parser_tag(p), "a");
	imap_parser_free(p);
}

/* After reset the arena's first block is used again (the same addresses), and a line after DONE starts afresh. */
static void
test_imap_parser_arena_reuse(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const char *tag1, *cmd1;
	const struct imap_arg *args;
	size_t n;

	(void)state;
	assert_int_equal(feed(p, "r1 LOGIN {5+}\r\nalice \"secret\"\r\n"), IMAP_PARSE_DONE);
	tag1 = imap_parser_tag(p);
	cmd1 = imap_parser_command(p);
	imap_parser_reset(p);
	assert_string_equal(imap_parser_tag(p), "");
	assert_string_equal(imap_parser_command(p), "");
	assert_null(imap_parser_args(p, &n));
	assert_int_equal(n, 0);
	assert_int_equal(feed(p, "r2 LOGIN {5+}\r\nalice \"secret\"\r\n"), IMAP_PARSE_DONE);
	assert_ptr_equal(imap_parser_tag(p), tag1);
	assert_ptr_equal(imap_parser_command(p), cmd1);
	assert_string_equal(dump(p), "r2 LOGIN {5}alice \"secret\"");

	/* Many arguments spill over several blocks, and all of them stay valid together. */
	imap_parser_reset(p);
	{
		struct buf b;

		buf_init(&b, 0);
		buf_append_str(&b, "r3 X");
		for (int i = 0; i < 3000; i++)
			buf_printf(&b, " (\"s%d\" a%d)", i, i);
		buf_append_str(&b, "\r\n");
		assert_int_equal(feed(p, b.data), IMAP_PARSE_DONE);
		args = imap_parser_args(p, &n);
		assert_int_equal(n, 3000);
		for (int i = 0; i < 3000; i++) {
			char want[16];

			snprintf(want, sizeof want, "s%d", i);
			assert_int_equal(args[i].count, 2);
			assert_int_equal(args[i].list[0].type, IMAP_ARG_STRING);
			assert_string_equal(args[i].list[0].str, want);
			want[0] = 'a';
			assert_int_equal(args[i].list[1].type, IMAP_ARG_ATOM);
			assert_string_equal(args[i].list[1].str, want);
		}
		/* Without a reset, the next line is a new command. */
		assert_int_equal(feed(p, "r4 NOOP\r\n"), IMAP_PARSE_DONE);
		assert_string_equal(dump(p), "r4 NOOP");
		assert_ptr_equal(imap_parser_tag(p), tag1);
		/* And after an error too. */
		assert_int_equal(feed(p, "r5 X (\r\n"), IMAP_PARSE_ERROR);
		assert_int_equal(feed(p, "r6 NOOP\r\n"), IMAP_PARSE_DONE);
		assert_string_equal(dump(p), "r6 NOOP");
		assert_null(imap_parser_error_code(p));
		buf_free(&b);
	}
	imap_parser_free(p);
}

/* imap_arg_astring: atoms of ASTRING-CHARs (NIL too), strings and literals without NUL; not lists, wildcards or flags. */
static void
test_imap_parser_astring(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_arg *a;
	size_t n;

	(void)state;
	assert_int_equal(feed(p, "s1 X INBOX a]b \"q u\" {3+}\r\nx\ry NIL () * a% \\Seen BODY[] BODY[1 2]\r\n"),
			 IMAP_PARSE_DONE);
	a = imap_parser_args(p, &n);
	assert_int_equal(n, 11);
	assert_string_equal(imap_arg_astring(&a[0]), "INBOX");
	assert_string_equal(imap_arg_astring(&a[1]), "a]b");
	assert_string_equal(imap_arg_astring(&a[2]), "q u");
	assert_string_equal(imap_arg_astring(&a[3]), "x\ry");
	assert_string_equal(imap_arg_astring(&a[4]), "NIL");
	assert_true(imap_arg_is_astring(&a[4]));
	for (size_t i = 5; i < 9; i++) {
		assert_false(imap_arg_is_astring(&a[i]));
		assert_null(imap_arg_astring(&a[i]));
	}
	/* "[" is an ATOM-CHAR: BODY[] is an astring (a mailbox may be called that); spaces inside are not. */
	assert_string_equal(imap_arg_astring(&a[9]), "BODY[]");
	assert_false(imap_arg_is_astring(&a[10]));
	assert_null(imap_arg_astring(NULL));
	imap_parser_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_parser_constructs),
		cmocka_unit_test(test_imap_parser_tags),
		cmocka_unit_test(test_imap_parser_syntax_errors),
		cmocka_unit_test(test_imap_parser_literals),
		cmocka_unit_test(test_imap_parser_literal_pieces_and_empty),
		cmocka_unit_test(test_imap_parser_multiline),
		cmocka_unit_test(test_imap_parser_literal_too_large),
		cmocka_unit_test(test_imap_parser_command_max),
		cmocka_unit_test(test_imap_parser_depth),
		cmocka_unit_test(test_imap_parser_line_max),
		cmocka_unit_test(test_imap_parser_args_max),
		cmocka_unit_test(test_imap_parser_error_before_nonsync_literal_is_fatal),
		cmocka_unit_test(test_imap_parser_misuse_is_fatal),
		cmocka_unit_test(test_imap_parser_arena_reuse),
		cmocka_unit_test(test_imap_parser_astring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
