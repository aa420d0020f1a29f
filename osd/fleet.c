/* fleet.c - fleet mode in the watcher: two hiredis async connections (commands, subscription) driven by the watcher's poll loop. */
#include "fleet.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomicfile.h"
#include "ipaddr.h"
#include "log.h"
#include "path.h"
#include "xmalloc.h"

/* Reconnect back-off: first retry, and the longest wait between tries. */
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
/*
 * A PING every PING_MS on the command connection; cut off when it has no
 * answer in DEAD_MS and no byte came on that connection meanwhile:
 * behind a reconnect's republication and resync the PING waits its turn
 * for seconds on a busy host (which reads 16 KB a turn of its loop: a
 * long MGET reply takes several), while the replies before it show the
 * link alive.
 */
#define PING_MS 1000
#define DEAD_MS 3000
/* Commands queued but unsent beyond this: Redis is not keeping up; drop and resync. */
#define OBUF_MAX (8u << 20)
/*
 * Above this much unsent, logins wait in the backlog instead: at a
 * reconnect the watcher publishes every live entry at once (25,000 of
 * them are ~20 MB of EVALs), which must flow out as Redis takes them, not
 * trip OBUF_MAX.  The backlog holds at most BACKLOG_MAX logins (Redis does
 * not keep up beyond that: drop and resync).
 */
#define OBUF_PACE (1u << 20)
#define BACKLOG_MAX (4u << 20)
/* A Sentinel that does not answer within this is skipped (asked on the poll loop: nothing waits). */
#define SENTINEL_TIMEOUT_MS 300
/* Keys per SCAN step (and per MGET). */
#define SCAN_COUNT "1000"

/*
 * Set the key only when it holds no later login, and announce the login:
 * one atomic step, so a login published late (after a reconnect) never
 * shortens a newer one's TTL, and a login published again is a no-op (the
 * same time with a login name learnt since is not: the watcher may see a
 * touch before the recorder stored the name).
 * KEYS[1] key; ARGV: login ms, value, expiry ms (PXAT), channel, message.
 */
static const char publish_script[] =
	"local cur = redis.call('GET', KEYS[1]) "
	"if cur == ARGV[2] then return 0 end "
	"if cur then local t = tonumber(string.match(cur, '^%d+')) "
	"if t and t > tonumber(ARGV[1]) then return 0 end end "
	/* KEYS[2] (and KEYS[3]): the address's (and the user's) tombstone:
	 * a login revoked in Redis is never set again, even by a host that
	 * was cut off when the revocation went out. */
	"for i = 2, #KEYS do local r = tonumber(redis.call('GET', KEYS[i]) or '') "
	"if r and r >= tonumber(ARGV[1]) then return 0 end end "
	"redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3]) "
	"redis.call('PUBLISH', ARGV[4], ARGV[5]) "
	"return 1";

/*
 * A revocation (osd revoke), one atomic step: delete the login keys it
 * voids (login at or before it; with a user, only that user's), set the
 * tombstone (unless a later one is there), then announce it.  Whoever
 * reads Redis after this step finds no voided key; whoever read one
 * before gets the message afterwards (docs/fleet.md, "Revocation").
 * KEYS[1] tombstone, KEYS[2..] login keys; ARGV: revoke ms, tombstone
 * expiry ms (PXAT), channel, message, user or "".  Returns keys deleted.
 */
static const char revoke_script[] =
	"local r = tonumber(ARGV[1]) local n = 0 "
	"for i = 2, #KEYS do local cur = redis.call('GET', KEYS[i]) "
	"if cur then local t = tonumber(string.match(cur, '^%d+')) "
	"local u = string.match(cur, '^%d+ (.+)$') "
	"if (t == nil or t <= r) and (ARGV[5] == '' or u == ARGV[5]) then "
	"redis.call('DEL', KEYS[i]) n = n + 1 end end end "
	"local old = tonumber(redis.call('GET', KEYS[1]) or '') "
	"if not old or old < r then redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2]) end "
	"redis.call('PUBLISH', ARGV[3], ARGV[4]) "
	"return n";

struct fleet;

struct conn {
	struct fleet *f;
	const char *what;               /* "commands" or "subscription", for the log */
	redisAsyncContext *ac;          /* NULL: not connected */
	bool want_read, want_write;
};

struct fleet {
	struct fleet_hooks hooks;
	long relay_expire;
	char prefix[64];
	char channel[128];
	char pattern[128];
	char sentinels[512];
	char master_name[128];
	char server[256];
	char user[128];
	char password[512];
	char password_file[PATH_MAX];
	struct conn pub, sub;
	bool pub_ok, sub_ok;            /* AUTH and first PING answered; subscribed */
	bool up;                        /* both: logins flow */
	bool broken;                    /* tear down after this round of I/O */
	bool said_cut_off;              /* logged for this outage */
	char peer[300];                 /* host:port connected to */
	long backoff_ms;
	int64_t next_try_ms;            /* monotonic; when down */
	int64_t ping_sent_ms;           /* an unanswered PING since then, or 0 */
	int64_t pub_heard_ms;           /* bytes last came on the command connection */
	int64_t next_ping_ms;
	bool asking;                    /* pub is a connection to Sentinel number sentinel_i */
	bool ask_done;                  /* ... which answered (master_port set if it named one) or failed */
	int sentinel_i;
	int64_t ask_deadline_ms;
	char master_host[256];
	int master_port;                /* what the Sentinel named; 0: nothing */
	unsigned long resync_mirrored, resync_refused;
	bool resyncing;                 /* from the first SCAN to the PING behind the last MGET */
	char status_path[PATH_MAX];     /* state_dir/FLEET_STATUS_FILE */
	/* Revocations heard, until every login they void has expired: a
	 * login read before a revocation but handled after it (two
	 * connections, no order between them) is refused by them. */
	struct fleet_revocation *revoked;
	size_t n_revoked, cap_revoked;
	/* Logins waiting for room under OBUF_PACE, oldest at backlog_head. */
	struct backlogged {
		struct ipaddr addr;
		int64_t login_ms;
		char *user;     /* NULL: none */
	} *backlog;
	size_t backlog_head, backlog_n, backlog_cap;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "host:port" or "[v6]:port" into host and port; -1 when malformed. */
static int
split_host_port(const char *spec, size_t len, char *host, size_t hostsize, int *port_r)
{
	const char *colon;
	char buf[300], *end;
	long port;

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, spec, len);
	buf[len] = '\0';
	colon = strrchr(buf, ':');
	if (colon == NULL || colon == buf)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port < 1 || port > 65535 || colon[1] == '\0')
		return -1;
	if (buf[0] == '[') {
		if (colon[-1] != ']' || (size_t)(colon - buf - 2) >= hostsize)
			return -1;
		memcpy(host, buf + 1, (size_t)(colon - buf - 2));
		host[colon - buf - 2] = '\0';
	} else {
		if ((size_t)(colon - buf) >= hostsize)
			return -1;
		memcpy(host, buf, (size_t)(colon - buf));
		host[colon - buf] = '\0';
	}
	*port_r = (int)port;
	return 0;
}

