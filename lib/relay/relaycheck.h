/* relaycheck.h - the relay decision for one client address, as osd check and smtp-gate make it. */
#ifndef OSD_RELAYCHECK_H
#define OSD_RELAYCHECK_H

#include <stdbool.h>
#include <time.h>

#include "ipaddr.h"
#include "opensmtp_user.h"
#include "relaydb.h"
#include "rules.h"

/* Where the relay state lives, and how to read it. */
struct relay_state {
	const char *cdb_path;           /* relay.cdb */
	struct rules *statics;          /* the parsed rules file (tcp.smtp); NULL: none */
	int opensmtp_dirfd;             /* open-smtp/; -1: no login counts */
	long relay_expire;              /* seconds */
	unsigned ipv6_prefix;           /* relay_ipv6_prefix: 128 or 64 */
};

struct relay_decision {
	struct relaydb_result rule;     /* the rule that decided (matched = false: none) */
	bool connect;                   /* false: a deny rule refuses the connection */
	bool relay;                     /* may relay to any recipient */
	bool dynamic;                   /* the rule is this client's own live login entry */
	bool stale;                     /* its login entry is expired, not yet out of relay.cdb */
	bool orphan;                    /* relay.cdb has its login record but open-smtp/ no file */
	struct timespec login;          /* dynamic or stale: the last login (the file's mtime) */
	time_t expires;                 /* dynamic or stale: when the entry expires */
	char user[OPENSMTP_USER_MAX + 1]; /* dynamic or stale: who logged in last ("": not known) */
};

/*
 * Decide for addr as tcpserver would on relay.cdb, with three checks
 * tcpserver cannot make:
 *  - a record is static when its key is in the parsed rules file, never
 *    because a file is missing;
 *  - any other record is a login entry and counts only when it is this
 *    client's own (its exact address, or its /64 with ipv6_prefix 64, as
 *    relaykey.h defines), so an entry never authorizes another address;
 *  - and only while its file in open-smtp/ exists and is younger than
 *    relay_expire, so a removed or expired entry never relays, whatever
 *    relay.cdb still says.
 * Returns 0, or -1 with errno when relay.cdb cannot be read (a missing
 * relay.cdb is an empty table).
 */
int relay_decide(const struct relay_state *st, const struct ipaddr *addr,
		 struct relay_decision *d);

#endif
