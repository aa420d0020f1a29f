/* test_ipaddr.c - unit tests for strict address parsing and the two text forms (lib/util/ipaddr.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "ipaddr.h"

/* A small fixed-seed generator, so every run checks the same addresses. */
static uint64_t
xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void
make_v6(struct ipaddr *a, const uint16_t groups[8])
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	for (int i = 0; i < 8; i++) {
		a->bytes[2 * i] = (uint8_t)(groups[i] >> 8);
		a->bytes[2 * i + 1] = (uint8_t)groups[i];
	}
}

/* The key form as the header describes it, written the slow obvious way. */
static void
reference_key(const uint16_t g[8], char *out, size_t size)
{
	int best = -1, bestlen = 0;
	size_t n = 0;

	for (int i = 0; i < 8; i++) {
		int len = 0;

		while (i + len < 8 && g[i + len] == 0)
			len++;
		if (len > bestlen) {
			best = i;
			bestlen = len;
		}
	}
	out[0] = '\0';
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			n += (size_t)snprintf(out + n, size - n, "%s", i == 0 ? "::" : ":");
			i += bestlen - 1;
			continue;
		}
		n += (size_t)snprintf(out + n, size - n, "%x%s", g[i], i < 7 ? ":" : "");
	}
}

static void
test_ipaddr_parse_accepts_valid_ipv4(void **state)
{
	struct ipaddr a;
	static const uint8_t want[4] = { 192, 0, 2, 7 };

	(void)state;
	assert_int_equal(ipaddr_parse("192.0.2.7", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(a.bytes, want, 4);
	assert_int_equal(ipaddr_len(&a), 4);
	assert_int_equal(ipaddr_parse("0.0.0.0", &a), 0);
	assert_int_equal(ipaddr_parse("255.255.255.255", &a), 0);
}

static void
test_ipaddr_parse_accepts_valid_ipv6(void **state)
{
	static const char *const good[] = {
		"::", "::1", "1::", "2001:db8::1", "fe80::1",
		"2001:0db8:0000:0000:0000:0000:0000:0001",
		"FFFF:ffff:FFFF:ffff:ffff:ffff:ffff:ffff",
		"::1.2.3.4", "64:ff9b::192.0.2.33",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	};
	static const uint8_t db8_1[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					   0, 0, 0, 0, 0, 0, 0, 1 };
	struct ipaddr a;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (ipaddr_parse(good[i], &a) != 0)
			fail_msg("rejected valid address \"%s\"", good[i]);
		assert_int_equal(a.family, AF_INET6);
		assert_int_equal(ipaddr_len(&a), 16);
	}
	assert_int_equal(ipaddr_parse("2001:0db8:0000:0000:0000:0000:0000:0001", &a), 0);
	assert_memory_equal(a.bytes, db8_1, 16);
}

static void
test_ipaddr_parse_rejects_anything_but_one_address(void **state)
{
	char longtext[301];
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4/24", "../etc/passwd", " 1.2.3.4", "1.2.3.4 ",
		"01.2.3.4", "1.2.3.256", "fe80::1%lo", "1.2.3.4\n", "1.2.3.4.5",
		"2001:db8::1/64", "[::1]", "::1 ", "1:2:3:4:5:6:7:8:9", "2001:db8:::1",
		"0x1.2.3.4", "1.2.3.-4", "host.example.com",
	};
	struct ipaddr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		if (ipaddr_parse(bad[i], &a) != -1)
			fail_msg("accepted invalid address \"%s\"", bad[i]);
		assert_int_equal(errno, EINVAL);
	}
	/* Long input is refused before it is parsed; a valid address at the
	 * start must not make the whole string pass. */
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	memcpy(longtext, "1.2.3.4", 7);
	errno = 0;
	assert_int_equal(ipaddr_parse(longtext, &a), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(ipaddr_parse(NULL, &a), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_ipaddr_parse_maps_v4mapped_to_ipv4(void **state)
{
	struct ipaddr a, b;
	char text[IPADDR_TEXT_MAX];

	(void)state;
	assert_int_equal(ipaddr_parse("::ffff:192.0.2.7", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(ipaddr_parse("192.0.2.7", &b), 0);
	assert_true(ipaddr_equal(&a, &b));
	ipaddr_format(&a, text);
	assert_string_equal(text, "192.0.2.7");
	/* The same address in hex groups is the same client. */
	assert_int_equal(ipaddr_parse("::ffff:c000:207", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_true(ipaddr_equal(&a, &b));
}

static void
test_ipaddr_equal_distinguishes_family_and_bytes(void **state)
{
	struct ipaddr a, b;

	(void)state;
	assert_int_equal(ipaddr_parse("1.2.3.4", &a), 0);
	assert_int_equal(ipaddr_parse("1.2.3.5", &b), 0);
	assert_false(ipaddr_equal(&a, &b));
	/* ::102:304 has the same trailing bytes but is a different address. */
	assert_int_equal(ipaddr_parse("::102:304", &b), 0);
	assert_false(ipaddr_equal(&a, &b));
	assert_int_equal(ipaddr_parse("1.2.3.4", &b), 0);
	assert_true(ipaddr_equal(&a, &b));
}

static void
test_ipaddr_format_is_inet_ntop_form(void **state)
{
	static const char *const inputs[] = {
		"192.0.2.7", "2001:db8:0:1:1:1:1:1", "2001:0DB8::0001", "::", "::1",
		"1::", "fe80::1:2", "2001:db8:0:0:1:0:0:1", "::102:304",
	};
	char got[IPADDR_TEXT_MAX], want[IPADDR_TEXT_MAX];
	struct ipaddr a;

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		assert_int_equal(ipaddr_parse(inputs[i], &a), 0);
		ipaddr_format(&a, got);
		assert_non_null(inet_ntop(a.family, a.bytes, want, sizeof(want)));
		assert_string_equal(got, want);
	}
	/* inet_ntop leaves a single zero group as "0". */
	assert_int_equal(ipaddr_parse("2001:db8:0:1:1:1:1:1", &a), 0);
	ipaddr_format(&a, got);
	assert_string_equal(got, "2001:db8:0:1:1:1:1:1");
}

static void
test_ipaddr_format_key_matches_tcpserver(void **state)
{
	/* Observed from Debian's ucspi-tcp-ipv6 tcpserver (TCPREMOTEIP). */
	static const struct {
		const char *in, *key;
	} cases[] = {
		{ "2001:db8:0:1:1:1:1:1", "2001:db8::1:1:1:1:1" },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
		{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },
		{ "fd00:0:0:0:0:ffff:1.2.3.4", "fd00::ffff:102:304" },
		{ "::102:304", "::102:304" },
		{ "1::", "1::" },
		{ "2001:db8:0:1:0:1:0:1", "2001:db8::1:0:1:0:1" },
		{ "1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7::" },
		{ "0:1:2:3:4:5:6:7", "::1:2:3:4:5:6:7" },
		{ "::", "::" },
		{ "::1", "::1" },
		{ "127.0.0.5", "127.0.0.5" },
	};
	char key[IPADDR_TEXT_MAX];
	struct ipaddr a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;

		assert_int_equal(ipaddr_parse(cases[i].in, &a), 0);
		memset(key, 'X', sizeof(key));
		n = ipaddr_format_key(&a, key);
		if (strcmp(key, cases[i].key) != 0)
			fail_msg("key of %s: want \"%s\", got \"%s\"", cases[i].in, cases[i].key, key);
		assert_int_equal(n, strlen(cases[i].key));
	}
}

static void
test_ipaddr_format_key_longest_form_fits(void **state)
{
	static const uint16_t g[8] = { 0xffff, 0xffff, 0xffff, 0xffff,
				       0xffff, 0xffff, 0xffff, 0xffff };
	char key[IPADDR_TEXT_MAX];
	struct ipaddr a;

	(void)state;
	make_v6(&a, g);
	assert_int_equal(ipaddr_format_key(&a, key), 39);
	assert_string_equal(key, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(ipaddr_parse("255.255.255.255", &a), 0);
	assert_int_equal(ipaddr_format_key(&a, key), 15);
	assert_string_equal(key, "255.255.255.255");
}

static void
test_ipaddr_from_sockaddr_in(void **state)
{
	struct sockaddr_in sin;
	struct ipaddr a, want;

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(25);
	assert_int_equal(inet_pton(AF_INET, "198.51.100.9", &sin.sin_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin, &a), 0);
	assert_int_equal(ipaddr_parse("198.51.100.9", &want), 0);
	assert_int_equal(a.family, AF_INET);
	assert_true(ipaddr_equal(&a, &want));
}

static void
test_ipaddr_from_sockaddr_in6(void **state)
{
	struct sockaddr_in6 sin6;
	struct ipaddr a, want;

	(void)state;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(110);
	sin6.sin6_scope_id = 2;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::77", &sin6.sin6_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
	assert_int_equal(ipaddr_parse("2001:db8::77", &want), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_true(ipaddr_equal(&a, &want));
}

static void
test_ipaddr_from_sockaddr_in6_mapped_is_ipv4(void **state)
{
	struct sockaddr_in6 sin6;
	struct ipaddr a, want;

	(void)state;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(ipaddr_parse("192.0.2.7", &want), 0);
	assert_true(ipaddr_equal(&a, &want));
}

static void
test_ipaddr_from_sockaddr_unix_fails_eafnosupport(void **state)
{
	struct sockaddr_un sun;
	struct ipaddr a;

	(void)state;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", "/tmp/sock");
	errno = 0;
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sun, &a), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
}

/* Random IPv6 addresses, about half of the groups zero so that runs of
 * every length and position occur.  Never v4-mapped: those are IPv4. */
static void
random_v6(uint64_t *seed, uint16_t g[8], struct ipaddr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	do {
		uint64_t bits = xorshift64(seed);

		for (int i = 0; i < 8; i++) {
			uint64_t r = xorshift64(seed);

			if (bits & (1u << i))
				g[i] = 0;
			else if (r & 0x10000)
				g[i] = (uint16_t)(r & 0xf);     /* short hex groups */
			else
				g[i] = (uint16_t)r;
		}
		make_v6(a, g);
	} while (memcmp(a->bytes, mapped, sizeof(mapped)) == 0);
}

static void
test_ipaddr_format_and_key_round_trip_random(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char text[IPADDR_TEXT_MAX], ref[64];
	struct ipaddr a, back;
	uint16_t g[8];

	(void)state;
	for (int n = 0; n < 10000; n++) {
		size_t len;

		random_v6(&seed, g, &a);
		ipaddr_format(&a, text);
		if (ipaddr_parse(text, &back) != 0 || !ipaddr_equal(&a, &back))
			fail_msg("format: \"%s\" does not parse back to the same address", text);
		len = ipaddr_format_key(&a, text);
		assert_int_equal(len, strlen(text));
		if (ipaddr_parse(text, &back) != 0 || !ipaddr_equal(&a, &back))
			fail_msg("format_key: \"%s\" does not parse back to the same address", text);
		reference_key(g, ref, sizeof(ref));
		if (strcmp(ref, text) != 0)
			fail_msg("format_key: want \"%s\", got \"%s\"", ref, text);
	}
}

/* Loopback: all of 127/8 and ::1, also when written IPv4-mapped; nothing else. */
static void
test_ipaddr_is_loopback(void **state)
{
	static const char *yes[] = { "127.0.0.1", "127.0.0.9", "127.255.255.255", "::1",
				     "::ffff:127.0.0.5" };
	static const char *no[] = { "128.0.0.1", "10.0.0.1", "::2", "::", "0.0.0.0",
				    "::ffff:10.0.0.1", "fe80::1" };
	struct ipaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(ipaddr_parse(yes[i], &a), 0);
		assert_true(ipaddr_is_loopback(&a));
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(ipaddr_parse(no[i], &a), 0);
		assert_false(ipaddr_is_loopback(&a));
	}
}

/* Issue 16.1: addresses that are no one client's never get relay rights. */
static void
test_ipaddr_is_unicast_refuses_unspecified_multicast_broadcast(void **state)
{
	static const char *const yes[] = { "127.0.0.1", "192.0.2.7", "1.0.0.0", "223.255.255.255",
					   "::1", "2001:db8::", "2001:db8::1", "fe80::1", "::ffff:10.0.0.1" };
	static const char *const no[] = { "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250",
					  "240.0.0.1", "255.255.255.255", "::", "ff02::1",
					  "ff0e::1", "::10.0.0.1", "::ffff:0.0.0.0", "::ffff:224.0.0.1" };
	struct ipaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(ipaddr_parse(yes[i], &a), 0);
		if (!ipaddr_is_unicast(&a))
			fail_msg("%s should be a client address", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(ipaddr_parse(no[i], &a), 0);
		if (ipaddr_is_unicast(&a))
			fail_msg("%s should be refused", no[i]);
	}
}

static void
test_ipaddr_format_expanded_has_eight_four_digit_groups(void **state)
{
	char out[IPADDR_TEXT_MAX];
	struct ipaddr a;

	(void)state;
	assert_int_equal(ipaddr_parse("2001:db8::1", &a), 0);
	assert_int_equal(ipaddr_format_expanded(&a, out), 39);
	assert_string_equal(out, "2001:0db8:0000:0000:0000:0000:0000:0001");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipaddr_parse_accepts_valid_ipv4),
		cmocka_unit_test(test_ipaddr_parse_accepts_valid_ipv6),
		cmocka_unit_test(test_ipaddr_parse_rejects_anything_but_one_address),
		cmocka_unit_test(test_ipaddr_parse_maps_v4mapped_to_ipv4),
		cmocka_unit_test(test_ipaddr_equal_distinguishes_family_and_bytes),
		cmocka_unit_test(test_ipaddr_format_is_inet_ntop_form),
		cmocka_unit_test(test_ipaddr_format_key_matches_tcpserver),
		cmocka_unit_test(test_ipaddr_format_key_longest_form_fits),
		cmocka_unit_test(test_ipaddr_from_sockaddr_in),
		cmocka_unit_test(test_ipaddr_from_sockaddr_in6),
		cmocka_unit_test(test_ipaddr_from_sockaddr_in6_mapped_is_ipv4),
		cmocka_unit_test(test_ipaddr_from_sockaddr_unix_fails_eafnosupport),
		cmocka_unit_test(test_ipaddr_format_and_key_round_trip_random),
		cmocka_unit_test(test_ipaddr_is_loopback),
		cmocka_unit_test(test_ipaddr_is_unicast_refuses_unspecified_multicast_broadcast),
		cmocka_unit_test(test_ipaddr_format_expanded_has_eight_four_digit_groups),
	};

	return cmocka_run_group_tests_name("ipaddr", tests, NULL, NULL);
}