/* The password: the first line of file.  0, or -1 with why in err. */
static int
read_password(const char *file, char *out, size_t size, char *err, size_t errsize)
{
	FILE *fp = fopen(file, "re");
	size_t n;

	if (fp == NULL) {
		snprintf(err, errsize, "redis_password_file %s: %s", file, strerror(errno));
		return -1;
	}
	if (fgets(out, (int)size, fp) == NULL)
		out[0] = '\0';
	fclose(fp);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	if (n == 0) {
		snprintf(err, errsize, "redis_password_file %s: no password on its first line", file);
		return -1;
	}
	return 0;
}

/* Copy src into a field of size; false when it does not fit. */
static bool
fits(char *dst, size_t size, const char *src)
{
	return snprintf(dst, size, "%s", src) < (int)size;
}

/*
 * The fleet conf asks for (fleet = redis), checked, not connected; NULL
 * with why in err.  A password file that cannot be read (osd watch
 * reloading after dropping privileges) while old used the same one: old's
 * password is kept.
 */
static struct fleet *
fleet_create(const struct osd_conf *conf, const struct fleet_hooks *hooks, const struct fleet *old,
	     char *err, size_t errsize)
{
	struct fleet *f;
	char host[256];
	int port;

	if (!fleet_prefix_valid(conf->redis_prefix)) {
		snprintf(err, errsize, "redis_prefix '%s': 1 to 63 letters, digits, '_', '-', '.', '/'",
			 conf->redis_prefix);
		return NULL;
	}
	f = xcalloc(1, sizeof *f);
	f->hooks = *hooks;
	f->relay_expire = conf->relay_expire;
	if (!fits(f->prefix, sizeof f->prefix, conf->redis_prefix) ||
	    fleet_channel(f->prefix, f->channel, sizeof f->channel) < 0 ||
	    fleet_key_pattern(f->prefix, f->pattern, sizeof f->pattern) < 0 ||
	    !fits(f->sentinels, sizeof f->sentinels, conf->redis_sentinels) ||
	    !fits(f->master_name, sizeof f->master_name, conf->redis_master_name) ||
	    !fits(f->server, sizeof f->server, conf->redis_server) ||
	    !fits(f->user, sizeof f->user, conf->redis_user) ||
	    !fits(f->password_file, sizeof f->password_file, conf->redis_password_file) ||
	    path_join(f->status_path, sizeof f->status_path, conf->state_dir, FLEET_STATUS_FILE) < 0) {
		snprintf(err, errsize, "a redis_ setting or state_dir is too long");
		goto fail;
	}
	if (f->sentinels[0] == '\0' &&
	    split_host_port(f->server, strlen(f->server), host, sizeof host, &port) < 0) {
		snprintf(err, errsize, "redis_server '%s': want host:port", f->server);
		goto fail;
	}
	if (f->password_file[0] != '\0' &&
	    read_password(f->password_file, f->password, sizeof f->password, err, errsize) < 0) {
		if (old == NULL || strcmp(old->password_file, f->password_file) != 0)
			goto fail;
		log_info("fleet: %s; keeping the password read before", err);
		memcpy(f->password, old->password, sizeof f->password);
	}
	f->pub = (struct conn){ .f = f, .what = "commands" };
	f->sub = (struct conn){ .f = f, .what = "subscription" };
	f->backoff_ms = BACKOFF_MIN_MS;
	f->next_try_ms = mono_ms();     /* connect at the first fleet_handle */
	return f;
fail:
	explicit_bzero(f->password, sizeof f->password);
	free(f);
	return NULL;
}

struct fleet *
fleet_new(const struct osd_conf *conf, const struct fleet_hooks *hooks)
{
	struct fleet *f;
	char err[PATH_MAX + 256];

	if (strcmp(conf->fleet, "redis") != 0)
		return NULL;
	f = fleet_create(conf, hooks, NULL, err, sizeof err);
	if (f == NULL)
		fatalx("fleet: %s", err);
	return f;
}

void
fleet_set_expire(struct fleet *f, long relay_expire)
{
	if (f != NULL)
		f->relay_expire = relay_expire;
}

bool
fleet_up(const struct fleet *f)
{
	return f != NULL && f->up;
}

bool
fleet_resyncing(const struct fleet *f)
{
	return f != NULL && f->resyncing;
}

/* The poll "event library" hiredis drives (its adapters' job). */
static void
ev_add_read(void *p)
{
	((struct conn *)p)->want_read = true;
}

static void
ev_del_read(void *p)
{
	((struct conn *)p)->want_read = false;
}

static void
ev_add_write(void *p)
{
	((struct conn *)p)->want_write = true;
}

static void
ev_del_write(void *p)
{
	((struct conn *)p)->want_write = false;
}

static void
ev_cleanup(void *p)
{
	struct conn *c = p;

	c->want_read = c->want_write = false;
}

/* Say how the link is in FLEET_STATUS_FILE (for osd status); why: NULL when up. */
static void
write_status(struct fleet *f, const char *why, const char *detail)
{
	struct atomicfile af;
	char text[1024];
	int n;

	n = snprintf(text, sizeof text, "state %s\nsince %lld\npeer %s\n%s%s%s%s%s", why ? "cut-off" : "up",
		     (long long)time(NULL), f->peer[0] ? f->peer : "-", why ? "why " : "", why ? why : "",
		     detail ? ": " : "", detail && why ? detail : "", why ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof text)
		n = (int)strlen(text);
	/* No fsync: after a crash the watcher writes it afresh. */
	if (atomicfile_open(&af, f->status_path, 0644) < 0 ||
	    atomicfile_write_commit(&af, text, (size_t)n, false) < 0)
		log_warn("fleet: cannot write %s", f->status_path);
}

