/* test_smtp_data.c - unit tests for the DATA reader: terminator, unstuffing, smuggling guards, limits (smtp-gate/smtpd/dataread.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dataread.h"

/* Everything the reader leaves behind after some input. */
struct result {
	size_t consumed;
	struct smtp_data d;
	struct buf out;
};

/*
 * Feed in (len octets) cut into pieces of at most step octets, the first
 * piece cut at split (0: no special first cut), stopping as a server
 * does once the data is done.
 */
static void
run(const char *in, size_t len, uint64_t max_size, size_t split, size_t step, struct result *r)
{
	size_t pos = 0;

	smtp_data_init(&r->d, max_size);
	buf_init(&r->out, 0);
	r->consumed = 0;
	while (pos < len && !r->d.done) {
		size_t n = len - pos, used;

		if (split > 0 && pos < split)
			n = split - pos;
		if (step > 0 && n > step)
			n = step;
		used = smtp_data_feed(&r->d, in + pos, n, &r->out);
		assert_true(used != (size_t)-1);
		assert_true(used <= n);
		/* Only the terminator makes the reader stop short. */
		if (used < n)
			assert_true(r->d.done);
		pos += used;
		r->consumed += used;
		if (used < n)
			break;
	}
}

static void
assert_same_result(const struct result *a, const struct result *b, const char *what, size_t at)
{
	if (a->consumed != b->consumed || a->d.done != b->d.done || a->d.error != b->d.error ||
	    a->d.size != b->d.size || a->d.line_len != b->d.line_len || a->d.state != b->d.state ||
	    a->out.len != b->out.len || (a->out.len > 0 && memcmp(a->out.data, b->out.data, a->out.len) != 0))
		fail_msg("%s at %zu differs: consumed %zu/%zu done %d/%d error %d/%d size %llu/%llu out %zu/%zu",
			 what, at, a->consumed, b->consumed, a->d.done, b->d.done, a->d.error, b->d.error,
			 (unsigned long long)a->d.size, (unsigned long long)b->d.size, a->out.len, b->out.len);
}

/* One message of the table and what the reader must make of it. */
struct data_case {
	const char *in;
	size_t len;
	uint64_t max_size;
	bool done;
	size_t consumed;                /* when done */
	enum smtp_data_error error;
	const char *out;                /* with an error: the output up to the first error */
	uint64_t size;
};

#define CASE(in, max, done, consumed, error, out, size) \
	{ in, sizeof(in) - 1, max, done, consumed, error, out, size }

