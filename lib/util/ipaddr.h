/* ipaddr.h - IPv4/IPv6 addresses: strict parsing and the two text forms osd writes. */
#ifndef OSD_IPADDR_H
#define OSD_IPADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for the longest text form ("ffff:...:ffff" or an IPv4-in-IPv6 form). */
#define IPADDR_TEXT_MAX 46

struct ipaddr {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t bytes[16];      /* IPv4 uses the first 4 */
};

/*
 * Parse text as exactly one address: dotted-quad IPv4 or RFC 4291 IPv6,
 * nothing before or after (no prefix length, no zone, no spaces).
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 address.
 * Returns 0, or -1 with errno = EINVAL.
 */
int ipaddr_parse(const char *text, struct ipaddr *addr_r);

/* The same, from a socket address (accept(2), getpeername(2)). */
int ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *addr_r);

/*
 * Canonical text (inet_ntop(3)): the name of the address's file in
 * open-smtp/.  out must hold IPADDR_TEXT_MAX bytes.
 */
void ipaddr_format(const struct ipaddr *addr, char *out);

/*
 * The text tcpserver (Debian ucspi-tcp-ipv6) puts in TCPREMOTEIP and uses
 * as the relay-table key.  IPv4 is dotted quad.  IPv6 is lower-case hex
 * with the longest run of zero groups, even a single one, written "::"
 * (the first run on a tie) and never with an embedded IPv4 part; this
 * differs from inet_ntop for e.g. 2001:db8:0:1:1:1:1:1.
 * out must hold IPADDR_TEXT_MAX bytes; returns the length.
 */
size_t ipaddr_format_key(const struct ipaddr *addr, char *out);

bool ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b);

/* Bytes of the address that matter: 4 or 16. */
static inline unsigned ipaddr_len(const struct ipaddr *addr)
{
	return addr->family == AF_INET ? 4u : 16u;
}

/* True for 127.0.0.0/8 and ::1 (IPv4-mapped addresses are stored as IPv4). */
bool ipaddr_is_loopback(const struct ipaddr *a);

/*
 * May a client at a be given relay rights for a login?  False for what can
 * never be one client's own source address: IPv4 0.0.0.0/8, multicast
 * 224.0.0.0/4, reserved 240.0.0.0/4 (with the broadcast address); IPv6 ::
 * (unspecified), ff00::/8 (multicast), and the deprecated IPv4-compatible
 * ::/96 other than ::1.  Loopback stays a client (tests and local tools).
 */
bool ipaddr_is_unicast(const struct ipaddr *a);

/*
 * IPv6 only: every group as four hex digits, eight groups ("2001:0db8:
 * 0000:...").  tcpserver never looks such a key up (its own form drops
 * leading zeros and compresses zero groups), so a record under it is seen
 * by osd alone.  out must hold IPADDR_TEXT_MAX bytes; returns the length.
 */
size_t ipaddr_format_expanded(const struct ipaddr *addr, char *out);

#endif