/* Something failed: both connections go at the end of this round (never inside a hiredis callback). */
static void
set_broken(struct fleet *f, const char *why, const char *detail)
{
	if (!f->broken && !f->said_cut_off) {
		/* The file before the log line: who reads the log then asks osd status sees it. */
		write_status(f, why, detail);
		log_warnx("fleet: cut off from redis%s%s: %s%s%s; local logins still authorize locally",
			  f->peer[0] ? " at " : "", f->peer, why, detail ? ": " : "", detail ? detail : "");
		f->said_cut_off = true;
	}
	f->broken = true;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this, without on_disconnect. */
		c->ac = NULL;
		if (c->f->asking)
			c->f->ask_done = true;  /* that Sentinel is down: ask the next */
		else
			set_broken(c->f, "cannot connect", ac->errstr);
	}
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;

	(void)status;
	c->ac = NULL;
	if (c->f->asking)
		c->f->ask_done = true;
	else
		set_broken(c->f, "connection lost", ac->errstr[0] ? ac->errstr : c->what);
}

/* A reply that must not be an error (or NULL: the context is going away). */
static bool
reply_ok(struct fleet *f, const redisReply *r, const char *what)
{
	if (r == NULL) {
		set_broken(f, "no reply", what);
		return false;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* NOPERM (the ACL), READONLY (a replica since a failover), WRONGPASS... */
		set_broken(f, what, r->str);
		return false;
	}
	return true;
}

static void connected_check(struct fleet *f);

static void
on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct conn *c = ac->data;

	(void)privdata;
	(void)reply_ok(c->f, reply, "AUTH");
}

static void
on_ping(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct conn *c = ac->data;
	struct fleet *f = c->f;

	(void)privdata;
	if (!reply_ok(f, reply, "PING"))
		return;
	f->ping_sent_ms = 0;
	if (!f->pub_ok) {
		f->pub_ok = true;
		connected_check(f);
	}
}

static void
on_publish(redisAsyncContext *ac, void *reply, void *privdata)
{
	(void)privdata;
	(void)reply_ok(((struct conn *)ac->data)->f, reply, "publishing a login");
}

/* Does a revocation heard void l?  (Forgets those whose logins have all expired.) */
static bool
revoked(struct fleet *f, const struct fleet_login *l, int64_t now)
{
	bool voided = false;

	for (size_t i = 0; i < f->n_revoked;) {
		if (f->revoked[i].revoke_ms + (int64_t)f->relay_expire * 1000 <= now) {
			f->revoked[i] = f->revoked[--f->n_revoked];
			continue;
		}
		voided = voided || fleet_revocation_voids(&f->revoked[i], l);
		i++;
	}
	return voided;
}

/* Check and mirror one login from Redis (where from: for the log). */
static void
take_login(struct fleet *f, enum fleet_verdict v, const struct fleet_login *l, const char *text,
	   size_t len, const char *from)
{
	char shown[80];

	if (v != FLEET_OK) {
		/* Never trusted: a refused record authorizes nothing, and is named in the log. */
		snprintf(shown, sizeof shown, "%.*s", len > 60 ? 60 : (int)len, text);
		for (char *p = shown; *p; p++)
			if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f)
				*p = '?';
		if (v != FLEET_EXPIRED)
			log_warnx("fleet: refusing %s '%s': %s", from, shown, fleet_verdict_text(v));
		f->resync_refused++;
		return;
	}
	if (f->n_revoked > 0 && revoked(f, l, real_ms())) {
		/* Read before its revocation, handled after it: stays revoked. */
		log_debug("fleet: not mirroring %.*s: revoked", len > 60 ? 60 : (int)len, text);
		f->resync_refused++;
		return;
	}
	f->resync_mirrored++;
	f->hooks.mirror(f->hooks.ctx, l);
}

/* A revocation from Redis (message or tombstone): remember it, and let the watcher apply it. */
static void
take_revocation(struct fleet *f, enum fleet_verdict v, const struct fleet_revocation *rv,
		const char *text, size_t len)
{
	size_t i;

	if (v != FLEET_OK) {
		if (v != FLEET_EXPIRED)
			log_warnx("fleet: refusing a revocation '%.*s': %s", len > 60 ? 60 : (int)len,
				  text, fleet_verdict_text(v));
		return;
	}
	for (i = 0; i < f->n_revoked; i++) {
		const struct fleet_revocation *o = &f->revoked[i];

		if (o->by_user == rv->by_user &&
		    (rv->by_user ? strcmp(o->user, rv->user) == 0 : ipaddr_equal(&o->addr, &rv->addr)))
			break;
	}
	if (i == f->n_revoked) {
		if (f->n_revoked == f->cap_revoked) {
			f->cap_revoked = f->cap_revoked ? f->cap_revoked * 2 : 16;
			f->revoked = xreallocarray(f->revoked, f->cap_revoked, sizeof *f->revoked);
		}
		f->revoked[f->n_revoked++] = *rv;
	} else if (f->revoked[i].revoke_ms < rv->revoke_ms) {
		f->revoked[i] = *rv;
	} else {
		/*
		 * Applied when first heard (a resync reads its tombstone again):
		 * applying it again could take a copy of a later login made in
		 * the same second (copies have whole-second times).
		 */
		return;
	}
	if (f->hooks.revoke != NULL)
		f->hooks.revoke(f->hooks.ctx, rv);
}

static void
on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct conn *c = ac->data;
	struct fleet *f = c->f;
	const redisReply *r = reply;
	struct fleet_login l;

	(void)privdata;
	if (!reply_ok(f, r, "SUBSCRIBE"))
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		if (!f->sub_ok) {
			f->sub_ok = true;
			connected_check(f);
		}
		return;
	}
	if (strcmp(r->element[0]->str, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING)
		return;
	if (fleet_message_is_revocation(r->element[2]->str, r->element[2]->len)) {
		struct fleet_revocation rv;

		take_revocation(f, fleet_parse_revocation(r->element[2]->str, r->element[2]->len, real_ms(),
							  f->relay_expire, &rv),
				&rv, r->element[2]->str, r->element[2]->len);
		return;
	}
	take_login(f, fleet_parse_message(r->element[2]->str, r->element[2]->len, real_ms(),
					  f->relay_expire, &l),
		   &l, r->element[2]->str, r->element[2]->len, "a login message");
}