static const struct data_case cases[] = {
	/* The 354 followed a CRLF, so an immediate ".<CRLF>" is an empty message. */
	CASE(".\r\n", 0, true, 3, SMTP_DATA_OK, "", 0),
	CASE("\r\n.\r\n", 0, true, 5, SMTP_DATA_OK, "\n", 2),
	CASE("Subject: hi\r\n\r\nbody\r\n.\r\n", 0, true, 24, SMTP_DATA_OK, "Subject: hi\n\nbody\n", 21),
	/* Dot-unstuffing: one leading dot goes, whatever follows it. */
	CASE("..leading\r\n.x\r\n...\r\n..\r\nmid.dle.\r\n.\r\n", 0, true, 37, SMTP_DATA_OK,
	     ".leading\nx\n..\n.\nmid.dle.\n", 34),
	/* Pipelined commands after the terminator are not consumed. */
	CASE("x\r\n.\r\nQUIT\r\n", 0, true, 6, SMTP_DATA_OK, "x\n", 3),
	CASE("x\r\n.\r\n.\r\n", 0, true, 6, SMTP_DATA_OK, "x\n", 3),
	CASE(".\r\nMAIL FROM:<a@b>\r\n", 0, true, 3, SMTP_DATA_OK, "", 0),
	/* Not yet at the end. */
	CASE("no end yet\r\n", 0, false, 0, SMTP_DATA_OK, "no end yet\n", 12),
	CASE("a\r\n.\r", 0, false, 0, SMTP_DATA_OK, "a\n", 3),
	CASE("a\r\n.", 0, false, 0, SMTP_DATA_OK, "a\n", 3),
	CASE("a\r", 0, false, 0, SMTP_DATA_OK, "a", 2),
	CASE("a\r\n.\r\nb", 0, true, 6, SMTP_DATA_OK, "a\n", 3),
	/* Smuggling: none of these ends the data, each is a bare line ending. */
	CASE("a\r\n\n.\nb\r\n.\r\n", 0, true, 12, SMTP_DATA_BARE_LF, "a\n", 9),
	CASE("a\r\n\r.\rb\r\n.\r\n", 0, true, 12, SMTP_DATA_BARE_CR, "a\n", 9),
	CASE("a\n.\r\nb\r\n.\r\n", 0, true, 11, SMTP_DATA_BARE_LF, "a", 8),
	CASE("a\r\n.\nb\r\n.\r\n", 0, true, 11, SMTP_DATA_BARE_LF, "a\n", 8),
	CASE("\n.\r\nb\r\n.\r\n", 0, true, 10, SMTP_DATA_BARE_LF, "", 7),
	CASE("\r.\r\nb\r\n.\r\n", 0, true, 10, SMTP_DATA_BARE_CR, "", 7),
	CASE("a\r\n.\r\r\n.\r\n", 0, true, 10, SMTP_DATA_BARE_CR, "a\n", 7),
	CASE("a\r\n.\r.\r\n", 0, false, 0, SMTP_DATA_BARE_CR, "a\n", 8),
	CASE("a\n.\n", 0, false, 0, SMTP_DATA_BARE_LF, "a", 4),
	CASE("a\r.\r", 0, false, 0, SMTP_DATA_BARE_CR, "a", 4),
	CASE("a\r\n.\n", 0, false, 0, SMTP_DATA_BARE_LF, "a\n", 5),
	CASE("a\n.\r\n", 0, false, 0, SMTP_DATA_BARE_LF, "a", 5),
	CASE("a\r\r\n.\r\n", 0, true, 7, SMTP_DATA_BARE_CR, "a", 4),
	/* The first error wins; the rest of the message is still read. */
	CASE("a\nb\rc\r\n.\r\n", 0, true, 10, SMTP_DATA_BARE_LF, "a", 7),
	CASE("a\rb\nc\r\n.\r\n", 0, true, 10, SMTP_DATA_BARE_CR, "a", 7),
	/* NUL is no text (RFC 5322 3.5): refused wherever it is, even where a dot would hide it. */
	CASE("a\0b\r\n.\r\n", 0, true, 8, SMTP_DATA_NUL, "a", 5),
	CASE("\0\r\n.\r\n", 0, true, 6, SMTP_DATA_NUL, "", 3),
	CASE("a\r\n.\0\r\n.\r\n", 0, true, 10, SMTP_DATA_NUL, "a\n", 7),
	CASE("a\0\nb\r\n.\r\n", 0, true, 9, SMTP_DATA_NUL, "a", 6),
	CASE("a\nb\0\r\n.\r\n", 0, true, 9, SMTP_DATA_BARE_LF, "a", 6),
	/* max_size counts octets as sent: CRLF as two, the stuffing dot too. */
	CASE("abcd\r\n.\r\n", 6, true, 9, SMTP_DATA_OK, "abcd\n", 6),
	CASE("abcd\r\n.\r\n", 5, true, 9, SMTP_DATA_TOO_BIG, "abcd", 6),
	CASE("abcd\r\n.\r\n", 4, true, 9, SMTP_DATA_TOO_BIG, "abcd", 6),
	CASE("abcd\r\n.\r\n", 3, true, 9, SMTP_DATA_TOO_BIG, "abc", 6),
	CASE("ab\r\n..\r\n.\r\n", 8, true, 11, SMTP_DATA_OK, "ab\n.\n", 8),
	CASE("ab\r\n..\r\n.\r\n", 7, true, 11, SMTP_DATA_TOO_BIG, "ab\n.", 8),
	CASE("ab\r\n..\r\n.\r\n", 5, true, 11, SMTP_DATA_TOO_BIG, "ab\n", 8),
	CASE("ab\r\n..\r\n.\r\n", 6, true, 11, SMTP_DATA_TOO_BIG, "ab\n.", 8),
	CASE(".\r\n", 1, true, 3, SMTP_DATA_OK, "", 0),
	CASE("\r\n.\r\n", 1, true, 5, SMTP_DATA_TOO_BIG, "", 2),
	CASE("too big\nand bare\r\n.\r\n", 3, true, 21, SMTP_DATA_TOO_BIG, "too", 18),
};

