/* test_delivery_proto.c - the queue manager <-> delivery programs protocol (smtp-gate/queue/delivery_proto.c): request lines and verdicts, read, and written then read back. */
#include <errno.h>
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
#include "delivery_proto.h"

static void
run(const char *out, size_t n, enum delivery_outcome *v, const char **why, char **text)
{
	assert_int_equal(delivery_verdict_parse(out, strlen(out), n, v, why, text), 0);
}

static void
test_remote_mixed(void **state)
{
	enum delivery_outcome v[3];
	const char *why[3];
	char *text;

	(void)state;
	run("rok one\nh550 no such user\ns451 try later\nK250 queued\n", 3, v, why, &text);
	assert_int_equal(v[0], DELIVERY_DONE);
	assert_string_equal(why[0], "ok one");
	assert_int_equal(v[1], DELIVERY_FAIL);
	assert_string_equal(why[1], "550 no such user");
	assert_int_equal(v[2], DELIVERY_DEFER);
	free(text);
}

/* An accepted recipient shares the message's fate: Z defers it, D fails it. */
static void
test_remote_message_verdict_wins_for_accepted(void **state)
{
	enum delivery_outcome v[2];
	const char *why[2];
	char *text;

	(void)state;
	run("rok\nh550 no\nZ451 disk full\n", 2, v, why, &text);
	assert_int_equal(v[0], DELIVERY_DEFER);
	assert_string_equal(why[0], "451 disk full");
	assert_int_equal(v[1], DELIVERY_FAIL);
	free(text);
	run("rok\nD554 rejected\n", 1, v, why, &text);
	assert_int_equal(v[0], DELIVERY_FAIL);
	assert_string_equal(why[0], "554 rejected");
	free(text);
}

/* Anything incomplete or malformed defers everyone: never a false success or failure. */
static void
test_remote_incomplete_defers_all(void **state)
{
	static const char *const bad[] = {
		"",                             /* crashed before a word */
		"rok\n",                        /* no message line */
		"rok\nrok\nK250\n",             /* one recipient too many */
		"K250\n",                       /* no recipient lines */
		"rok\nK250",                    /* the last line cut off */
		"xok\nK250\n",                  /* unknown letter */
		"rok\nK250\nrextra\n",          /* something after the message line */
		"rok\n\nK250\n",                /* an empty line */
	};
	enum delivery_outcome v[1];
	const char *why[1];
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run(bad[i], 1, v, why, &text);
		assert_int_equal(v[0], DELIVERY_DEFER);
		free(text);
	}
	/* A NUL in the output cuts it there. */
	assert_int_equal(delivery_verdict_parse("rok\0\nK250\n", 10, 1, v, why, &text), 0);
	assert_int_equal(v[0], DELIVERY_DEFER);
	free(text);
}

/*
 * Found by fuzz-delivery: the parser took a line's text at any length and
 * with control characters, though only the writer bounded it.  Now the
 * text is what delivery_text_set makes of it.
 */
static void
test_verdict_text_cut_and_cleaned_as_written(void **state)
{
	enum delivery_outcome v[1];
	const char *why[1];
	struct buf out;
	char *text;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(buf_append_char(&out, 'h'), 0);
	for (int i = 0; i < DELIVERY_TEXT_MAX + 50; i++)
		assert_int_equal(buf_append_char(&out, 'x'), 0);
	assert_int_equal(buf_append_str(&out, "\nD550 no\tway\r\n"), 0);
	assert_int_equal(delivery_verdict_parse(out.data, out.len, 1, v, why, &text), 0);
	assert_int_equal(v[0], DELIVERY_FAIL);
	assert_int_equal(strlen(why[0]), DELIVERY_TEXT_MAX);
	free(text);
	assert_int_equal(delivery_verdict_parse("rok\n" "D550 no\tway\r\n", 18, 1, v, why, &text), 0);
	assert_int_equal(v[0], DELIVERY_FAIL);
	assert_string_equal(why[0], "550 no?way?");
	free(text);
	buf_free(&out);
}

static void
test_local_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(delivery_local_outcome(0), DELIVERY_DONE);
	assert_int_equal(delivery_local_outcome(100), DELIVERY_FAIL);
	assert_int_equal(delivery_local_outcome(111), DELIVERY_DEFER);
	assert_int_equal(delivery_local_outcome(-1), DELIVERY_DEFER);
	assert_int_equal(delivery_local_outcome(1), DELIVERY_DEFER);
}

