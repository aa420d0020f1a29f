/* relaykey.h - what a login entry authorizes, and the relay.cdb key that says exactly that to tcpserver. */
#ifndef OSD_RELAYKEY_H
#define OSD_RELAYKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "ipaddr.h"

/* relay_ipv6_prefix: a login authorizes its own address (128) or its /64. */
#define RELAYKEY_PREFIX_ADDRESS 128
#define RELAYKEY_PREFIX_NET64 64

/*
 * The relay.cdb record of one open-smtp entry.  tcpserver looks a client
 * up by its exact text, then by every prefix of it that ends in '.' or
 * ':'.  An IPv6 text that ends in "::" is therefore also a prefix of other
 * addresses (2001:db8:: of 2001:db8::5:1:2:3:4), so such an entry is
 * written under the expanded form, which tcpserver never looks up.
 */
struct relaykey {
	char key[IPADDR_TEXT_MAX];      /* the record's key */
	size_t keylen;
	char match[IPADDR_TEXT_MAX];    /* the key tcpserver would find it by (for static denies) */
	size_t matchlen;
	bool net64;                     /* the entry stands for a whole /64 */
	bool tcpserver;                 /* tcpserver can use the record (false: osd alone) */
};

/*
 * The entry a login from addr records: addr itself, or with ipv6_prefix
 * 64 its /64 (interface identifier zero) when tcpserver can express that
 * /64 as one prefix key, i.e. none of its first four groups is zero.
 * Otherwise the single address, so a login never authorizes more than
 * the key can say.
 */
void relaykey_entry_addr(const struct ipaddr *addr, unsigned ipv6_prefix,
			 struct ipaddr *entry_r);

/*
 * The record for entry (an address read from open-smtp/): with
 * ipv6_prefix 64, a /64 entry (see relaykey_entry_addr) gets the prefix
 * key "g0:g1:g2:g3:", which tcpserver matches for exactly the addresses
 * of that /64; any other entry gets its exact key.
 */
void relaykey_for(const struct ipaddr *entry, unsigned ipv6_prefix, struct relaykey *k_r);

#endif
