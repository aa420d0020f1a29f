/* test_relaylist.c - unit tests for osd list's rows (lib/relay/relaylist.c): the address order and the text and JSON lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "relaylist.h"

static void
add(struct relaylist *l, const char *text, long sec, const char *user)
{
	struct ipaddr a;

	if (ipaddr_parse(text, &a) != 0)
		fail_msg("bad test address %s", text);
	relaylist_add(l, &a, &(struct timespec){ .tv_sec = sec }, user);
}

/* Numeric order, IPv4 before IPv6 (not the order of the texts: 10.0.0.10 after 10.0.0.9). */
static void
test_relaylist_sort_numeric_ipv4_first(void **state)
{
	static const char *const want[] = {
		"9.255.255.255", "10.0.0.2", "10.0.0.9", "10.0.0.10", "192.0.2.1",
		"::1", "2001:db8::2", "2001:db8::10", "2001:db8:0:1::1", "fe80::1",
	};
	static const char *const in[] = {
		"2001:db8::10", "10.0.0.10", "fe80::1", "10.0.0.2", "::1", "192.0.2.1",
		"2001:db8:0:1::1", "10.0.0.9", "2001:db8::2", "9.255.255.255",
	};
	struct relaylist l;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	relaylist_init(&l);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		add(&l, in[i], 1000 + (long)i, i % 2 ? "u" : NULL);
	relaylist_sort(&l);
	assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < l.n; i++) {
		struct ipaddr a;

		relaylist_row_addr(&l.rows[i], &a);
		ipaddr_format(&a, text);
		assert_string_equal(text, want[i]);
	}
	relaylist_free(&l);
}

/* Each row keeps its own user and login time through the sort; no user is "". */
static void
test_relaylist_rows_keep_user_and_time(void **state)
{
	struct relaylist l;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	relaylist_init(&l);
	for (int i = 0; i < 3000; i++) {
		char addr[32], user[48];

		snprintf(addr, sizeof(addr), "10.%d.%d.1", (2999 - i) / 256, (2999 - i) % 256);
		snprintf(user, sizeof(user), "user%d@example.test", 2999 - i);
		add(&l, addr, 2999 - i, i == 0 ? "" : user);
	}
	relaylist_sort(&l);
	for (size_t i = 0; i < l.n; i++) {
		char user[48];
		struct ipaddr a;

		relaylist_row_addr(&l.rows[i], &a);
		ipaddr_format(&a, text);
		snprintf(user, sizeof(user), "user%zu@example.test", i);
		assert_int_equal(l.rows[i].sec, (long)i);
		assert_string_equal(relaylist_row_user(&l, &l.rows[i]), i == 2999 ? "" : user);
	}
	assert_int_equal(sizeof(struct relaylist_row), 40);
	relaylist_free(&l);
}

static void
test_relaylist_format_text(void **state)
{
	char out[RELAYLIST_LINE_MAX];
	size_t n;

	(void)state;
	n = relaylist_format(&(struct relaylist_item){ .address = "192.0.2.7", .user = "alice@example.test",
						      .dynamic = true, .login = 1767225600,
						      .expires = 1767225600 + 10800 },
			     false, true, out);
	out[n] = '\0';
	assert_string_equal(out, "192.0.2.7 alice@example.test 2026-01-01T00:00:00Z "
				 "2026-01-01T03:00:00Z dynamic\n");
	n = relaylist_format(&(struct relaylist_item){ .address = "2001:db8::1", .user = "",
						      .dynamic = true, .login = 0, .expires = 10800 },
			     false, false, out);
	out[n] = '\0';
	assert_string_equal(out, "2001:db8::1 - 1970-01-01T00:00:00Z 1970-01-01T03:00:00Z dynamic\n");
	n = relaylist_format(&(struct relaylist_item){ .address = "", .user = "", .rule = "allow" },
			     false, false, out);
	out[n] = '\0';
	assert_string_equal(out, "(default) - - - static\n");
}

static void
test_relaylist_format_json(void **state)
{
	char out[RELAYLIST_LINE_MAX];
	size_t n;

	(void)state;
	n = relaylist_format(&(struct relaylist_item){ .address = "192.0.2.7", .user = "a\"b\\c",
						      .dynamic = true, .login = 1767225600,
						      .expires = 1767236400 },
			     true, true, out);
	out[n] = '\0';
	assert_string_equal(out, "{\"address\":\"192.0.2.7\",\"user\":\"a\\\"b\\\\c\","
				 "\"login\":\"2026-01-01T00:00:00Z\",\"login_unix\":1767225600,"
				 "\"expires\":\"2026-01-01T03:00:00Z\",\"expires_unix\":1767236400,"
				 "\"source\":\"dynamic\"}");
	n = relaylist_format(&(struct relaylist_item){ .address = "10.1.", .user = "",
						      .rule = "allow,RELAYCLIENT=\"\"\x01" },
			     true, false, out);
	out[n] = '\0';
	assert_string_equal(out, ",{\"address\":\"10.1.\",\"user\":null,\"login\":null,\"expires\":null,"
				 "\"source\":\"static\",\"rule\":\"allow,RELAYCLIENT=\\\"\\\"\\u0001\"}");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relaylist_sort_numeric_ipv4_first),
		cmocka_unit_test(test_relaylist_rows_keep_user_and_time),
		cmocka_unit_test(test_relaylist_format_text),
		cmocka_unit_test(test_relaylist_format_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