static void
check_case(const struct data_case *c, size_t idx)
{
	struct result whole, part;

	run(c->in, c->len, c->max_size, 0, 0, &whole);
	if (whole.d.done != c->done || (c->done && whole.consumed != c->consumed) ||
	    (!c->done && whole.consumed != c->len) || whole.d.error != c->error ||
	    whole.d.size != c->size || whole.out.len != strlen(c->out) ||
	    memcmp(whole.out.data != NULL ? whole.out.data : "", c->out, whole.out.len) != 0)
		fail_msg("case %zu: done %d consumed %zu error %d size %llu out \"%.*s\"", idx,
			 whole.d.done, whole.consumed, whole.d.error, (unsigned long long)whole.d.size,
			 (int)whole.out.len, whole.out.data != NULL ? whole.out.data : "");
	/* Split at every position, and one octet at a time: the same result. */
	for (size_t at = 1; at < c->len; at++) {
		run(c->in, c->len, c->max_size, at, 0, &part);
		assert_same_result(&whole, &part, "split", at);
		buf_free(&part.out);
	}
	run(c->in, c->len, c->max_size, 0, 1, &part);
	assert_same_result(&whole, &part, "octet by octet", idx);
	buf_free(&part.out);
	buf_free(&whole.out);
}

static void
test_smtp_data_table_whole_and_split_at_every_octet(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i], i);
}

/* A message of one line of n octets (first octet first, the rest 'x') and the terminator. */
static char *
long_line_message(size_t n, char first, size_t *len_r)
{
	char *m = malloc(n + 5);

	assert_non_null(m);
	memset(m, 'x', n);
	m[0] = first;
	memcpy(m + n, "\r\n.\r\n", 5);
	*len_r = n + 5;
	return m;
}

static void
test_smtp_data_line_limit_is_1000_with_crlf(void **state)
{
	struct data_case c = { 0 };
	char *m, *expect;
	size_t len;

	(void)state;
	expect = malloc(SMTP_TEXT_LINE_MAX + 1);
	assert_non_null(expect);
	memset(expect, 'x', SMTP_TEXT_LINE_MAX);
	/* 998 octets + CRLF = 1000: accepted. */
	m = long_line_message(998, 'x', &len);
	expect[998] = '\n';
	expect[999] = '\0';
	c = (struct data_case){ m, len, 0, true, len, SMTP_DATA_OK, expect, 1000 };
	check_case(&c, 998);
	free(m);
	/* 999 octets + CRLF = 1001: refused, the output stops before the 999th. */
	m = long_line_message(999, 'x', &len);
	expect[998] = '\0';
	c = (struct data_case){ m, len, 0, true, len, SMTP_DATA_LINE_TOO_LONG, expect, 1001 };
	check_case(&c, 999);
	free(m);
	/* The stuffing dot is part of the line as sent: "." + 998 is too long. */
	m = long_line_message(999, '.', &len);
	expect[997] = '\0';
	c = (struct data_case){ m, len, 0, true, len, SMTP_DATA_LINE_TOO_LONG, expect, 1001 };
	check_case(&c, 1999);
	free(m);
	m = long_line_message(998, '.', &len);
	expect[997] = '\n';
	expect[998] = '\0';
	c = (struct data_case){ m, len, 0, true, len, SMTP_DATA_OK, expect, 1000 };
	check_case(&c, 1998);
	free(m);
	/* When the same octet breaks both limits, the line limit is named. */
	m = long_line_message(999, 'x', &len);
	expect[997] = 'x';
	expect[998] = '\0';
	c = (struct data_case){ m, len, 998, true, len, SMTP_DATA_LINE_TOO_LONG, expect, 1001 };
	check_case(&c, 2999);
	free(m);
	free(expect);
}

static void
test_smtp_data_stops_after_terminator_and_ignores_later_feeds(void **state)
{
	struct smtp_data d;
	struct buf out;

	(void)state;
	smtp_data_init(&d, 0);
	buf_init(&out, 0);
	assert_int_equal(smtp_data_feed(&d, "hi\r\n.", 5, &out), 5);
	assert_false(d.done);
	assert_int_equal(smtp_data_feed(&d, "\r", 1, &out), 1);
	assert_false(d.done);
	assert_int_equal(smtp_data_feed(&d, "\nRSET\r\n", 7, &out), 1);
	assert_true(d.done);
	assert_int_equal(smtp_data_feed(&d, "RSET\r\n", 6, &out), 0);
	assert_int_equal(smtp_data_feed(&d, "", 0, &out), 0);
	assert_int_equal(out.len, 3);
	assert_string_equal(out.data, "hi\n");
	buf_free(&out);
}