/* Parse a copy of text (NUL-terminated) as a request line: the result, *count_r, and the copy in *buf. */
static int
req_parse(const char *text, char **buf, struct delivery_request *req, size_t *count)
{
	size_t len = strlen(text);

	*buf = malloc(len + 1);
	assert_non_null(*buf);
	memcpy(*buf, text, len + 1);
	return delivery_request_parse(*buf, len, req, count);
}

static void
test_request_good(void **state)
{
	struct delivery_request req;
	size_t count = 99;
	char *buf;

	(void)state;
	assert_int_equal(req_parse("/q/mess/3/123\t417\texample.net\talice@client.test\t"
				   "bob@example.net\tcarol@example.net", &buf, &req, &count), 0);
	assert_string_equal(req.path, "/q/mess/3/123");
	assert_true(req.offset == 417);
	assert_string_equal(req.domain, "example.net");
	assert_string_equal(req.sender, "alice@client.test");
	assert_int_equal(req.nrcpts, 2);
	assert_int_equal(count, 2);
	assert_string_equal(req.rcpts[0], "bob@example.net");
	assert_string_equal(req.rcpts[1], "carol@example.net");
	free(buf);

	/* The null sender is an empty field; offset 0 and the longest offset accepted. */
	assert_int_equal(req_parse("p\t0\td\t\tr@d", &buf, &req, &count), 0);
	assert_string_equal(req.sender, "");
	assert_true(req.offset == 0);
	assert_int_equal(req.nrcpts, 1);
	free(buf);
	assert_int_equal(req_parse("p\t999999999999999999\td\t#@[]\tr@d", &buf, &req, &count), 0);
	assert_true(req.offset == 999999999999999999LL);
	assert_string_equal(req.sender, "#@[]");
	free(buf);
}

static void
test_request_hundred_recipients(void **state)
{
	struct delivery_request req;
	char line[64 * 1024], *buf;
	size_t count, len;

	(void)state;
	len = (size_t)snprintf(line, sizeof(line), "p\t1\td\ts");
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "\tr%d@d", i);
	assert_int_equal(req_parse(line, &buf, &req, &count), 0);
	assert_int_equal(req.nrcpts, 100);
	assert_string_equal(req.rcpts[99], "r99@d");
	free(buf);
	/* 101: too many, but the count is told so that each gets its answer. */
	snprintf(line + len, sizeof(line) - len, "\tr100@d");
	assert_int_equal(req_parse(line, &buf, &req, &count), -1);
	assert_int_equal(count, 101);
	free(buf);
}

static void
test_request_bad(void **state)
{
	static const struct {
		const char *line;
		size_t count;
	} cases[] = {
		{ "", 0 },
		{ "garbage", 0 },
		{ "p\t1\td\ts", 0 },                  /* no recipient field: no count */
		{ "p\t1\td", 0 },
		{ "\t1\td\ts\tr@d", 1 },             /* empty path */
		{ "p\t\td\ts\tr@d", 1 },             /* empty offset */
		{ "p\t-1\td\ts\tr@d", 1 },
		{ "p\t+1\td\ts\tr@d", 1 },
		{ "p\t1 \td\ts\tr@d", 1 },
		{ "p\t0x10\td\ts\tr@d", 1 },
		{ "p\t9999999999999999999\td\ts\tr@d", 1 },  /* would overflow */
		{ "p\t1\t\ts\tr@d", 1 },             /* empty domain */
		{ "p\t1\td\ts\tr@d\t", 2 },         /* an empty recipient */
		{ "p\t1\td\ts\t\tr@d", 2 },
		{ "p\t1\td\ts\tr@d\r", 1 },         /* a CR */
		{ "p\t1\td\ts\x7f\tr@d\tq@d", 2 },  /* DEL */
		{ "p\t1\td\ts\tr@d\nRSET", 1 },     /* an LF inside (never from a line reader) */
	};
	struct delivery_request req;
	size_t count;
	char *buf;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		count = 99;
		if (req_parse(cases[i].line, &buf, &req, &count) != -1 || count != cases[i].count)
			fail_msg("case %zu (%s): count %zu", i, cases[i].line, count);
		free(buf);
	}
}

