/* test_smtp_mx.c - unit tests for smtproutes parsing, MX ordering and the lookups that need no DNS (smtp-gate/remote/mx.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mx.h"

static char host[MX_HOST_MAX + 1];
static unsigned port;
static char err[256];

/* mx_route over a NULL-terminated list of lines. */
static int
route(const char *domain, const char *const *lines)
{
	size_t n = 0;

	while (lines[n] != NULL)
		n++;
	strcpy(host, "unchanged");
	port = 0;
	err[0] = '\0';
	return mx_route((char *const *)lines, n, domain, host, &port, err, sizeof(err));
}

#define LINES(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_smtp_mx_route_exact_domain_default_port(void **state)
{
	(void)state;
	assert_int_equal(route("example.com", LINES("example.com:relay.example.net")), 1);
	assert_string_equal(host, "relay.example.net");
	assert_int_equal(port, 25);
	assert_int_equal(route("example.com", LINES("example.com:relay.example.net:2525")), 1);
	assert_string_equal(host, "relay.example.net");
	assert_int_equal(port, 2525);
	/* The domain part matches whatever its case; the host is kept as written. */
	assert_int_equal(route("example.com", LINES("EXAMPLE.Com:Relay.Example.NET")), 1);
	assert_string_equal(host, "Relay.Example.NET");
	/* A final dot on the asked domain is the same domain. */
	assert_int_equal(route("example.com.", LINES("example.com:r1")), 1);
	assert_string_equal(host, "r1");
}

static void
test_smtp_mx_route_no_line_applies(void **state)
{
	(void)state;
	assert_int_equal(mx_route(NULL, 0, "example.com", host, &port, err, sizeof(err)), 0);
	assert_int_equal(route("example.com", LINES("example.org:r1", ".sub.example.com:r2")), 0);
	assert_string_equal(host, "unchanged");
	/* ".example.com" is for subdomains, never the domain itself. */
	assert_int_equal(route("example.com", LINES(".example.com:r1")), 0);
	/* Suffixes match at a dot only. */
	assert_int_equal(route("badexample.com", LINES(".example.com:r1", "example.com:r2")), 0);
	/* NULL entries are skipped. */
	assert_int_equal(mx_route((char *const[]){ NULL, NULL }, 2, "example.com", host, &port,
				  err, sizeof(err)), 0);
}

static void
test_smtp_mx_route_longest_suffix_wins(void **state)
{
	(void)state;
	assert_int_equal(route("a.b.example.com",
			       LINES(":all", ".com:c", ".example.com:e", ".b.example.com:b", ".org:o")), 1);
	assert_string_equal(host, "b");
	/* Order in the file does not matter. */
	assert_int_equal(route("a.b.example.com",
			       LINES(".b.example.com:b", ".example.com:e", ".com:c", ":all")), 1);
	assert_string_equal(host, "b");
	assert_int_equal(route("x.example.com", LINES(".com:c", ":all", ".example.com:e")), 1);
	assert_string_equal(host, "e");
	assert_int_equal(route("deep.x.example.com", LINES(".example.com:e:26")), 1);
	assert_string_equal(host, "e");
	assert_int_equal(port, 26);
}

static void
test_smtp_mx_route_exact_beats_suffix_and_catch_all(void **state)
{
	(void)state;
	assert_int_equal(route("b.example.com",
			       LINES(":all", ".example.com:e", "b.example.com:exact", ".b.example.com:s")), 1);
	assert_string_equal(host, "exact");
	assert_int_equal(route("elsewhere.net", LINES("b.example.com:exact", ":all:587")), 1);
	assert_string_equal(host, "all");
	assert_int_equal(port, 587);
}

