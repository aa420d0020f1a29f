/* relaycheck.c - combine the rules file, relay.cdb and open-smtp/ into one relay decision. */
#include "relaycheck.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdclose.h"
#include "opensmtp.h"
#include "relaykey.h"
#include "timecalc.h"

/* One login entry that could authorize the client: its record key and its file. */
struct candidate {
	struct relaykey key;
	char file[IPADDR_TEXT_MAX];
};

/* The client's own entries, most specific first: its address, then its /64. */
static size_t
own_candidates(const struct ipaddr *addr, unsigned ipv6_prefix,
	       struct candidate c[2])
{
	struct ipaddr net;
	size_t n = 0;

	relaykey_for(addr, ipv6_prefix, &c[n].key);
	ipaddr_format(addr, c[n].file);
	n++;
	relaykey_entry_addr(addr, ipv6_prefix, &net);
	if (!ipaddr_equal(&net, addr)) {
		relaykey_for(&net, ipv6_prefix, &c[n].key);
		ipaddr_format(&net, c[n].file);
		n++;
	}
	return n;
}

static void
decide_from(struct relay_decision *d)
{
	d->connect = d->rule.allow;
	d->relay = d->rule.allow && relaydb_getenv(&d->rule, "RELAYCLIENT") != NULL;
}

/*
 * Is candidate c a live login of its own?  1 and d filled, 0 when not
 * (d may note a stale or orphan record), -1 on a table error.
 */
static int
try_login(const struct relay_state *st, struct cdb *c, const struct candidate *cand,
	  struct relay_decision *d)
{
	struct relaydb_result rec;
	struct timespec now;
	struct stat sb;
	int r;

	/* A key that is in the rules file is the administrator's, not a login. */
	if (st->statics != NULL && rules_find(st->statics, cand->key.key, cand->key.keylen) != NULL)
		return 0;
	memset(&rec, 0, sizeof rec);
	if ((r = relaydb_find(c, cand->key.key, cand->key.keylen, &rec)) <= 0)
		return r;
	if (fstatat(st->opensmtp_dirfd, cand->file, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode)) {
		d->orphan = true;
		return 0;
	}
	d->login = sb.st_mtim;
	d->expires = time_add(sb.st_mtim.tv_sec, st->relay_expire);
	/* Who is behind it, for the logs and the Received: header only: the
	 * decision never depends on it. */
	if (opensmtp_user_get(st->opensmtp_dirfd, cand->file, &sb, -1, d->user, sizeof d->user) != 1)
		d->user[0] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	if (opensmtp_is_expired(&sb.st_mtim, st->relay_expire, &now)) {
		d->stale = true;
		return 0;
	}
	d->rule = rec;
	d->dynamic = true;
	d->stale = d->orphan = false;
	decide_from(d);
	return 1;
}

int
relay_decide(const struct relay_state *st, const struct ipaddr *addr,
	     struct relay_decision *d)
{
	const struct rule_record *stat_rule = NULL;
	struct candidate cand[2];
	char key[IPADDR_TEXT_MAX];
	size_t keylen = ipaddr_format_key(addr, key), n;
	int fd = -1, r = 0, saved;
	struct cdb c;

	memset(d, 0, sizeof *d);
	d->rule.allow = true;   /* tcpserver allows when no rule matches */
	if (st->statics != NULL)
		stat_rule = rules_match(st->statics, key, keylen);
	/* A static deny for the address or a prefix of it beats any login (relaydb_write leaves such logins out). */
	if (stat_rule != NULL && stat_rule->keylen > 0 && rules_record_is_deny(stat_rule))
		goto static_rule;
	if (st->opensmtp_dirfd >= 0) {
		fd = open(st->cdb_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return -1;
	}
	if (fd >= 0) {
		if (cdb_init(&c, fd) < 0) {
			return close_keep_errno(fd);
		}
		n = own_candidates(addr, st->ipv6_prefix, cand);
		for (size_t i = 0; i < n && r == 0; i++) {
			/* As in tcpserver, the longer key wins: a static rule at
			 * least as specific as this entry comes first. */
			if (stat_rule != NULL && stat_rule->keylen >= cand[i].key.matchlen)
				break;
			r = try_login(st, &c, &cand[i], d);
		}
		saved = errno;
		cdb_free(&c);
		close(fd);
		errno = saved;
		if (r < 0) {
			errno = EINVAL;
			return -1;
		}
		if (r > 0)
			return 0;
	}
static_rule:
	if (stat_rule == NULL) {
		d->connect = true;      /* no rule: tcpserver lets it connect, no relay */
		return 0;
	}
	if (relaydb_decode_value(stat_rule->value, stat_rule->valuelen, &d->rule) < 0)
		return -1;
	d->rule.matched = true;
	d->rule.nrecords = 1;
	/* rules_match only finds the client's key, its prefixes or "": it fits. */
	snprintf(d->rule.key, sizeof d->rule.key, "%.*s", (int)stat_rule->keylen, stat_rule->key);
	decide_from(d);
	return 0;
}
