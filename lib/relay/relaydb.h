/* relaydb.h - relay.cdb: writing it as tcprules does, and looking up as tcpserver does. */
#ifndef OSD_RELAYDB_H
#define OSD_RELAYDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "rules.h"

/* The value every live open-smtp entry gets: allow,RELAYCLIENT="" */
#define RELAYDB_DYNAMIC_VALUE "+RELAYCLIENT=\0"
#define RELAYDB_DYNAMIC_VALUE_LEN 14

/* Most environment variables one rule may set. */
#define RELAYDB_ENV_MAX 32

struct relaydb_env {
	char name[64];
	char value[1024];
};

struct relaydb_result {
	bool matched;           /* false: no rule at all (tcpserver then allows) */
	bool allow;             /* deny rules refuse the connection */
	char key[IPADDR_TEXT_MAX + 2];  /* the rule that matched ("" = default) */
	unsigned nrecords;      /* records under that key (the first one counts) */
	size_t env_count;
	struct relaydb_env env[RELAYDB_ENV_MAX];
};

/* What the live open-smtp entries get in the table. */
struct relaydb_dynamic {
	const char *value;      /* relay_env in tcprules value format (RELAYDB_DYNAMIC_VALUE by default) */
	size_t valuelen;
	unsigned ipv6_prefix;   /* relay_ipv6_prefix: 128 or 64 (see relaykey.h) */
};

/*
 * Callback that yields the live entries' addresses one by one: fill
 * *entry_r and return 1, or return 0 when there are no more, -1 on error.
 */
typedef int relaydb_next_fn(void *ctx, struct ipaddr *entry_r);

/*
 * Write path atomically: the static records in order, then one record
 * with dyn's value per entry next() yields, under the key relaykey_for
 * gives (never a key that is a prefix of another address's), except
 * entries that a static deny rule for the address or one of its
 * prefixes covers: an administrator's deny stays a deny whoever logs in
 * (the default rule does not count, so ":deny" setups still let
 * logged-in users relay).  fsync as configured.  Returns the number of
 * records written, or -1 with errno.
 */
long relaydb_write(const char *path, struct rules *statics, const struct relaydb_dynamic *dyn,
		   relaydb_next_fn *next, void *ctx, bool do_fsync);

/*
 * One live entry's record in relay.cdb, worked out once (relaydb_rec_for):
 * the watcher keeps it with the entry, so a rewrite neither formats nor
 * hashes 100k keys again.  It depends on the entry, on dyn's ipv6_prefix
 * and on the static rules (a deny leaves it out), not on dyn's value.
 */
struct relaydb_rec {
	uint32_t hash;                  /* cdbbuild_hash of key */
	uint8_t keylen;
	bool left_out;                  /* a static deny covers it: not written */
	char key[IPADDR_TEXT_MAX];      /* relaykey_for's key, not NUL-terminated */
};

/* The record of entry under the static rules and dyn (NULL: the default). */
void relaydb_rec_for(struct rules *statics, const struct relaydb_dynamic *dyn, const struct ipaddr *entry,
		     struct relaydb_rec *rec_r);

/* Yields the live entries' records one by one: 1 with *rec_r set, 0 at the end, -1 on error. */
typedef int relaydb_next_rec_fn(void *ctx, const struct relaydb_rec **rec_r);

struct cdbbuild;

/*
 * relaydb_write from records made beforehand, built in b (kept by the
 * caller between rewrites: no allocation once it is large enough) and
 * written out as it is built, through b's 1 MiB buffer (one write() for a
 * file that fits).  The bytes are exactly those tinycdb's cdb_make gives
 * for the same records in the same order.  sync: the atomicfile_commit_how
 * steps (ATOMICFILE_SYNC_*; 0: none).
 */
long relaydb_write_recs(struct cdbbuild *b, const char *path, struct rules *statics,
			const struct relaydb_dynamic *dyn, relaydb_next_rec_fn *next, void *ctx,
			int sync);

/* The default dynamic record: RELAYDB_DYNAMIC_VALUE, one address per login. */
extern const struct relaydb_dynamic relaydb_dynamic_default;

/*
 * Look addr up in an open relay.cdb the way tcpserver -x does with no
 * remote host name and no remote info: the exact address, then each
 * shorter prefix that ends in '.' or ':', then the empty default key.
 * Returns 0 (result filled), or -1 with errno on a read error or a
 * malformed value.
 */
int relaydb_lookup_fd(int fd, const struct ipaddr *addr, struct relaydb_result *res);

/* The same, opening path; a missing file is "no rule" (matched = false). */
int relaydb_lookup(const char *path, const struct ipaddr *addr, struct relaydb_result *res);

struct cdb;

/*
 * The first record under exactly key in an open table (no prefixes, no
 * default): 1 with res filled (nrecords: how many records the key has),
 * 0 when there is none, -1 on a read error or a malformed value.
 */
int relaydb_find(struct cdb *c, const char *key, size_t keylen, struct relaydb_result *res);

/* The value of an environment variable the rule sets, or NULL. */
const char *relaydb_getenv(const struct relaydb_result *res, const char *name);

/*
 * Decode a tcprules value ("D\0" deny, "+VAR=value\0" set) into res.
 * Returns 0, or -1 (errno = EINVAL) when it is malformed.
 */
int relaydb_decode_value(const char *value, size_t len, struct relaydb_result *res);

#endif
