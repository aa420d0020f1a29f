/* test_httpreq.c - unit tests for lib/util/httpreq.c: the strict request-head parser of osd metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "httpreq.h"

/* Parse the whole string; returns the parser's result, req filled. */
static int
parse(const char *s, struct httpreq *req)
{
	return httpreq_parse(s, strlen(s), req);
}

static void
test_httpreq_get_and_head_are_parsed(void **state)
{
	struct httpreq r;

	(void)state;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &r), 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.method, HTTPREQ_GET);
	assert_string_equal(r.target, "/metrics");
	assert_int_equal(r.minor, 1);
	/* HTTP/1.0 needs no Host; bare LF line ends are taken; the query is dropped. */
	assert_int_equal(parse("HEAD /metrics?x=1 HTTP/1.0\n\n", &r), 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.method, HTTPREQ_HEAD);
	assert_string_equal(r.target, "/metrics");
	assert_int_equal(r.minor, 0);
	/* A header value may hold tabs and spaces. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\tx y\r\n\r\n", &r), 1);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.target, "/");
}

static void
test_httpreq_incomplete_head_needs_more(void **state)
{
	static const char full[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct httpreq r;

	(void)state;
	/* Every proper prefix of a good head asks for more, the whole one is done. */
	for (size_t n = 0; n < sizeof(full) - 1; n++)
		assert_int_equal(httpreq_parse(full, n, &r), 0);
	assert_int_equal(httpreq_parse(full, sizeof(full) - 1, &r), 1);
	assert_int_equal(r.status, 0);
}

static void
test_httpreq_bad_request_lines_are_refused(void **state)
{
	static const struct {
		const char *text;
		int status;
	} cases[] = {
		{ "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405 },
		{ "DELETE /metrics HTTP/1.0\r\n", 405 },        /* known at the first line */
		{ "GET /metrics HTTP/2.0\r\n", 505 },
		{ "GET /metrics HTTP/1.2\r\n", 505 },
		{ "GET /metrics HTTP/1.1\r\n\r\n", 400 },       /* HTTP/1.1 without Host */
		{ "GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
		{ "GET  /metrics HTTP/1.1\r\n", 400 },          /* two spaces */
		{ "GET metrics HTTP/1.1\r\n", 400 },            /* not origin-form */
		{ "GET http://x/metrics HTTP/1.1\r\n", 400 },
		{ "GET /metrics\r\n", 400 },                    /* HTTP/0.9 */
		{ "GET /metrics HTTP/1.1 \r\n", 400 },
		{ "GET /metrics http/1.1\r\n", 400 },
		{ "\r\n", 400 },
		{ "G\x01T /metrics HTTP/1.1\r\n", 400 },
		{ "GET /met\rrics HTTP/1.1\r\n", 400 },         /* a bare CR */
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\nHost x\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\n: x\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\nHost: x\x01\r\n\r\n", 400 },
		{ "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", 400 },
		{ "VERYLONGMETHODNAMEXX / HTTP/1.1\r\n", 400 },
	};
	struct httpreq r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].text, &r), 1);
		if (r.status != cases[i].status)
			fail_msg("case %zu: status %d, want %d", i, r.status, cases[i].status);
	}
}

static void
test_httpreq_sizes_are_capped(void **state)
{
	static char big[HTTPREQ_HEAD_MAX + 100];
	struct httpreq r;
	size_t n;

	(void)state;
	/* A target longer than kept: 414. */
	n = (size_t)snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'a', HTTPREQ_TARGET_MAX + 1);
	n += HTTPREQ_TARGET_MAX + 1;
	n += (size_t)snprintf(big + n, sizeof(big) - n, " HTTP/1.0\r\n\r\n");
	assert_int_equal(httpreq_parse(big, n, &r), 1);
	assert_int_equal(r.status, 414);
	/* Exactly the longest kept target is fine. */
	n = (size_t)snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'a', HTTPREQ_TARGET_MAX - 1);
	n += HTTPREQ_TARGET_MAX - 1;
	n += (size_t)snprintf(big + n, sizeof(big) - n, " HTTP/1.0\r\n\r\n");
	assert_int_equal(httpreq_parse(big, n, &r), 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(strlen(r.target), HTTPREQ_TARGET_MAX);
	/* A head that never ends: done at the cap with 431, whether or not a line ends there. */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.0\r\nX: ");
	memset(big + n, 'b', sizeof(big) - n);
	assert_int_equal(httpreq_parse(big, HTTPREQ_HEAD_MAX - 1, &r), 0);
	assert_int_equal(httpreq_parse(big, HTTPREQ_HEAD_MAX, &r), 1);
	assert_int_equal(r.status, 431);
	big[HTTPREQ_HEAD_MAX + 10] = '\n';
	assert_int_equal(httpreq_parse(big, HTTPREQ_HEAD_MAX + 20, &r), 1);
	assert_int_equal(r.status, 431);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_httpreq_get_and_head_are_parsed),
		cmocka_unit_test(test_httpreq_incomplete_head_needs_more),
		cmocka_unit_test(test_httpreq_bad_request_lines_are_refused),
		cmocka_unit_test(test_httpreq_sizes_are_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