static void
test_smtp_mx_route_empty_host_means_use_mx(void **state)
{
	(void)state;
	/* The more specific empty route overrides ":host": this domain goes by MX. */
	assert_int_equal(route("example.com", LINES(":smarthost", "example.com:")), 0);
	assert_int_equal(route("a.example.com", LINES(":smarthost", ".example.com:")), 0);
	assert_int_equal(route("example.org", LINES(":smarthost", ".example.com:")), 1);
	assert_string_equal(host, "smarthost");
	assert_int_equal(route("example.org", LINES(":")), 0);
}

static void
test_smtp_mx_route_first_of_equal_lines_wins(void **state)
{
	(void)state;
	assert_int_equal(route("example.com", LINES("example.com:first", "example.com:second")), 1);
	assert_string_equal(host, "first");
	assert_int_equal(route("x.example.com", LINES(".example.com:first", ".EXAMPLE.com:second")), 1);
	assert_string_equal(host, "first");
}

static void
test_smtp_mx_route_literals(void **state)
{
	(void)state;
	assert_int_equal(route("example.com", LINES("example.com:[192.0.2.1]")), 1);
	assert_string_equal(host, "[192.0.2.1]");
	assert_int_equal(port, 25);
	assert_int_equal(route("example.com", LINES("example.com:[192.0.2.1]:2525")), 1);
	assert_string_equal(host, "[192.0.2.1]");
	assert_int_equal(port, 2525);
	/* The colons inside an IPv6 literal are not the port's. */
	assert_int_equal(route("example.com", LINES("example.com:[IPv6:2001:db8::1]:587")), 1);
	assert_string_equal(host, "[IPv6:2001:db8::1]");
	assert_int_equal(port, 587);
	assert_int_equal(route("example.com", LINES("example.com:[ipv6:2001:db8::1]")), 1);
	assert_string_equal(host, "[ipv6:2001:db8::1]");
	assert_int_equal(port, 25);
	assert_int_equal(route("example.com", LINES(":[::1]:10025")), 1);
	assert_string_equal(host, "[::1]");
	assert_int_equal(port, 10025);
}

static void
test_smtp_mx_route_ports_at_the_edges(void **state)
{
	(void)state;
	assert_int_equal(route("d", LINES("d:h:1")), 1);
	assert_int_equal(port, 1);
	assert_int_equal(route("d", LINES("d:h:65535")), 1);
	assert_int_equal(port, 65535);
	assert_int_equal(route("d", LINES("d:h:00025")), 1);
	assert_int_equal(port, 25);
}