/* The keys of one SCAN step, for the MGET that reads their values. */
struct scan_batch {
	size_t n;
	char **keys;
	size_t *lens;
};

static void
batch_free(struct scan_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->keys[i]);
	free(b->keys);
	free(b->lens);
	free(b);
}

static void scan_step(struct fleet *f, const char *cursor);

static void
on_resync_done(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct fleet *f = ((struct conn *)ac->data)->f;

	(void)privdata;
	f->resyncing = false;
	if (reply_ok(f, reply, "PING"))
		log_info("fleet: resync from redis: %lu logins mirrored, %lu refused or expired",
			 f->resync_mirrored, f->resync_refused);
}

static void
on_mget(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct fleet *f = ((struct conn *)ac->data)->f;
	struct scan_batch *b = privdata;
	const redisReply *r = reply;
	struct fleet_login l;

	if (reply_ok(f, r, "MGET") && r->type == REDIS_REPLY_ARRAY && r->elements == b->n) {
		int64_t now = real_ms();

		for (size_t i = 0; i < b->n; i++) {
			const redisReply *v = r->element[i];

			if (v->type != REDIS_REPLY_STRING)
				continue;       /* expired or revoked since the SCAN */
			if (fleet_key_is_tombstone(f->prefix, b->keys[i], b->lens[i])) {
				struct fleet_revocation rv;

				take_revocation(f, fleet_parse_tombstone(f->prefix, b->keys[i], b->lens[i],
									 v->str, v->len, now, f->relay_expire,
									 &rv),
						&rv, b->keys[i], b->lens[i]);
				continue;
			}
			take_login(f, fleet_parse_key_value(f->prefix, b->keys[i], b->lens[i], v->str,
							    v->len, now, f->relay_expire, &l),
				   &l, b->keys[i], b->lens[i], "a key");
		}
	}
	batch_free(b);
}

static void
on_scan(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct fleet *f = ((struct conn *)ac->data)->f;
	const redisReply *r = reply, *keys;
	struct scan_batch *b;
	const char **argv;
	size_t *argl;

	(void)privdata;
	if (!reply_ok(f, r, "SCAN"))
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
		set_broken(f, "SCAN", "unexpected reply");
		return;
	}
	keys = r->element[1];
	if (keys->elements > 0) {
		b = xcalloc(1, sizeof *b);
		b->keys = xreallocarray(NULL, keys->elements, sizeof *b->keys);
		b->lens = xreallocarray(NULL, keys->elements, sizeof *b->lens);
		argv = xreallocarray(NULL, keys->elements + 1, sizeof *argv);
		argl = xreallocarray(NULL, keys->elements + 1, sizeof *argl);
		argv[0] = "MGET";
		argl[0] = 4;
		for (size_t i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];

			if (k->type != REDIS_REPLY_STRING)
				continue;
			b->keys[b->n] = xmalloc(k->len + 1);
			memcpy(b->keys[b->n], k->str, k->len + 1);
			b->lens[b->n] = k->len;
			argv[b->n + 1] = b->keys[b->n];
			argl[b->n + 1] = k->len;
			b->n++;
		}
		if (b->n == 0 || redisAsyncCommandArgv(f->pub.ac, on_mget, b, (int)b->n + 1, argv,
						       argl) != REDIS_OK)
			batch_free(b);
		free(argv);
		free(argl);
	}
	if (strcmp(r->element[0]->str, "0") != 0) {
		scan_step(f, r->element[0]->str);
		return;
	}
	/* The MGETs queued before this PING are answered before it. */
	redisAsyncCommand(f->pub.ac, on_resync_done, NULL, "PING");
}

static void
scan_step(struct fleet *f, const char *cursor)
{
	if (f->pub.ac == NULL)
		return;
	/* SCAN, never KEYS: Redis stays responsive to the rest of the fleet. */
	if (redisAsyncCommand(f->pub.ac, on_scan, NULL, "SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor,
			      f->pattern) != REDIS_OK)
		set_broken(f, "SCAN", "cannot queue");
}

/* Both connections are ready: resync from Redis, then publish ours. */
static void
connected_check(struct fleet *f)
{
	if (f->up || !f->pub_ok || !f->sub_ok)
		return;
	f->up = true;
	f->said_cut_off = false;
	f->backoff_ms = BACKOFF_MIN_MS;
	write_status(f, NULL, NULL);
	log_info("fleet: connected to redis at %s (prefix %s)", f->peer, f->prefix);
	f->resync_mirrored = f->resync_refused = 0;
	f->resyncing = true;
	scan_step(f, "0");
	f->hooks.connected(f->hooks.ctx);
}

/* A Sentinel's answer to SENTINEL get-master-addr-by-name: the master, or nothing. */
static void
on_sentinel(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct fleet *f = ((struct conn *)ac->data)->f;
	const redisReply *r = reply;

	(void)privdata;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
	    (size_t)snprintf(f->master_host, sizeof f->master_host, "%s", r->element[0]->str) <
		    sizeof f->master_host) {
		int port = atoi(r->element[1]->str);

		if (port >= 1 && port <= 65535)
			f->master_port = port;
	}
	f->ask_done = true;
}

/* Connect c to host:port (a Sentinel: without AUTH, and a failure only moves on to the next). */
static bool
conn_open(struct fleet *f, struct conn *c, const char *host, int port)
{
	c->ac = redisAsyncConnect(host, port);
	if (c->ac == NULL || c->ac->err) {
		if (f->asking)
			f->ask_done = true;
		else
			set_broken(f, "cannot connect", c->ac ? c->ac->errstr : "out of memory");
		if (c->ac != NULL)
			redisAsyncFree(c->ac);
		c->ac = NULL;
		return false;
	}
	c->ac->data = c;
	c->ac->ev.data = c;
	c->ac->ev.addRead = ev_add_read;
	c->ac->ev.delRead = ev_del_read;
	c->ac->ev.addWrite = ev_add_write;
	c->ac->ev.delWrite = ev_del_write;
	c->ac->ev.cleanup = ev_cleanup;
	c->want_read = false;
	c->want_write = true;   /* the connect completes when the socket is writable */
	redisAsyncSetConnectCallback(c->ac, on_connect);
	redisAsyncSetDisconnectCallback(c->ac, on_disconnect);
	if (f->password[0] != '\0' && !f->asking) {
		if (f->user[0] != '\0')
			redisAsyncCommand(c->ac, on_auth, NULL, "AUTH %s %s", f->user, f->password);
		else
			redisAsyncCommand(c->ac, on_auth, NULL, "AUTH %s", f->password);
	}
	return true;
}

