/* relaycheck.h - the relay decision for one client address, as osd check and smtp-gate make it. */
#ifndef OSD_RELAYCHECK_H
#define OSD_RELAYCHECK_H

#include <stdbool.h>
#include <time.h>

#include "ipaddr.h"
#include "relaydb.h"

struct relay_decision {
	struct relaydb_result rule;     /* what relay.cdb says */
	bool connect;                   /* false: a deny rule refuses the connection */
	bool relay;                     /* may relay to any recipient */
	bool dynamic;                   /* the rule is a POP-before-SMTP entry */
	bool stale;                     /* dynamic, expired, not yet out of relay.cdb */
	struct timespec login;          /* dynamic: the last login (the file's mtime) */
	time_t expires;                 /* dynamic: when the entry expires */
};

/*
 * Decide for addr: look it up in relay.cdb (tcpserver semantics); when
 * the rule is the address's own open-smtp entry, check the entry's mtime
 * too, so an expired entry never grants relay even if the watcher has
 * not removed it yet.  opensmtp_dirfd may be -1 (no cross-check).
 * Returns 0, or -1 with errno when relay.cdb cannot be read.
 */
int relay_decide(const char *cdb_path, int opensmtp_dirfd, long relay_expire,
		 const struct ipaddr *addr, struct relay_decision *d);

#endif