/* Each line alone must be refused, with its number and the reason in err. */
static void
test_smtp_mx_route_malformed_lines(void **state)
{
	static const char *const bad[] = {
		"example.com",                  /* no colon */
		"example.com:host:0",
		"example.com:host:65536",
		"example.com:host:99999999999999999999",
		"example.com:host:000025",
		"example.com:host:",
		"example.com:host:25x",
		"example.com:host:+25",
		"example.com:host:-1",
		"example.com:host: 25",
		"example.com:host:25:26",
		"example.com::25",              /* a port without a host */
		"exa mple.com:host",
		" example.com:host",
		"example.com :host",
		"example.com: host",
		"example.com:host ",
		"example.com:ho st",
		"example.com:ho\tst",
		"example.com:host\x01",
		"exa\x7fmple.com:host",
		"example.com:h\xc3\xa9st",
		"..example.com:host",
		".:host",
		"example..com:host",
		"example.com.:host",
		".example.com.:host",
		"example.com:.host",
		"example.com:host..net",
		"example.com:[192.0.2.1",
		"example.com:[192.0.2.1]x",
		"example.com:[192.0.2.1]:",
		"example.com:[192.0.2.1]:0",
		"example.com:[192.0.2.999]",
		"example.com:[192.0.2]",
		"example.com:[]",
		"example.com:[IPv6:]",
		"example.com:[IPv6:192.0.2.1]",
		"example.com:[IPv6:2001:db8::1",
		"example.com:[2001:db8::1%eth0]",
		"example.com:[192.0.2.1/24]",
		"example.com:[ 192.0.2.1]",
		"example.com:192.0.2.1]",
		"example.com:[[192.0.2.1]]",
		"example.com:host[1]",
		"example.com:host:2525:",
		"example.com:host;rm -rf /",
		"example.com:host/25",
		"example.com:host@other",
		"example.com:host\"x",
		"@example.com:host",
		"*.example.com:host",
		"example.com/x:host",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (route("example.com", LINES("ok.example:fine", bad[i])) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		if (strstr(err, "smtproutes line 2 ") == NULL)
			fail_msg("\"%s\": error does not name line 2: %s", bad[i], err);
		assert_string_equal(host, "unchanged");
	}
}

static void
test_smtp_mx_route_long_names(void **state)
{
	char line[600], name[300];

	(void)state;
	/* 253 characters, labels of 63: the longest host name. */
	memset(name, 'a', 253);
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	snprintf(line, sizeof(line), "example.com:%s:26", name);
	assert_int_equal(route("example.com", LINES(line)), 1);
	assert_string_equal(host, name);
	assert_int_equal(port, 26);
	/* 254: one too many; then a label of 64. */
	name[253] = 'a';
	name[254] = '\0';
	snprintf(line, sizeof(line), "example.com:%s", name);
	assert_int_equal(route("example.com", LINES(line)), -1);
	memset(name, 'b', 64);
	name[64] = '\0';
	snprintf(line, sizeof(line), "example.com:%s.net", name);
	assert_int_equal(route("example.com", LINES(line)), -1);
	/* A very long line: the error stays short and shows no raw control bytes. */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	line[5] = '\n';
	assert_int_equal(route("example.com", LINES(line)), -1);
	assert_non_null(strstr(err, "line 1"));
	assert_non_null(strstr(err, "..."));
	assert_null(strchr(err, '\n'));
	assert_true(strlen(err) < 200);
}

/* A malformed line is reported even after the line that matches. */
static void
test_smtp_mx_route_checks_every_line(void **state)
{
	(void)state;
	assert_int_equal(route("example.com", LINES("example.com:good", ":", "bad line")), -1);
	assert_non_null(strstr(err, "line 3"));
	assert_non_null(strstr(err, "bad line"));
	/* NULL err is allowed. */
	assert_int_equal(mx_route((char *const[]){ "bad" }, 1, "example.com", host, &port, NULL, 0), -1);
}

/* --- mx_order --- */

struct seq {
	const unsigned *v;
	size_t n, used;
};

static unsigned
next_rand(void *ctx)
{
	struct seq *s = ctx;

	assert_true(s->used < s->n);
	return s->v[s->used++];
}

static void
set_hosts(struct mx_host *h, const char *names, const unsigned *prefs, size_t n)
{
	memset(h, 0, n * sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		h[i].name[0] = names[i];
		h[i].pref = prefs[i];
		h[i].port = 25 + (unsigned)i;     /* travels with its host */
		h[i].naddrs = i;
	}
}

static void
assert_order(const struct mx_host *h, const char *want)
{
	char got[MX_HOSTS_MAX + 1];
	size_t n = strlen(want);

	for (size_t i = 0; i < n; i++) {
		got[i] = h[i].name[0];
		assert_int_equal(h[i].naddrs, h[i].port - 25);
	}
	got[n] = '\0';
	assert_string_equal(got, want);
}

static void
test_smtp_mx_order_by_preference_shuffling_equal_ones(void **state)
{
	static const unsigned prefs[] = { 20, 10, 10, 10, 5, 20, 30 };
	struct mx_host h[7];

	(void)state;
	/*
	 * Sorted: e(5) b c d(10) a f(20) g(30).  The run b c d draws twice:
	 * k=2: 3 % 3 = 0 swaps its places 2 and 0 (d c b); k=1: 1 % 2 = 1
	 * keeps them.  The run a f draws once: 0 % 2 = 0 swaps (f a).
	 */
	{
		const unsigned draws[] = { 3, 1, 0 };
		struct seq s = { draws, 3, 0 };

		set_hosts(h, "abcdefg", prefs, 7);
		mx_order(h, 7, next_rand, &s);
		assert_order(h, "edcbfag");
		assert_int_equal(s.used, 3);
	}
	/* Draws that pick the last place every time keep the file order. */
	{
		const unsigned draws[] = { 2, 1, 1 };
		struct seq s = { draws, 3, 0 };

		set_hosts(h, "abcdefg", prefs, 7);
		mx_order(h, 7, next_rand, &s);
		assert_order(h, "ebcdafg");
		assert_int_equal(s.used, 3);
	}
	/* k=2: 4 % 3 = 1 (b d c); k=1: 7 % 2 = 1 keeps; then 9 % 2 = 1 keeps a f. */
	{
		const unsigned draws[] = { 4, 7, 9 };
		struct seq s = { draws, 3, 0 };

		set_hosts(h, "abcdefg", prefs, 7);
		mx_order(h, 7, next_rand, &s);
		assert_order(h, "ebdcafg");
	}
}

static void
test_smtp_mx_order_distinct_preferences_draw_nothing(void **state)
{
	static const unsigned prefs[] = { 30, 0, 65535, 10, 20 };
	struct mx_host h[5];
	struct seq s = { NULL, 0, 0 };

	(void)state;
	set_hosts(h, "abcde", prefs, 5);
	mx_order(h, 5, next_rand, &s);
	assert_order(h, "bdeac");
	assert_int_equal(s.used, 0);
	/* Empty and single lists are fine. */
	mx_order(h, 0, next_rand, &s);
	mx_order(h, 1, next_rand, &s);
	assert_order(h, "b");
	assert_int_equal(s.used, 0);
}

static void
test_smtp_mx_order_all_equal_is_one_run(void **state)
{
	static const unsigned prefs[] = { 10, 10, 10, 10 };
	/* k=3: 0 -> swap 3,0 (d b c a); k=2: 5 % 3 = 2 keeps; k=1: 0 -> swap (b d c a). */
	const unsigned draws[] = { 0, 5, 0 };
	struct seq s = { draws, 3, 0 };
	struct mx_host h[4];

	(void)state;
	set_hosts(h, "abcd", prefs, 4);
	mx_order(h, 4, next_rand, &s);
	assert_order(h, "bdca");
	assert_int_equal(s.used, 3);
}

/* Without rand_fn, random(): both orders of two equal hosts show up. */
static void
test_smtp_mx_order_default_random_uses_both_orders(void **state)
{
	static const unsigned prefs[] = { 5, 5 };
	struct mx_host h[2];
	int first_a = 0;

	(void)state;
	for (int i = 0; i < 200; i++) {
		set_hosts(h, "ab", prefs, 2);
		mx_order(h, 2, NULL, NULL);
		first_a += h[0].name[0] == 'a';
	}
	assert_true(first_a > 20 && first_a < 180);
}

/* --- mx_resolve without DNS: literals, bad names, bad resolver setting --- */

static void
test_smtp_mx_resolve_literal_route_needs_no_dns(void **state)
{
	static struct mx_result r;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	/* A resolver nobody answers on: a literal must not ask it. */
	assert_int_equal(mx_resolve("127.0.0.1:9", "example.com", "[192.0.2.7]", 2525, 100, &r), 0);
	assert_int_equal(r.status, MX_OK);
	assert_true(r.routed);
	assert_int_equal(r.nhosts, 1);
	assert_string_equal(r.hosts[0].name, "[192.0.2.7]");
	assert_int_equal(r.hosts[0].port, 2525);
	assert_int_equal(r.hosts[0].pref, 0);
	assert_int_equal(r.hosts[0].naddrs, 1);
	ipaddr_format(&r.hosts[0].addrs[0], text);
	assert_string_equal(text, "192.0.2.7");

	/* qmail also takes a bare dotted quad as an address, not a name. */
	assert_int_equal(mx_resolve("127.0.0.1:9", "example.com", "192.0.2.8", 26, 100, &r), 0);
	assert_int_equal(r.status, MX_OK);
	assert_string_equal(r.hosts[0].name, "192.0.2.8");
	assert_int_equal(r.hosts[0].naddrs, 1);
	ipaddr_format(&r.hosts[0].addrs[0], text);
	assert_string_equal(text, "192.0.2.8");

	assert_int_equal(mx_resolve("", "example.com", "[IPv6:2001:db8::25]", 0, 100, &r), 0);
	assert_int_equal(r.status, MX_OK);
	assert_int_equal(r.hosts[0].port, 25);
	ipaddr_format(&r.hosts[0].addrs[0], text);
	assert_string_equal(text, "2001:db8::25");
}

static void
test_smtp_mx_resolve_bad_input_is_not_looked_up(void **state)
{
	static struct mx_result r;

	(void)state;
	assert_int_equal(mx_resolve("127.0.0.1:9", "exa mple.com", NULL, 0, 100, &r), 0);
	assert_int_equal(r.status, MX_NO_DOMAIN);
	assert_int_equal(r.nhosts, 0);
	assert_int_equal(mx_resolve("127.0.0.1:9", "", NULL, 0, 100, &r), 0);
	assert_int_equal(r.status, MX_NO_DOMAIN);
	/* A broken route host is a setting to fix, so: try again later. */
	assert_int_equal(mx_resolve("127.0.0.1:9", "example.com", "[192.0.2.300]", 25, 100, &r), 0);
	assert_int_equal(r.status, MX_TEMPFAIL);
	assert_non_null(strstr(r.error, "route"));
	assert_int_equal(r.nhosts, 0);
}

static void
test_smtp_mx_resolve_bad_resolver_setting(void **state)
{
	static const char *const bad[] = {
		"dns.example.net:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "[::1", "[::1]x",
		"[::1]:", "1.2.3.4.5", ":53",
	};
	static struct mx_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mx_resolve(bad[i], "example.com", NULL, 0, 100, &r) != -1)
			fail_msg("resolver \"%s\" accepted", bad[i]);
		assert_non_null(strstr(r.error, "resolver"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_mx_route_exact_domain_default_port),
		cmocka_unit_test(test_smtp_mx_route_no_line_applies),
		cmocka_unit_test(test_smtp_mx_route_longest_suffix_wins),
		cmocka_unit_test(test_smtp_mx_route_exact_beats_suffix_and_catch_all),
		cmocka_unit_test(test_smtp_mx_route_empty_host_means_use_mx),
		cmocka_unit_test(test_smtp_mx_route_first_of_equal_lines_wins),
		cmocka_unit_test(test_smtp_mx_route_literals),
		cmocka_unit_test(test_smtp_mx_route_ports_at_the_edges),
		cmocka_unit_test(test_smtp_mx_route_malformed_lines),
		cmocka_unit_test(test_smtp_mx_route_long_names),
		cmocka_unit_test(test_smtp_mx_route_checks_every_line),
		cmocka_unit_test(test_smtp_mx_order_by_preference_shuffling_equal_ones),
		cmocka_unit_test(test_smtp_mx_order_distinct_preferences_draw_nothing),
		cmocka_unit_test(test_smtp_mx_order_all_equal_is_one_run),
		cmocka_unit_test(test_smtp_mx_order_default_random_uses_both_orders),
		cmocka_unit_test(test_smtp_mx_resolve_literal_route_needs_no_dns),
		cmocka_unit_test(test_smtp_mx_resolve_bad_input_is_not_looked_up),
		cmocka_unit_test(test_smtp_mx_resolve_bad_resolver_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