static void
test_request_bounds(void **state)
{
	struct delivery_request req;
	char line[4096], *buf;
	size_t count;
	char dom[DELIVERY_DOMAIN_MAX + 2], addr[DELIVERY_ADDR_MAX + 2];

	(void)state;
	memset(dom, 'a', sizeof(dom) - 1);
	dom[sizeof(dom) - 1] = '\0';
	memset(addr, 'b', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	/* One over each bound is refused, the bound itself is taken. */
	snprintf(line, sizeof(line), "p\t1\t%s\ts\tr@d", dom);
	assert_int_equal(req_parse(line, &buf, &req, &count), -1);
	free(buf);
	snprintf(line, sizeof(line), "p\t1\t%s\ts\tr@d", dom + 1);
	assert_int_equal(req_parse(line, &buf, &req, &count), 0);
	free(buf);
	snprintf(line, sizeof(line), "p\t1\td\ts\t%s", addr);
	assert_int_equal(req_parse(line, &buf, &req, &count), -1);
	assert_int_equal(count, 1);
	free(buf);
	snprintf(line, sizeof(line), "p\t1\td\t%s\tr@d", addr);
	assert_int_equal(req_parse(line, &buf, &req, &count), -1);
	free(buf);
	snprintf(line, sizeof(line), "p\t1\td\t%s\t%s", addr + 1, addr + 1);
	assert_int_equal(req_parse(line, &buf, &req, &count), 0);
	free(buf);

	/* A NUL inside the line would cut a field short: refused. */
	static const char nul[] = "p\t1\td\ts\tr@d\0x";

	memcpy(line, nul, sizeof(nul));
	assert_int_equal(delivery_request_parse(line, sizeof(nul) - 1, &req, &count), -1);
	assert_int_equal(count, 1);
}

/* Encode req, check it is one line, parse it back: the same request. */
static void
request_roundtrip(const struct delivery_request *req)
{
	struct delivery_request got;
	struct buf out;
	size_t count = 999;

	buf_init(&out, 0);
	assert_int_equal(delivery_request_encode(req, &out), 0);
	assert_true(out.len > 0 && out.len <= DELIVERY_REQUEST_MAX);
	assert_int_equal(out.data[out.len - 1], '\n');
	assert_null(memchr(out.data, '\n', out.len - 1));
	out.data[--out.len] = '\0';
	assert_int_equal(delivery_request_parse(out.data, out.len, &got, &count), 0);
	assert_int_equal(count, req->nrcpts);
	assert_string_equal(got.path, req->path);
	assert_true(got.offset == req->offset);
	assert_string_equal(got.domain, req->domain);
	assert_string_equal(got.sender, req->sender);
	assert_int_equal(got.nrcpts, req->nrcpts);
	for (size_t i = 0; i < req->nrcpts; i++)
		assert_string_equal(got.rcpts[i], req->rcpts[i]);
	buf_free(&out);
}

static void
test_request_roundtrip(void **state)
{
	static char dom[DELIVERY_DOMAIN_MAX + 1], addr[DELIVERY_ADDR_MAX + 1], names[DELIVERY_RCPTS_MAX][16];
	struct delivery_request req = {
		.path = "/var/lib/osd/queue/mess/3/123", .offset = 417, .domain = "example.net",
		.sender = "alice@client.test", .rcpts = { "bob@example.net", "carol@example.net" },
		.nrcpts = 2,
	};

	(void)state;
	request_roundtrip(&req);
	/* The null sender, the double-bounce sender, the smallest and largest offsets. */
	req.sender = "";
	req.offset = 0;
	request_roundtrip(&req);
	req.sender = "#@[]";
	req.offset = INT64_C(999999999999999999);
	request_roundtrip(&req);
	/* DELIVERY_RCPTS_MAX recipients. */
	for (size_t i = 0; i < DELIVERY_RCPTS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "r%zu@d.test", i);
		req.rcpts[i] = names[i];
	}
	req.nrcpts = DELIVERY_RCPTS_MAX;
	request_roundtrip(&req);
	/* Every field at its bound, as many long recipients as a line holds. */
	memset(dom, 'a', DELIVERY_DOMAIN_MAX);
	memset(addr, 'b', DELIVERY_ADDR_MAX);
	req.domain = dom;
	req.sender = addr;
	for (size_t i = 0; i < 60; i++)
		req.rcpts[i] = addr;
	req.nrcpts = 60;
	request_roundtrip(&req);
}

