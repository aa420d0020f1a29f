/* fleetmsg.h - fleet mode: the text of a login shared through Redis (key, value, channel message), and the checks on what comes back. */
#ifndef OSD_FLEETMSG_H
#define OSD_FLEETMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "opensmtp_user.h"

/*
 * A login as the fleet shares it (docs/fleet.md):
 *   key      PREFIX ":relay:" ADDRESS          value  LOGIN_MS [" " USER]
 *   channel  PREFIX ":logins"                  message ADDRESS " " LOGIN_MS [" " USER]
 * ADDRESS is the entry's canonical name (opensmtp_name_to_addr), LOGIN_MS
 * the login time in milliseconds since the epoch (decimal, no sign), USER
 * a storable login name (opensmtp_user_valid) or absent.
 */
struct fleet_login {
	struct ipaddr addr;
	int64_t login_ms;
	char user[OPENSMTP_USER_MAX + 1];       /* "" when the login names no one */
};

/* Room for any key, value or message this module writes (with its NUL). */
#define FLEET_MSG_MAX (128 + IPADDR_TEXT_MAX + 1 + 20 + 1 + OPENSMTP_USER_MAX + 1)

/*
 * The watcher's word on its link to Redis, in state_dir, for osd status:
 * "state up|cut-off\nsince EPOCH\npeer HOST:PORT\nwhy TEXT\n" (replaced
 * whole at every change; "why" only when cut off).
 */
#define FLEET_STATUS_FILE "fleet.status"

/* A remote login time may be ahead of our clock by this much (clock skew between hosts). */
#define FLEET_CLOCK_SKEW_MS 1000

/* Is prefix usable: 1..63 bytes of letters, digits, '_', '-', '.', '/' (no ':', '*', '?', '[')? */
bool fleet_prefix_valid(const char *prefix);

/* PREFIX ":relay:" ADDRESS into out.  Returns its length, or -1 if it does not fit. */
int fleet_key(const char *prefix, const struct ipaddr *addr, char *out, size_t size);

/* PREFIX ":relay:*", the SCAN pattern of every key; length or -1. */
int fleet_key_pattern(const char *prefix, char *out, size_t size);

/* PREFIX ":logins"; length or -1. */
int fleet_channel(const char *prefix, char *out, size_t size);

/* The key's value for l; length or -1. */
int fleet_value(const struct fleet_login *l, char *out, size_t size);

/* The channel message for l; length or -1. */
int fleet_message(const struct fleet_login *l, char *out, size_t size);

/* Why a login from Redis was refused. */
enum fleet_verdict {
	FLEET_OK,
	FLEET_BAD_SYNTAX,       /* not our format, or the key is not under PREFIX:relay: */
	FLEET_BAD_ADDRESS,      /* not a canonical client address */
	FLEET_BAD_USER,         /* a login name osd would never store */
	FLEET_FUTURE,           /* later than now + FLEET_CLOCK_SKEW_MS */
	FLEET_EXPIRED,          /* older than relay_expire: authorizes nothing */
};

/* The verdict in words, for the log. */
const char *fleet_verdict_text(enum fleet_verdict v);

/*
 * Parse a key and its value (from SCAN and GET) of len bytes each (Redis
 * strings may hold NULs: they are refused), and check the login at now_ms
 * with relay_expire seconds: FLEET_OK with *l_r filled, or why not.
 */
enum fleet_verdict fleet_parse_key_value(const char *prefix, const char *key, size_t keylen,
					 const char *value, size_t valuelen, int64_t now_ms,
					 long relay_expire, struct fleet_login *l_r);

/* The same for a channel message. */
enum fleet_verdict fleet_parse_message(const char *msg, size_t len, int64_t now_ms, long relay_expire,
				       struct fleet_login *l_r);

/* Check a login (parsed or about to be published) at now_ms: FLEET_OK, FUTURE or EXPIRED. */
enum fleet_verdict fleet_check_time(const struct fleet_login *l, int64_t now_ms, long relay_expire);

/*
 * A revocation (osd revoke) as the fleet shares it (docs/fleet.md): every
 * login of the address (or of the user) made at or before REVOKE_MS is
 * void on every host; a later login stands.
 *   tombstone  PREFIX ":relay:revoked:" ADDRESS          value  REVOKE_MS
 *              PREFIX ":relay:revoked-user:" USER         value  REVOKE_MS
 *   message    "revoke " ADDRESS " " REVOKE_MS   or   "revoke-user " USER " " REVOKE_MS
 * A tombstone lives until REVOKE_MS + relay_expire (when every login it
 * voids has expired anyway).  A watcher of before revocation refuses the
 * message and the tombstone keys as not its format: it never authorizes
 * from them.
 */
struct fleet_revocation {
	bool by_user;                           /* user, else addr */
	struct ipaddr addr;
	char user[OPENSMTP_USER_MAX + 1];
	int64_t revoke_ms;
};

/* The tombstone key of rv; length or -1. */
int fleet_tombstone_key(const char *prefix, const struct fleet_revocation *rv, char *out, size_t size);

/* The channel message of rv; length or -1. */
int fleet_revocation_message(const struct fleet_revocation *rv, char *out, size_t size);

/* Is this channel message (len bytes) a revocation rather than a login? */
bool fleet_message_is_revocation(const char *msg, size_t len);

/* Is this key (keylen bytes) a tombstone under prefix rather than a login? */
bool fleet_key_is_tombstone(const char *prefix, const char *key, size_t keylen);

/*
 * Parse a revocation message, or a tombstone key and its value, and check
 * its time at now_ms: FLEET_OK with *rv_r filled, FLEET_FUTURE (later than
 * now + FLEET_CLOCK_SKEW_MS), FLEET_EXPIRED (every login it could void has
 * expired), or a syntax verdict.
 */
enum fleet_verdict fleet_parse_revocation(const char *msg, size_t len, int64_t now_ms,
					  long relay_expire, struct fleet_revocation *rv_r);
enum fleet_verdict fleet_parse_tombstone(const char *prefix, const char *key, size_t keylen,
					 const char *value, size_t valuelen, int64_t now_ms,
					 long relay_expire, struct fleet_revocation *rv_r);

/* Does rv void l (the same address or user, and a login at or before the revocation)? */
bool fleet_revocation_voids(const struct fleet_revocation *rv, const struct fleet_login *l);

#endif
