/* test_policy_proto.c - unit tests for the Postfix policy delegation protocol (policyd/policy_proto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy_proto.h"

/* What Postfix 3.7 sends for one RCPT (SMTPD_POLICY_README's attributes). */
static const char postfix_request[] =
	"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
	"client_address=192.0.2.7\nclient_name=unknown\nreverse_client_name=unknown\n"
	"client_port=40000\nhelo_name=laptop.example.org\nsender=alice@example.org\n"
	"recipient=bob@example.net\nrecipient_count=0\nqueue_id=\ninstance=1a2b.3c4d.0\nsize=0\n"
	"etrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
	"ccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\n"
	"encryption_cipher=\nencryption_keysize=0\npolicy_context=\nserver_address=127.0.0.1\n"
	"server_port=25\ncompatibility_level=3.6\nmail_version=3.7.11\n\n";

/* scan then parse one whole request; the parse result, *error_r on failure. */
static int
scan_parse(const char *text, size_t len, struct policy_request *req, const char **error_r)
{
	struct policy_scan scan = { 0, 0 };
	size_t end = 0;
	int r = policy_scan(&scan, text, len, &end, error_r);

	if (r != 1)
		return r == 0 ? -2 : -1;
	return policy_parse(text, end, req, error_r);
}

static void
test_policy_parse_postfix_request(void **state)
{
	struct policy_request req;
	const char *error = NULL;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	assert_int_equal(scan_parse(postfix_request, strlen(postfix_request), &req, &error), 0);
	assert_true(req.access_policy);
	assert_true(req.client_ok);
	assert_int_equal(req.nattrs, 31);
	ipaddr_format(&req.client, text);
	assert_string_equal(text, "192.0.2.7");
	assert_string_equal(req.protocol_state, "RCPT");
}

static void
test_policy_parse_ipv6_and_mapped_client(void **state)
{
	struct policy_request req;
	const char *error = NULL;
	char text[IPADDR_TEXT_MAX];
	static const char v6[] = "request=smtpd_access_policy\nclient_address=2001:db8::7\n\n";
	static const char mapped[] = "request=smtpd_access_policy\nclient_address=::ffff:192.0.2.1\n\n";

	(void)state;
	assert_int_equal(scan_parse(v6, strlen(v6), &req, &error), 0);
	assert_true(req.client_ok);
	ipaddr_format(&req.client, text);
	assert_string_equal(text, "2001:db8::7");
	/* Postfix may hand over an IPv4 client in IPv6 form: it is the IPv4 address. */
	assert_int_equal(scan_parse(mapped, strlen(mapped), &req, &error), 0);
	ipaddr_format(&req.client, text);
	assert_string_equal(text, "192.0.2.1");
}

static void
test_policy_parse_client_missing_or_not_an_address(void **state)
{
	static const char *const cases[] = {
		"request=smtpd_access_policy\nprotocol_state=RCPT\n\n",
		"request=smtpd_access_policy\nclient_address=\n\n",
		"request=smtpd_access_policy\nclient_address=[192.0.2.1]\n\n",
		"request=smtpd_access_policy\nclient_address=192.0.2.1 \n\n",
		"request=smtpd_access_policy\nclient_address=192.0.2.0/24\n\n",
		"request=smtpd_access_policy\nclient_address=unknown\n\n",
		"request=smtpd_access_policy\nclient_address=192.0.2.1\r\n\r\n",
	};
	struct policy_request req;
	const char *error = NULL;

	(void)state;
	/* Well-formed requests: answered with the default action, never relayed. */
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(scan_parse(cases[i], strlen(cases[i]), &req, &error), 0);
		assert_false(req.client_ok);
	}
	assert_true(req.has_client);
	/* CRLF is not the protocol: "\r\n" is a line without '=', the request is refused. */
	assert_int_equal(scan_parse(cases[6], strlen(cases[6]), &req, &error), -1);
	assert_string_equal(error, "line without '='");
}

static void
test_policy_parse_rejects_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "request=smtpd_access_policy\ngarbage\n\n", "line without '='" },
		{ "=x\n\n", "empty attribute name" },
		{ "client address=192.0.2.1\n\n", "bad character in attribute name" },
		{ "client_address=192.0.2.1\nclient_address=192.0.2.2\n\n", "client_address given twice" },
		{ "request=smtpd_access_policy\nrequest=smtpd_access_policy\n\n", "request given twice" },
		{ "\n", "empty request" },
	};
	struct policy_request req;
	const char *error = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(scan_parse(cases[i].text, strlen(cases[i].text), &req, &error), -1);
		assert_string_equal(error, cases[i].error);
	}
}