/* Both connections to the master (or the one redis_server) at host:port. */
static void
connect_master(struct fleet *f, const char *host, int port)
{
	snprintf(f->peer, sizeof f->peer, "%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
	if (!conn_open(f, &f->pub, host, port) || !conn_open(f, &f->sub, host, port))
		return;
	redisAsyncCommand(f->pub.ac, on_ping, NULL, "PING");
	f->ping_sent_ms = mono_ms();
	f->next_ping_ms = f->ping_sent_ms + PING_MS;
	redisAsyncCommand(f->sub.ac, on_message, NULL, "SUBSCRIBE %s", f->channel);
}

/*
 * Ask Sentinel number sentinel_i of redis_sentinels (or the next one that is
 * well formed) for the master, on the pub connection: the answer comes
 * through the poll loop (fleet_handle), which never waits on a Sentinel, so
 * local logins and expiries go on while a partitioned host asks.  None
 * left: cut off.
 */
static void
ask_sentinel(struct fleet *f)
{
	const char *p = f->sentinels;

	for (int i = 0; *p != '\0'; i++) {
		size_t len = strcspn(p, ", \t");
		char host[256];
		int port;

		if (i >= f->sentinel_i && len > 0 && split_host_port(p, len, host, sizeof host, &port) == 0) {
			f->sentinel_i = i;
			f->asking = true;
			f->ask_done = false;
			f->master_port = 0;
			f->ask_deadline_ms = mono_ms() + SENTINEL_TIMEOUT_MS;
			if (conn_open(f, &f->pub, host, port))
				redisAsyncCommand(f->pub.ac, on_sentinel, NULL,
						  "SENTINEL get-master-addr-by-name %s", f->master_name);
			return;
		}
		p += len;
		p += strspn(p, ", \t");
	}
	f->asking = false;
	snprintf(f->peer, sizeof f->peer, "%s", "");
	set_broken(f, "no sentinel names a master", f->master_name);
}

/* The Sentinel asked has answered, failed or timed out (outside callbacks): on to the master or the next one. */
static void
sentinel_step(struct fleet *f)
{
	if (f->pub.ac != NULL) {
		redisAsyncContext *ac = f->pub.ac;
		f->pub.ac = NULL;
		redisAsyncFree(ac);
	}
	f->pub.want_read = f->pub.want_write = false;
	f->asking = false;
	if (f->master_port != 0) {
		connect_master(f, f->master_host, f->master_port);
		return;
	}
	log_debug("fleet: sentinel %d of '%s': no master %s", f->sentinel_i + 1, f->sentinels,
		  f->master_name);
	f->sentinel_i++;
	ask_sentinel(f);
}

static void
try_connect(struct fleet *f)
{
	char host[256];
	int port;

	f->broken = false;
	f->pub_ok = f->sub_ok = false;
	if (f->sentinels[0] != '\0') {
		f->sentinel_i = 0;
		ask_sentinel(f);
		return;
	}
	if (split_host_port(f->server, strlen(f->server), host, sizeof host, &port) < 0)
		return;         /* checked in fleet_new */
	connect_master(f, host, port);
}

static void backlog_drain(struct fleet *f);

static void
backlog_clear(struct fleet *f)
{
	for (size_t i = f->backlog_head; i < f->backlog_n; i++)
		free(f->backlog[i].user);
	f->backlog_head = f->backlog_n = 0;
}

/* Close both connections (outside callbacks) and plan the next try. */
static void
tear_down(struct fleet *f)
{
	if (f->pub.ac != NULL) {
		redisAsyncContext *ac = f->pub.ac;
		f->pub.ac = NULL;
		redisAsyncFree(ac);
	}
	if (f->sub.ac != NULL) {
		redisAsyncContext *ac = f->sub.ac;
		f->sub.ac = NULL;
		redisAsyncFree(ac);
	}
	f->pub.want_read = f->pub.want_write = f->sub.want_read = f->sub.want_write = false;
	f->up = f->pub_ok = f->sub_ok = false;
	f->resyncing = false;
	f->asking = false;
	f->broken = false;
	f->ping_sent_ms = 0;
	/* The connected hook publishes every live login again at the reconnect. */
	backlog_clear(f);
	f->next_try_ms = mono_ms() + f->backoff_ms;
	f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
}

void
fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	f->said_cut_off = true;         /* stopping is no outage */
	tear_down(f);
	write_status(f, "osd watch stopped", NULL);
	explicit_bzero(f->password, sizeof f->password);
	free(f->revoked);
	free(f->backlog);
	free(f);
}

int
fleet_pollfds(struct fleet *f, struct pollfd *pfd)
{
	int n = 0;

	if (f == NULL)
		return 0;
	for (struct conn *c = &f->pub; c != NULL; c = c == &f->pub ? &f->sub : NULL) {
		if (c->ac == NULL || (!c->want_read && !c->want_write))
			continue;
		pfd[n].fd = c->ac->c.fd;
		pfd[n].events = (short)((c->want_read ? POLLIN : 0) | (c->want_write ? POLLOUT : 0));
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

long
fleet_timeout_ms(struct fleet *f)
{
	int64_t now, due;

	if (f == NULL)
		return -1;
	now = mono_ms();
	if (f->asking)
		due = f->ask_done ? now : f->ask_deadline_ms;
	else if (f->pub.ac == NULL || f->sub.ac == NULL)
		due = f->next_try_ms;
	else if (f->ping_sent_ms != 0)
		due = (f->pub_heard_ms > f->ping_sent_ms ? f->pub_heard_ms : f->ping_sent_ms) + DEAD_MS;
	else
		due = f->next_ping_ms;
	return due <= now ? 0 : (long)(due - now);
}

static void
conn_io(struct conn *c, const struct pollfd *pfd, int n)
{
	for (int i = 0; i < n && c->ac != NULL; i++) {
		if (pfd[i].fd != c->ac->c.fd)
			continue;
		/* Any bytes show the link alive, also a part of a long reply. */
		if ((pfd[i].revents & POLLIN) && c == &c->f->pub)
			c->f->pub_heard_ms = mono_ms();
		if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && c->want_read)
			redisAsyncHandleRead(c->ac);
		if (c->ac != NULL && (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR)) && c->want_write)
			redisAsyncHandleWrite(c->ac);
		return;
	}
}

