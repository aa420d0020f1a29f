/* test_dotstuff.c - unit tests for the multi-line wire form of a message: CRLF, dot-stuffing, terminator, size (lib/util/dotstuff.c). */
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
#include "dotstuff.h"

/* Stuff in (len octets) in pieces of step octets (0: at once); the wire form in out, the size in *size_r. */
static void
stuff_all(const char *in, size_t len, size_t step, struct buf *out, uint64_t *size_r)
{
	struct dotstuff s, count;
	size_t pos = 0;

	dotstuff_init(&s);
	dotstuff_init(&count);
	buf_init(out, 0);
	while (pos < len) {
		size_t n = step == 0 || len - pos < step ? len - pos : step;

		assert_int_equal(dotstuff_feed(&s, in + pos, n, out), 0);
		assert_int_equal(dotstuff_feed(&count, in + pos, n, NULL), 0);
		pos += n;
	}
	assert_int_equal(dotstuff_end(&s, out), 0);
	assert_int_equal(dotstuff_end(&count, NULL), 0);
	/* Counting alone gives the same size as converting. */
	assert_int_equal(s.size, count.size);
	*size_r = s.size;
}

static void
test_dotstuff_cases(void **state)
{
	static const struct {
		const char *in, *wire;
	} cases[] = {
		{ "", ".\r\n" },
		{ "a\n", "a\r\n.\r\n" },
		{ "a\nb", "a\r\nb\r\n.\r\n" },
		{ ".\n", "..\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
		{ "..x\n.\n", "...x\r\n..\r\n.\r\n" },
		{ "x.\n.y\n", "x.\r\n..y\r\n.\r\n" },
		{ "\n\n.\n", "\r\n\r\n..\r\n.\r\n" },
		{ "crlf\r\n.dot\r\n", "crlf\r\n..dot\r\n.\r\n" },
		{ "bare\rcr\n", "bare\rcr\r\n.\r\n" },
		{ "last\r", "last\r\n.\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);

		for (size_t step = 0; step <= 3; step++) {
			struct buf out;
			uint64_t size;

			stuff_all(cases[i].in, len, step, &out, &size);
			assert_int_equal(out.len, strlen(cases[i].wire));
			assert_memory_equal(out.data, cases[i].wire, out.len);
			buf_free(&out);
		}
	}
}

static void
test_dotstuff_size_is_rfc1870(void **state)
{
	struct buf out;
	uint64_t size;

	(void)state;
	/* CRLF counted; the stuffing dot and the final ".\r\n" not (RFC 1870 3). */
	stuff_all(".a\nb", 4, 1, &out, &size);
	assert_int_equal(size, strlen(".a\r\nb\r\n"));
	buf_free(&out);
}

static void
test_dotstuff_split_everywhere_same(void **state)
{
	static const char in[] = "From: a\n\n.\n..\nline.\n.end\r\nx\r";
	struct buf whole, part;
	uint64_t s1, s2;

	(void)state;
	stuff_all(in, sizeof(in) - 1, 0, &whole, &s1);
	for (size_t step = 1; step < sizeof(in); step++) {
		stuff_all(in, sizeof(in) - 1, step, &part, &s2);
		assert_int_equal(part.len, whole.len);
		assert_memory_equal(part.data, whole.data, whole.len);
		assert_int_equal(s1, s2);
		buf_free(&part);
	}
	/* No bare LF and exactly one terminator on the wire. */
	for (size_t i = 0; i < whole.len; i++)
		if (whole.data[i] == '\n')
			assert_true(i > 0 && whole.data[i - 1] == '\r');
	assert_int_equal(whole.len >= 5 && memcmp(whole.data + whole.len - 5, "\r\n.\r\n", 5), 0);
	buf_free(&whole);
}

/* Line by line (POP3 TOP): each call stops after one LF and says whether that line was empty. */
static void
test_dotstuff_line_stops_at_each_lf(void **state)
{
	static const char in[] = "H: v\r\n\r\n.b\n\r\npart";
	static const struct {
		int ret;
		size_t used;
		bool empty;
	} want[] = {
		{ 1, 6, false }, { 1, 2, true }, { 1, 3, false }, { 1, 2, true }, { 0, 4, false },
	};
	struct dotstuff s;
	struct buf out;
	const char *p = in;
	size_t n = sizeof(in) - 1;

	(void)state;
	dotstuff_init(&s);
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t used;

		assert_int_equal(dotstuff_line(&s, p, n, &out, &used), want[i].ret);
		assert_int_equal(used, want[i].used);
		if (want[i].ret == 1)
			assert_int_equal(s.empty, want[i].empty);
		p += used;
		n -= used;
	}
	assert_int_equal(n, 0);
	assert_int_equal(dotstuff_end(&s, &out), 0);
	assert_string_equal(out.data, "H: v\r\n\r\n..b\r\n\r\npart\r\n.\r\n");
	/* RFC 1939 section 11: the size is the octets without stuffing and terminator. */
	assert_int_equal(s.size, out.len - 1 - 3);
	buf_free(&out);
}

/* A CR and its LF in two pieces make one CRLF, and the line before it is seen as empty. */
static void
test_dotstuff_line_cr_lf_split(void **state)
{
	struct dotstuff s;
	struct buf out;
	size_t used;

	(void)state;
	dotstuff_init(&s);
	buf_init(&out, 0);
	assert_int_equal(dotstuff_line(&s, "\r", 1, &out, &used), 0);
	assert_int_equal(dotstuff_line(&s, "\n", 1, &out, &used), 1);
	assert_true(s.empty);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "\r\n", 2);
	buf_free(&out);
}

/* A full buffer is an error, not a silent cut. */
static void
test_dotstuff_full_buffer_fails(void **state)
{
	struct dotstuff s;
	struct buf out;

	(void)state;
	dotstuff_init(&s);
	buf_init(&out, 4);
	assert_int_equal(dotstuff_feed(&s, "abcdef\n", 7, &out), -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dotstuff_cases),
		cmocka_unit_test(test_dotstuff_size_is_rfc1870),
		cmocka_unit_test(test_dotstuff_split_everywhere_same),
		cmocka_unit_test(test_dotstuff_line_stops_at_each_lf),
		cmocka_unit_test(test_dotstuff_line_cr_lf_split),
		cmocka_unit_test(test_dotstuff_full_buffer_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
