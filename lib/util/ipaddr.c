/* ipaddr.c - strict address parsing and the inet_ntop and tcpserver text forms. */
#include "ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void
set_v4(struct ipaddr *addr, const uint8_t *four)
{
	memset(addr, 0, sizeof *addr);
	addr->family = AF_INET;
	memcpy(addr->bytes, four, 4);
}

static void
set_v6(struct ipaddr *addr, const uint8_t *sixteen)
{
	/* An IPv4 client seen through an IPv6 socket is that IPv4 client. */
	if (memcmp(sixteen, v4mapped_prefix, sizeof v4mapped_prefix) == 0) {
		set_v4(addr, sixteen + 12);
		return;
	}
	memset(addr, 0, sizeof *addr);
	addr->family = AF_INET6;
	memcpy(addr->bytes, sixteen, 16);
}

int
ipaddr_parse(const char *text, struct ipaddr *addr_r)
{
	uint8_t raw[16];
	size_t len;

	if (text == NULL)
		goto invalid;
	len = strnlen(text, IPADDR_TEXT_MAX);
	/* inet_pton rejects anything but the address itself (no "/24", no
	 * zone, no white space); length is bounded before it sees the text. */
	if (len == 0 || len >= IPADDR_TEXT_MAX)
		goto invalid;
	if (strchr(text, ':') == NULL) {
		if (inet_pton(AF_INET, text, raw) != 1)
			goto invalid;
		set_v4(addr_r, raw);
		return 0;
	}
	if (inet_pton(AF_INET6, text, raw) != 1)
		goto invalid;
	set_v6(addr_r, raw);
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

int
ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *addr_r)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		set_v4(addr_r, (const uint8_t *)&sin->sin_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		set_v6(addr_r, sin6->sin6_addr.s6_addr);
		return 0;
	}
	errno = EAFNOSUPPORT;
	return -1;
}

void
ipaddr_format(const struct ipaddr *addr, char *out)
{
	/* IPv4's text is the key's, written without inet_ntop's sprintf (a
	 * fleet resync formats every address of the fleet a few times). */
	if (addr->family == AF_INET) {
		(void)ipaddr_format_key(addr, out);
		return;
	}
	if (inet_ntop(addr->family, addr->bytes, out, IPADDR_TEXT_MAX) == NULL)
		out[0] = '\0';  /* cannot happen for AF_INET/AF_INET6 */
}

/* Decimal 0..255 without leading zeros; returns the digits written. */
static size_t
put_octet(char *out, unsigned v)
{
	size_t n = 0;

	if (v >= 100)
		out[n++] = (char)('0' + v / 100);
	if (v >= 10)
		out[n++] = (char)('0' + v / 10 % 10);
	out[n++] = (char)('0' + v % 10);
	return n;
}

/* Lower-case hex without leading zeros; returns the digits written. */
static size_t
put_hex16(char *out, unsigned v)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;

	for (int shift = 12; shift >= 0; shift -= 4)
		if (v >> shift || shift == 0 || n > 0)
			out[n++] = digits[(v >> shift) & 0xf];
	return n;
}

/* Formatting by hand, not snprintf: relay.cdb rebuilds format every key. */
size_t
ipaddr_format_key(const struct ipaddr *addr, char *out)
{
	unsigned groups[8];
	int best = -1, bestlen = 0;
	size_t n = 0;

	if (addr->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i > 0)
				out[n++] = '.';
			n += put_octet(out + n, addr->bytes[i]);
		}
		out[n] = '\0';
		return n;
	}
	for (int i = 0; i < 8; i++)
		groups[i] = (unsigned)addr->bytes[2 * i] << 8 | addr->bytes[2 * i + 1];
	/* Longest run of zero groups, first one on a tie; a run of one
	 * counts, as in the ip6_fmt that tcpserver uses. */
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && groups[j] == 0)
			j++;
		if (j - i > bestlen) {
			best = i;
			bestlen = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			out[n++] = ':';
			if (i == 0)
				out[n++] = ':';
			i += bestlen - 1;
			continue;
		}
		n += put_hex16(out + n, groups[i]);
		if (i < 7)
			out[n++] = ':';
	}
	out[n] = '\0';
	return n;
}

bool
ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, ipaddr_len(a)) == 0;
}

bool
ipaddr_is_loopback(const struct ipaddr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return memcmp(a->bytes, v6_loopback, 16) == 0;
}

bool
ipaddr_is_unicast(const struct ipaddr *a)
{
	static const uint8_t zero12[12];

	if (a->family == AF_INET)
		return a->bytes[0] != 0 && a->bytes[0] < 224;
	if (a->bytes[0] == 0xff)
		return false;
	/* ::/96 holds :: and the IPv4-compatible forms; ::1 is loopback. */
	if (memcmp(a->bytes, zero12, sizeof zero12) == 0)
		return ipaddr_is_loopback(a);
	return true;
}

size_t
ipaddr_format_expanded(const struct ipaddr *addr, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;

	for (int i = 0; i < 16; i++) {
		if (i > 0 && i % 2 == 0)
			out[n++] = ':';
		out[n++] = digits[addr->bytes[i] >> 4];
		out[n++] = digits[addr->bytes[i] & 0xf];
	}
	out[n] = '\0';
	return n;
}