/* What the parser would not give back is refused, and out is left as it was. */
static void
test_request_encode_refuses(void **state)
{
	static char big[DELIVERY_ADDR_MAX + 2], fit[DELIVERY_ADDR_MAX + 1], bigdom[DELIVERY_DOMAIN_MAX + 2];
	const struct delivery_request good = {
		.path = "p", .offset = 1, .domain = "d", .sender = "s", .rcpts = { "r@d" }, .nrcpts = 1,
	};
	struct delivery_request bad[16];
	size_t n = 0;
	struct buf out;

	(void)state;
	memset(big, 'b', DELIVERY_ADDR_MAX + 1);
	memset(fit, 'f', DELIVERY_ADDR_MAX);
	memset(bigdom, 'a', DELIVERY_DOMAIN_MAX + 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad[i] = good;
	bad[n++].nrcpts = 0;
	bad[n++].nrcpts = DELIVERY_RCPTS_MAX + 1;
	bad[n++].path = "";
	bad[n++].domain = "";
	bad[n++].domain = bigdom;
	bad[n++].sender = big;
	bad[n++].rcpts[0] = big;
	bad[n++].rcpts[0] = "";
	bad[n++].rcpts[0] = "r@d\tq@d";
	bad[n++].sender = "s\nRSET";
	bad[n++].path = "p\r";
	bad[n++].domain = "d\x7f";
	bad[n++].offset = -1;
	bad[n++].offset = INT64_C(1000000000000000000);
	/* Each field within its bound, but the line over DELIVERY_REQUEST_MAX. */
	for (size_t i = 0; i < DELIVERY_RCPTS_MAX; i++)
		bad[n].rcpts[i] = fit;
	bad[n++].nrcpts = DELIVERY_RCPTS_MAX;
	for (size_t i = 0; i < n; i++) {
		buf_init(&out, 0);
		assert_int_equal(buf_append_str(&out, "before"), 0);
		errno = 0;
		if (delivery_request_encode(&bad[i], &out) != -1 || errno != EINVAL)
			fail_msg("case %zu was encoded (errno %d)", i, errno);
		assert_int_equal(out.len, 6);
		assert_string_equal(out.data, "before");
		buf_free(&out);
	}
}

/* What the manager must make of recipient letter rc under message letter mc, with which text. */
static void
expect(char rc, char mc, enum delivery_outcome *v, bool *msg_text)
{
	*msg_text = false;
	if (rc == DELIVERY_RCPT_HARD)
		*v = DELIVERY_FAIL;
	else if (rc == DELIVERY_RCPT_SOFT)
		*v = DELIVERY_DEFER;
	else if (mc == DELIVERY_MSG_OK)
		*v = DELIVERY_DONE;
	else {
		*v = mc == DELIVERY_MSG_HARD ? DELIVERY_FAIL : DELIVERY_DEFER;
		*msg_text = true;
	}
}

/* Every pair of letters, texts with control characters and over the bound, up to DELIVERY_RCPTS_MAX recipients. */
static void
test_verdict_roundtrip(void **state)
{
	static const char rl[] = { DELIVERY_RCPT_OK, DELIVERY_RCPT_HARD, DELIVERY_RCPT_SOFT };
	static const char ml[] = { DELIVERY_MSG_OK, DELIVERY_MSG_SOFT, DELIVERY_MSG_HARD };
	static const size_t counts[] = { 1, 3, DELIVERY_RCPTS_MAX };
	static char texts[DELIVERY_RCPTS_MAX][DELIVERY_TEXT_MAX + 64], want[DELIVERY_TEXT_MAX + 1];
	static enum delivery_outcome v[DELIVERY_RCPTS_MAX];
	static const char *why[DELIVERY_RCPTS_MAX];
	char msg[64];

	(void)state;
	for (size_t i = 0; i < DELIVERY_RCPTS_MAX; i++) {
		size_t len = i % 4 == 3 ? DELIVERY_TEXT_MAX + 50 : i % 4 == 2 ? 0 : 30;

		memset(texts[i], 'a' + (int)(i % 26), len);
		texts[i][len] = '\0';
		if (i % 4 == 1)
			snprintf(texts[i], sizeof(texts[i]), "mx%zu said: 550\tno\rsuch\nuser\x7f", i);
	}
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c];

		for (size_t m = 0; m < sizeof(ml); m++) {
			for (size_t shift = 0; shift < sizeof(rl); shift++) {
				struct buf out;
				char *text;

				buf_init(&out, 0);
				for (size_t i = 0; i < n; i++) {
					assert_int_equal(delivery_verdict_encode(&out, rl[(i + shift) % 3], texts[i]), 0);
					assert_false(delivery_verdict_complete(out.data, out.len, n));
				}
				snprintf(msg, sizeof(msg), "250 ok\x01 %zu", m);
				assert_int_equal(delivery_verdict_encode(&out, ml[m], msg), 0);
				assert_true(delivery_verdict_complete(out.data, out.len, n));
				assert_int_equal(delivery_verdict_parse(out.data, out.len, n, v, why, &text), 0);
				for (size_t i = 0; i < n; i++) {
					enum delivery_outcome ev;
					bool from_msg;

					expect(rl[(i + shift) % 3], ml[m], &ev, &from_msg);
					delivery_text_set(want, from_msg ? msg : texts[i]);
					assert_int_equal(v[i], ev);
					assert_string_equal(why[i], want);
					assert_true(strlen(why[i]) <= DELIVERY_TEXT_MAX);
					assert_null(strpbrk(why[i], "\t\r\n\x01\x7f"));
				}
				free(text);
				buf_free(&out);
			}
		}
	}
}

