/* relaykey.c - login entries to relay.cdb keys that authorize no other address. */
#include "relaykey.h"

#include <string.h>
#include <sys/socket.h>

/* Can tcpserver express addr's /64 as one prefix?  Only without a zero group in it. */
static bool
net64_expressible(const struct ipaddr *addr)
{
	if (addr->family != AF_INET6)
		return false;
	for (int g = 0; g < 4; g++)
		if (addr->bytes[2 * g] == 0 && addr->bytes[2 * g + 1] == 0)
			return false;
	return true;
}

static bool
interface_id_zero(const struct ipaddr *addr)
{
	static const uint8_t zero[8];

	return memcmp(addr->bytes + 8, zero, sizeof zero) == 0;
}

void
relaykey_entry_addr(const struct ipaddr *addr, unsigned ipv6_prefix,
		    struct ipaddr *entry_r)
{
	*entry_r = *addr;
	if (ipv6_prefix == RELAYKEY_PREFIX_NET64 && net64_expressible(addr))
		memset(entry_r->bytes + 8, 0, 8);
}

void
relaykey_for(const struct ipaddr *entry, unsigned ipv6_prefix, struct relaykey *k)
{
	memset(k, 0, sizeof *k);
	k->matchlen = ipaddr_format_key(entry, k->match);
	k->tcpserver = true;
	if (ipv6_prefix == RELAYKEY_PREFIX_NET64 && net64_expressible(entry) &&
	    interface_id_zero(entry)) {
		/* "g0:g1:g2:g3::" less its last ':' is the prefix every
		 * address of the /64 starts with in tcpserver's text. */
		k->matchlen--;
		k->match[k->matchlen] = '\0';
		k->net64 = true;
	}
	if (!k->net64 && k->matchlen > 0 && k->match[k->matchlen - 1] == ':') {
		k->keylen = ipaddr_format_expanded(entry, k->key);
		k->tcpserver = false;
		return;
	}
	memcpy(k->key, k->match, k->matchlen + 1);
	k->keylen = k->matchlen;
}