void
fleet_handle(struct fleet *f, const struct pollfd *pfd, int n)
{
	int64_t now;

	if (f == NULL)
		return;
	conn_io(&f->pub, pfd, n);
	conn_io(&f->sub, pfd, n);
	now = mono_ms();
	if (f->asking && (f->ask_done || now >= f->ask_deadline_ms))
		sentinel_step(f);
	if (f->asking && !f->broken)
		return;         /* still waiting for that Sentinel */
	if (!f->broken && f->pub.ac != NULL && f->sub.ac != NULL) {
		if (f->ping_sent_ms != 0 && now - f->ping_sent_ms >= DEAD_MS &&
		    now - f->pub_heard_ms >= DEAD_MS)
			set_broken(f, "no answer", "PING");
		else if (f->ping_sent_ms == 0 && now >= f->next_ping_ms) {
			redisAsyncCommand(f->pub.ac, on_ping, NULL, "PING");
			f->ping_sent_ms = now;
			f->next_ping_ms = now + PING_MS;
		}
		if (f->pub.ac != NULL && sdslen(f->pub.ac->c.obuf) > OBUF_MAX)
			set_broken(f, "too much unsent", "redis does not keep up");
		else
			backlog_drain(f);
	}
	if (f->broken || ((f->pub.ac == NULL) != (f->sub.ac == NULL)))
		tear_down(f);
	else if (f->pub.ac == NULL && now >= f->next_try_ms) {
		try_connect(f);
		if (f->broken)
			tear_down(f);
	}
}

static void send_login(struct fleet *f, const struct fleet_login *l);

/* Room in the output buffer: send what waits in the backlog (still live) until it is full again. */
static void
backlog_drain(struct fleet *f)
{
	int64_t now = real_ms();

	while (f->backlog_head < f->backlog_n && f->up && f->pub.ac != NULL && !f->broken &&
	       sdslen(f->pub.ac->c.obuf) < OBUF_PACE) {
		struct backlogged *b = &f->backlog[f->backlog_head++];
		struct fleet_login l = { .addr = b->addr, .login_ms = b->login_ms };

		if (b->user != NULL)
			memcpy(l.user, b->user, strlen(b->user) + 1);
		free(b->user);
		if (fleet_check_time(&l, now, f->relay_expire) == FLEET_OK)
			send_login(f, &l);
	}
	if (f->backlog_head == f->backlog_n)
		f->backlog_head = f->backlog_n = 0;
}

void
fleet_publish(struct fleet *f, const struct fleet_login *l)
{
	struct backlogged *b;

	if (f == NULL || !f->up || f->pub.ac == NULL)
		return;         /* cut off: the connected hook publishes it later, if still live */
	if (fleet_check_time(l, real_ms(), f->relay_expire) != FLEET_OK)
		return;
	if (f->backlog_n == f->backlog_head && sdslen(f->pub.ac->c.obuf) < OBUF_PACE) {
		send_login(f, l);
		return;
	}
	/* Behind the others, in order: a later login of an address is sent after its earlier one. */
	if (f->backlog_n - f->backlog_head >= BACKLOG_MAX) {
		set_broken(f, "too much unsent", "redis does not keep up");
		return;
	}
	if (f->backlog_n == f->backlog_cap) {
		if (f->backlog_head > 0) {
			memmove(f->backlog, f->backlog + f->backlog_head,
				(f->backlog_n - f->backlog_head) * sizeof *f->backlog);
			f->backlog_n -= f->backlog_head;
			f->backlog_head = 0;
		}
		if (f->backlog_n == f->backlog_cap) {
			f->backlog_cap = f->backlog_cap ? f->backlog_cap * 2 : 1024;
			f->backlog = xreallocarray(f->backlog, f->backlog_cap, sizeof *f->backlog);
		}
	}
	b = &f->backlog[f->backlog_n++];
	b->addr = l->addr;
	b->login_ms = l->login_ms;
	b->user = l->user[0] != '\0' ? xstrdup(l->user) : NULL;
}

/* Queue the publish script for l on the command connection. */
static void
send_login(struct fleet *f, const struct fleet_login *l)
{
	char key[FLEET_MSG_MAX], value[FLEET_MSG_MAX], msg[FLEET_MSG_MAX], ms[24], at[24];
	char tomb[FLEET_MSG_MAX], utomb[FLEET_MSG_MAX];
	struct fleet_revocation rv = { .addr = l->addr };

	if (fleet_key(f->prefix, &l->addr, key, sizeof key) < 0 ||
	    fleet_value(l, value, sizeof value) < 0 || fleet_message(l, msg, sizeof msg) < 0 ||
	    fleet_tombstone_key(f->prefix, &rv, tomb, sizeof tomb) < 0)
		return;
	rv.by_user = true;
	memcpy(rv.user, l->user, sizeof rv.user);
	if (l->user[0] != '\0' && fleet_tombstone_key(f->prefix, &rv, utomb, sizeof utomb) < 0)
		return;
	snprintf(ms, sizeof ms, "%lld", (long long)l->login_ms);
	/* PXAT: the key dies exactly when the login expires, on every host's clock alike. */
	snprintf(at, sizeof at, "%lld", (long long)(l->login_ms + (int64_t)f->relay_expire * 1000));
	/* The tombstones are named as keys: Redis 7 checks them against the ACL user's patterns. */
	if ((l->user[0] != '\0'
	     ? redisAsyncCommand(f->pub.ac, on_publish, NULL, "EVAL %s 3 %s %s %s %s %s %s %s %s",
				 publish_script, key, tomb, utomb, ms, value, at, f->channel, msg)
	     : redisAsyncCommand(f->pub.ac, on_publish, NULL, "EVAL %s 2 %s %s %s %s %s %s %s",
				 publish_script, key, tomb, ms, value, at, f->channel, msg)) != REDIS_OK)
		set_broken(f, "publishing a login", "cannot queue");
}