/* A verdict line is its letter, the text made safe and cut, and one LF. */
static void
test_verdict_encode_line(void **state)
{
	static char long_text[DELIVERY_TEXT_MAX + 10];
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(delivery_verdict_encode(&out, DELIVERY_MSG_SOFT, "451 a\r\nb\tc"), 0);
	assert_string_equal(out.data, "Z451 a??b?c\n");
	buf_reset(&out);
	memset(long_text, 'x', sizeof(long_text) - 1);
	assert_int_equal(delivery_verdict_encode(&out, DELIVERY_RCPT_OK, long_text), 0);
	assert_int_equal(out.len, 1 + DELIVERY_TEXT_MAX + 1);
	assert_int_equal(out.data[0], 'r');
	assert_int_equal(out.data[out.len - 1], '\n');
	buf_free(&out);
	/* The letters are docs/delivery.md's. */
	assert_int_equal(DELIVERY_RCPT_OK, 'r');
	assert_int_equal(DELIVERY_RCPT_HARD, 'h');
	assert_int_equal(DELIVERY_RCPT_SOFT, 's');
	assert_int_equal(DELIVERY_MSG_OK, 'K');
	assert_int_equal(DELIVERY_MSG_SOFT, 'Z');
	assert_int_equal(DELIVERY_MSG_HARD, 'D');
}

/* Well-formed lines beyond the count, or short of it, are no verdict. */
static void
test_verdict_wrong_count_defers(void **state)
{
	static enum delivery_outcome v[DELIVERY_RCPTS_MAX + 1];
	static const char *why[DELIVERY_RCPTS_MAX + 1];
	struct buf out;
	char *text;

	(void)state;
	buf_init(&out, 0);
	for (size_t i = 0; i < DELIVERY_RCPTS_MAX + 1; i++)
		assert_int_equal(delivery_verdict_encode(&out, DELIVERY_RCPT_OK, "250 ok"), 0);
	assert_int_equal(delivery_verdict_encode(&out, DELIVERY_MSG_OK, "250 queued"), 0);
	/* 101 recipient lines for 100 recipients, then for 102. */
	assert_int_equal(delivery_verdict_parse(out.data, out.len, DELIVERY_RCPTS_MAX, v, why, &text), 0);
	for (size_t i = 0; i < DELIVERY_RCPTS_MAX; i++)
		assert_int_equal(v[i], DELIVERY_DEFER);
	free(text);
	assert_false(delivery_verdict_complete(out.data, out.len, DELIVERY_RCPTS_MAX + 2));
	buf_free(&out);
}
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_mixed),
		cmocka_unit_test(test_remote_message_verdict_wins_for_accepted),
		cmocka_unit_test(test_remote_incomplete_defers_all),
		cmocka_unit_test(test_verdict_text_cut_and_cleaned_as_written),
		cmocka_unit_test(test_local_exit_codes),
		cmocka_unit_test(test_request_good),
		cmocka_unit_test(test_request_hundred_recipients),
		cmocka_unit_test(test_request_bad),
		cmocka_unit_test(test_request_bounds),
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_request_encode_refuses),
		cmocka_unit_test(test_verdict_roundtrip),
		cmocka_unit_test(test_verdict_encode_line),
		cmocka_unit_test(test_verdict_wrong_count_defers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
