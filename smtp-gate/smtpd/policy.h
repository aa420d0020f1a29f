/* policy.h - who may send what to whom: rcpthosts, badmailfrom, local recipients, relay tricks. */
#ifndef OSD_SMTP_POLICY_H
#define OSD_SMTP_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"

struct policy;

/*
 * Read the control files a session needs (rcpthosts, morercpthosts or
 * morercpthosts.cdb, badmailfrom) from control_dir, afresh: smtpd calls
 * this once per connection, so edits take effect for the next one with no
 * restart.  users_dir holds the virtual domains (domains/DOMAIN/vpasswd).
 * Returns NULL with err when a file exists but cannot be read or parsed.
 */
struct policy *policy_load(const char *control_dir, const char *users_dir, char *err,
			   size_t errsize);
void policy_free(struct policy *p);

/* True when sender (an address, or "" for <>) is listed in badmailfrom (address or "@domain"). */
bool policy_badmailfrom(const struct policy *p, const char *sender);

enum policy_rcpt {
	POLICY_RCPT_LOCAL,              /* a user of a virtual domain here: deliver locally */
	POLICY_RCPT_RCPTHOSTS,          /* the domain is in rcpthosts/morercpthosts (not a virtual domain here) */
	POLICY_RCPT_RELAY,              /* a remote domain, and the client may relay */
	POLICY_RCPT_NOT_LOCAL,          /* 553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1) */
	POLICY_RCPT_RELAY_TRICK,        /* 553: %, !, quoted @, source route or literal from a non-relay client */
	POLICY_RCPT_UNKNOWN_USER,       /* 550 5.1.1 no such user in a virtual domain here */
	POLICY_RCPT_TEMPFAIL            /* 451: vpasswd could not be read */
};

/*
 * Decide one recipient.  may_relay: the client's rule set RELAYCLIENT or
 * it authenticated.  A domain is ours when it is in rcpthosts (exact, or
 * ".example.com" for every subdomain), in morercpthosts, or has a folder
 * in users_dir; for a folder domain the user must exist in its vpasswd
 * (also for a relaying client: no bounce to a forged sender).  A missing
 * rcpthosts is an empty list, never "accept everything" as in qmail.
 * err (for the log) says why on TEMPFAIL.
 */
enum policy_rcpt policy_check_rcpt(const struct policy *p, const struct smtp_path *rcpt,
				   bool may_relay, char *err, size_t errsize);

#endif