static void
test_policy_parse_other_request_type(void **state)
{
	static const char text[] = "request=junk\nclient_address=192.0.2.1\n\n";
	struct policy_request req;
	const char *error = NULL;

	(void)state;
	assert_int_equal(scan_parse(text, strlen(text), &req, &error), 0);
	assert_true(req.has_request);
	assert_false(req.access_policy);
}

static void
test_policy_scan_trickle_and_pipelined(void **state)
{
	static const char two[] = "request=smtpd_access_policy\nclient_address=192.0.2.1\n\n"
				  "request=smtpd_access_policy\nclient_address=192.0.2.2\n\n";
	size_t first = strlen(two) / 2, end = 0, len;
	struct policy_scan scan = { 0, 0 };
	const char *error = NULL;

	(void)state;
	/* A byte at a time: complete only at the empty line. */
	for (len = 1; len < first; len++)
		assert_int_equal(policy_scan(&scan, two, len, &end, &error), 0);
	assert_int_equal(policy_scan(&scan, two, first, &end, &error), 1);
	assert_int_equal(end, first);
	/* Two in one read: the first ends where it ends, the second is found after it. */
	scan = (struct policy_scan){ 0, 0 };
	assert_int_equal(policy_scan(&scan, two, strlen(two), &end, &error), 1);
	assert_int_equal(end, first);
	assert_int_equal(policy_scan(&scan, two + first, strlen(two) - first, &end, &error), 1);
	assert_int_equal(end, strlen(two) - first);
}

static void
test_policy_scan_limits(void **state)
{
	struct policy_scan scan = { 0, 0 };
	const char *error = NULL;
	size_t end, n;
	char *big = malloc(POLICY_REQUEST_MAX + 2);

	(void)state;
	assert_non_null(big);
	/* One line of POLICY_LINE_MAX octets passes, one more does not. */
	memset(big, 'a', POLICY_LINE_MAX + 1);
	big[0] = 'x';
	big[1] = '=';
	assert_int_equal(policy_scan(&scan, big, POLICY_LINE_MAX, &end, &error), 0);
	assert_int_equal(policy_scan(&scan, big, POLICY_LINE_MAX + 1, &end, &error), -1);
	assert_string_equal(error, "line too long");
	/* Short lines, never an empty one: refused at POLICY_REQUEST_MAX. */
	for (n = 0; n + 4 <= POLICY_REQUEST_MAX + 2; n += 4)
		memcpy(big + n, "a=b\n", 4);
	scan = (struct policy_scan){ 0, 0 };
	assert_int_equal(policy_scan(&scan, big, POLICY_REQUEST_MAX - 4, &end, &error), 0);
	assert_int_equal(policy_scan(&scan, big, POLICY_REQUEST_MAX, &end, &error), -1);
	assert_string_equal(error, "request too long");
	/* A NUL octet anywhere. */
	scan = (struct policy_scan){ 0, 0 };
	assert_int_equal(policy_scan(&scan, "a=\0b\n\n", 6, &end, &error), -1);
	assert_string_equal(error, "NUL octet in request");
	free(big);
}

static void
test_policy_parse_too_many_attributes(void **state)
{
	struct policy_request req;
	const char *error = NULL;
	char text[POLICY_ATTRS_MAX * 4 + 8];
	size_t n = 0;

	(void)state;
	for (unsigned i = 0; i <= POLICY_ATTRS_MAX; i++, n += 4)
		memcpy(text + n, "a=b\n", 4);
	text[n++] = '\n';
	assert_int_equal(scan_parse(text, n, &req, &error), -1);
	assert_string_equal(error, "too many attributes");
	/* One fewer is fine. */
	assert_int_equal(scan_parse(text + 4, n - 4, &req, &error), 0);
	assert_int_equal(req.nattrs, POLICY_ATTRS_MAX);
}

static void
test_policy_reply_format(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(policy_reply(&out, "PREPEND X-Relay-Auth: pop-before-smtp"), 0);
	assert_string_equal(out.data, "action=PREPEND X-Relay-Auth: pop-before-smtp\n\n");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse_postfix_request),
		cmocka_unit_test(test_policy_parse_ipv6_and_mapped_client),
		cmocka_unit_test(test_policy_parse_client_missing_or_not_an_address),
		cmocka_unit_test(test_policy_parse_rejects_malformed),
		cmocka_unit_test(test_policy_parse_other_request_type),
		cmocka_unit_test(test_policy_scan_trickle_and_pipelined),
		cmocka_unit_test(test_policy_scan_limits),
		cmocka_unit_test(test_policy_parse_too_many_attributes),
		cmocka_unit_test(test_policy_reply_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