/* The settings a SIGHUP may change (fleet_reload), compared and carried over. */
#define SETTINGS(X) X(prefix) X(channel) X(pattern) X(sentinels) X(master_name) X(server) X(user) \
	X(password) X(password_file)

static bool
settings_equal(const struct fleet *a, const struct fleet *b)
{
#define SAME(field) && strcmp(a->field, b->field) == 0
	return true SETTINGS(SAME);
#undef SAME
}

static void
settings_copy(struct fleet *to, const struct fleet *from)
{
#define COPY(field) memcpy(to->field, from->field, sizeof to->field);
	SETTINGS(COPY)
#undef COPY
}

/* Free a fleet that never connected (fleet_client_new, or a reload's candidate). */
void
fleet_client_free(struct fleet *f)
{
	if (f == NULL)
		return;
	explicit_bzero(f->password, sizeof f->password);
	free(f->revoked);
	free(f);
}

/* The seconds osd revoke, and a reload's probe, wait on Redis for each step. */
#define CLIENT_TIMEOUT_MS 2000

/*
 * Ask the Sentinels for the master (host, port), blocking, each bounded by
 * SENTINEL_TIMEOUT_MS: for the one-shot clients only (osd revoke, a
 * reload's probe); the watcher asks on its poll loop (ask_sentinel).  0 or -1.
 */
static int
sync_ask_sentinels(struct fleet *f, char *host, size_t hostsize, int *port_r)
{
	struct timeval tv = { 0, SENTINEL_TIMEOUT_MS * 1000 };
	const char *p = f->sentinels;

	while (*p != '\0') {
		size_t len = strcspn(p, ", \t");
		char shost[256];
		int sport;

		if (len > 0 && split_host_port(p, len, shost, sizeof shost, &sport) == 0) {
			redisContext *c = redisConnectWithTimeout(shost, sport, tv);
			redisReply *r = NULL;

			if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK)
				r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", f->master_name);
			if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
			    r->element[0]->type == REDIS_REPLY_STRING &&
			    r->element[1]->type == REDIS_REPLY_STRING &&
			    (size_t)snprintf(host, hostsize, "%s", r->element[0]->str) < hostsize) {
				*port_r = atoi(r->element[1]->str);
				freeReplyObject(r);
				redisFree(c);
				if (*port_r >= 1 && *port_r <= 65535)
					return 0;
			} else {
				log_debug("fleet: sentinel %.*s: no master %s", (int)len, p, f->master_name);
				if (r != NULL)
					freeReplyObject(r);
				if (c != NULL)
					redisFree(c);
			}
		}
		p += len;
		p += strspn(p, ", \t");
	}
	return -1;
}

/* A blocking connection to the master, authenticated; NULL with why in err. */
static redisContext *
sync_connect(struct fleet *f, char *err, size_t errsize)
{
	struct timeval tv = { CLIENT_TIMEOUT_MS / 1000, (CLIENT_TIMEOUT_MS % 1000) * 1000 };
	redisContext *c;
	redisReply *r;
	char host[256];
	int port;

	if (f->sentinels[0] != '\0') {
		if (sync_ask_sentinels(f, host, sizeof host, &port) < 0) {
			snprintf(err, errsize, "no sentinel of %s names a master %s", f->sentinels,
				 f->master_name);
			return NULL;
		}
	} else if (split_host_port(f->server, strlen(f->server), host, sizeof host, &port) < 0) {
		snprintf(err, errsize, "redis_server '%s': want host:port", f->server);
		return NULL;
	}
	snprintf(f->peer, sizeof f->peer, "%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
	c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL || c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(err, errsize, "cannot connect to redis at %s: %s", f->peer,
			 c != NULL ? c->errstr : "out of memory");
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	if (f->password[0] == '\0')
		r = redisCommand(c, "PING");
	else if (f->user[0] != '\0')
		r = redisCommand(c, "AUTH %s %s", f->user, f->password);
	else
		r = redisCommand(c, "AUTH %s", f->password);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsize, "redis at %s: %s", f->peer,
			 r != NULL ? r->str : c->errstr[0] ? c->errstr : "no answer");
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(r);
	return c;
}

void
fleet_reload(struct fleet **fp, const struct osd_conf *conf, const struct fleet_hooks *hooks)
{
	struct fleet *f = *fp, *n;
	redisContext *probe;
	char err[PATH_MAX + 512];

	if (strcmp(conf->fleet, "redis") != 0) {
		if (f != NULL) {
			log_info("fleet: fleet = none now: leaving redis");
			fleet_free(f);
			*fp = NULL;
		}
		return;
	}
	n = fleet_create(conf, hooks, f, err, sizeof err);
	if (n == NULL) {
		log_errx("fleet: %s (keeping the running fleet settings)", err);
		return;
	}
	if (f != NULL) {
		f->relay_expire = conf->relay_expire;
		if (settings_equal(f, n)) {
			fleet_client_free(n);
			return;
		}
	}
	/*
	 * Tried before it replaces what works: a typo in redis_server or a
	 * wrong password must not cut the host off (the watcher waits on
	 * this probe, at most a few seconds, once per SIGHUP).
	 */
	probe = sync_connect(n, err, sizeof err);
	if (probe == NULL) {
		log_errx("fleet: %s (keeping the running fleet settings)", err);
		fleet_client_free(n);
		return;
	}
	redisFree(probe);
	if (f == NULL) {
		log_info("fleet: fleet = redis now");
		*fp = n;
		return;
	}
	settings_copy(f, n);
	fleet_client_free(n);
	log_info("fleet: redis settings changed: reconnecting (prefix %s)", f->prefix);
	f->said_cut_off = true;         /* a reconnect asked for is no outage */
	tear_down(f);
	f->said_cut_off = false;
	f->backoff_ms = BACKOFF_MIN_MS;
	f->next_try_ms = mono_ms();
}

struct fleet *
fleet_client_new(const struct osd_conf *conf)
{
	static const struct fleet_hooks none;
	struct fleet *f;
	char err[PATH_MAX + 256];

	if (strcmp(conf->fleet, "redis") != 0)
		return NULL;
	f = fleet_create(conf, &none, NULL, err, sizeof err);
	if (f == NULL)
		fatalx("fleet: %s", err);
	return f;
}