static void
test_smtp_data_large_message_in_odd_chunks(void **state)
{
	struct buf in, expect;
	struct result whole, part;

	(void)state;
	buf_init(&in, 0);
	buf_init(&expect, 0);
	for (int i = 0; in.len < 100 * 1024; i++) {
		/* Lines of varied length, some needing unstuffing. */
		int n = (i * 37) % 120;

		if (i % 17 == 0) {
			assert_int_equal(buf_append_str(&in, ".."), 0);
			assert_int_equal(buf_append_str(&expect, "."), 0);
		}
		for (int k = 0; k < n; k++) {
			assert_int_equal(buf_append_char(&in, (char)('a' + (i + k) % 26)), 0);
			assert_int_equal(buf_append_char(&expect, (char)('a' + (i + k) % 26)), 0);
		}
		assert_int_equal(buf_append_str(&in, "\r\n"), 0);
		assert_int_equal(buf_append_str(&expect, "\n"), 0);
	}
	assert_int_equal(buf_append_str(&in, ".\r\nQUIT\r\n"), 0);
	run(in.data, in.len, 0, 0, 0, &whole);
	assert_true(whole.d.done);
	assert_int_equal(whole.d.error, SMTP_DATA_OK);
	assert_int_equal(whole.consumed, in.len - 6);
	assert_int_equal(whole.out.len, expect.len);
	assert_memory_equal(whole.out.data, expect.data, expect.len);
	static const size_t steps[] = { 1, 2, 3, 7, 511, 4096 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run(in.data, in.len, 0, 0, steps[i], &part);
		assert_same_result(&whole, &part, "step", steps[i]);
		buf_free(&part.out);
	}
	/* One octet under the size, then exactly the size. */
	run(in.data, in.len, whole.d.size - 1, 0, 0, &part);
	assert_int_equal(part.d.error, SMTP_DATA_TOO_BIG);
	assert_true(part.d.done);
	buf_free(&part.out);
	run(in.data, in.len, whole.d.size, 0, 0, &part);
	assert_int_equal(part.d.error, SMTP_DATA_OK);
	buf_free(&part.out);
	buf_free(&whole.out);
	buf_free(&in);
	buf_free(&expect);
}

static void
test_smtp_data_output_that_cannot_grow_fails(void **state)
{
	struct smtp_data d;
	struct buf out;

	(void)state;
	smtp_data_init(&d, 0);
	buf_init(&out, 4);
	errno = 0;
	assert_true(smtp_data_feed(&d, "abcdefgh\r\n.\r\n", 14, &out) == (size_t)-1);
	assert_int_not_equal(errno, 0);
	buf_free(&out);
}

static void
test_smtp_data_error_replies(void **state)
{
	static const struct {
		enum smtp_data_error e;
		const char *code;
	} replies[] = {
		{ SMTP_DATA_BARE_LF, "550 5.6.11 " }, { SMTP_DATA_BARE_CR, "550 5.6.11 " },
		{ SMTP_DATA_LINE_TOO_LONG, "550 5.6.0 " }, { SMTP_DATA_TOO_BIG, "552 5.3.4 " },
	};

	(void)state;
	assert_null(smtp_data_error_reply(SMTP_DATA_OK));
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const char *r = smtp_data_error_reply(replies[i].e);
		size_t len;

		assert_non_null(r);
		len = strlen(r);
		assert_true(strncmp(r, replies[i].code, strlen(replies[i].code)) == 0);
		assert_true(len > 12 && len <= 512);
		/* One line: the only CR and LF are the final CRLF. */
		assert_ptr_equal(strchr(r, '\r'), r + len - 2);
		assert_ptr_equal(strchr(r, '\n'), r + len - 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_data_table_whole_and_split_at_every_octet),
		cmocka_unit_test(test_smtp_data_line_limit_is_1000_with_crlf),
		cmocka_unit_test(test_smtp_data_stops_after_terminator_and_ignores_later_feeds),
		cmocka_unit_test(test_smtp_data_large_message_in_odd_chunks),
		cmocka_unit_test(test_smtp_data_output_that_cannot_grow_fails),
		cmocka_unit_test(test_smtp_data_error_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