/* Add a copy of key (len bytes) to the list *keys (n, cap). */
static void
keys_add(char ***keys, size_t **lens, size_t *n, size_t *cap, const char *key, size_t len)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*keys = xreallocarray(*keys, *cap, sizeof **keys);
		*lens = xreallocarray(*lens, *cap, sizeof **lens);
	}
	(*keys)[*n] = xmalloc(len + 1);
	memcpy((*keys)[*n], key, len);
	(*keys)[*n][len] = '\0';
	(*lens)[(*n)++] = len;
}

/* The login keys of user rv->user, at or before the revocation, into keys; -1 with err. */
static int
user_keys(struct fleet *f, redisContext *c, const struct fleet_revocation *rv, char ***keys,
	  size_t **lens, size_t *n, size_t *cap, char *err, size_t errsize)
{
	char cursor[32] = "0";
	int64_t now = real_ms();

	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor, f->pattern);
		redisReply *m = NULL;
		const redisReply *ks;

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
		    (size_t)snprintf(cursor, sizeof cursor, "%s", r->element[0]->str) >= sizeof cursor) {
			snprintf(err, errsize, "SCAN: %s", r != NULL && r->type == REDIS_REPLY_ERROR ? r->str :
				 c->errstr[0] ? c->errstr : "unexpected reply");
			if (r != NULL)
				freeReplyObject(r);
			return -1;
		}
		ks = r->element[1];
		if (ks->elements > 0) {
			const char **argv = xreallocarray(NULL, ks->elements + 1, sizeof *argv);
			size_t *argl = xreallocarray(NULL, ks->elements + 1, sizeof *argl);

			argv[0] = "MGET";
			argl[0] = 4;
			for (size_t i = 0; i < ks->elements; i++) {
				argv[i + 1] = ks->element[i]->str;
				argl[i + 1] = ks->element[i]->len;
			}
			m = redisCommandArgv(c, (int)ks->elements + 1, argv, argl);
			free(argv);
			free(argl);
		}
		for (size_t i = 0; m != NULL && m->type == REDIS_REPLY_ARRAY && i < m->elements &&
				   i < ks->elements; i++) {
			struct fleet_login l;
			const redisReply *k = ks->element[i], *v = m->element[i];

			if (v->type == REDIS_REPLY_STRING &&
			    fleet_parse_key_value(f->prefix, k->str, k->len, v->str, v->len, now,
						  f->relay_expire, &l) == FLEET_OK &&
			    fleet_revocation_voids(rv, &l))
				keys_add(keys, lens, n, cap, k->str, k->len);
		}
		if (ks->elements > 0 && (m == NULL || m->type != REDIS_REPLY_ARRAY)) {
			snprintf(err, errsize, "MGET: %s", m != NULL && m->type == REDIS_REPLY_ERROR ? m->str :
				 c->errstr[0] ? c->errstr : "unexpected reply");
			if (m != NULL)
				freeReplyObject(m);
			freeReplyObject(r);
			return -1;
		}
		if (m != NULL)
			freeReplyObject(m);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int
fleet_client_revoke(struct fleet *f, const struct fleet_revocation *rv, char *err, size_t errsize)
{
	char tomb[FLEET_MSG_MAX], key[FLEET_MSG_MAX], msg[FLEET_MSG_MAX], ms[24], at[24];
	char **keys = NULL;
	size_t *lens = NULL, n = 0, cap = 0;
	const char **argv;
	size_t *argl, argc;
	redisContext *c;
	redisReply *r = NULL;
	int deleted = -1;

	if (fleet_tombstone_key(f->prefix, rv, tomb, sizeof tomb) < 0 ||
	    fleet_revocation_message(rv, msg, sizeof msg) < 0) {
		snprintf(err, errsize, "revocation too long");
		return -1;
	}
	c = sync_connect(f, err, errsize);
	if (c == NULL)
		return -1;
	keys_add(&keys, &lens, &n, &cap, tomb, strlen(tomb));
	if (!rv->by_user) {
		if (fleet_key(f->prefix, &rv->addr, key, sizeof key) >= 0)
			keys_add(&keys, &lens, &n, &cap, key, strlen(key));
	} else if (user_keys(f, c, rv, &keys, &lens, &n, &cap, err, errsize) < 0) {
		goto out;
	}
	snprintf(ms, sizeof ms, "%lld", (long long)rv->revoke_ms);
	/* The tombstone lives as long as a login it voids could. */
	snprintf(at, sizeof at, "%lld", (long long)(rv->revoke_ms + (int64_t)f->relay_expire * 1000));
	argc = 3 + n + 5;
	argv = xreallocarray(NULL, argc, sizeof *argv);
	argl = xreallocarray(NULL, argc, sizeof *argl);
	argv[0] = "EVAL";
	argv[1] = revoke_script;
	argv[2] = NULL;         /* numkeys, below */
	{
		char numkeys[24];
		const char *args[5] = { ms, at, f->channel, msg, rv->by_user ? rv->user : "" };

		snprintf(numkeys, sizeof numkeys, "%zu", n);
		argv[2] = numkeys;
		for (size_t i = 0; i < n; i++) {
			argv[3 + i] = keys[i];
			argl[3 + i] = lens[i];
		}
		for (size_t i = 0; i < 5; i++) {
			argv[3 + n + i] = args[i];
			argl[3 + n + i] = strlen(args[i]);
		}
		argl[0] = 4;
		argl[1] = strlen(revoke_script);
		argl[2] = strlen(numkeys);
		r = redisCommandArgv(c, (int)argc, argv, argl);
	}
	free(argv);
	free(argl);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsize, "redis at %s: %s", f->peer, r != NULL && r->type == REDIS_REPLY_ERROR ?
			 r->str : c->errstr[0] ? c->errstr : "unexpected reply");
		goto out;
	}
	deleted = (int)r->integer;
out:
	if (r != NULL)
		freeReplyObject(r);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(lens);
	redisFree(c);
	return deleted;
}

void
fleet_flush(struct fleet *f)
{
	if (f == NULL || !f->up || f->broken || f->pub.ac == NULL || sdslen(f->pub.ac->c.obuf) == 0)
		return;
	/* Non-blocking: what the socket takes now; the rest goes at POLLOUT. */
	redisAsyncHandleWrite(f->pub.ac);
}
