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
/* A PING every PING_MS on the command connection; no answer in DEAD_MS: cut off. */
#define PING_MS 1000
#define DEAD_MS 3000
/* Commands queued but unsent beyond this: Redis is not keeping up; drop and resync. */
#define OBUF_MAX (8u << 20)
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
	"redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3]) "
	"redis.call('PUBLISH', ARGV[4], ARGV[5]) "
	"return 1";

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
	struct conn pub, sub;
	bool pub_ok, sub_ok;            /* AUTH and first PING answered; subscribed */
	bool up;                        /* both: logins flow */
	bool broken;                    /* tear down after this round of I/O */
	bool said_cut_off;              /* logged for this outage */
	char peer[300];                 /* host:port connected to */
	long backoff_ms;
	int64_t next_try_ms;            /* monotonic; when down */
	int64_t ping_sent_ms;           /* an unanswered PING since then, or 0 */
	int64_t next_ping_ms;
	bool asking;                    /* pub is a connection to Sentinel number sentinel_i */
	bool ask_done;                  /* ... which answered (master_port set if it named one) or failed */
	int sentinel_i;
	int64_t ask_deadline_ms;
	char master_host[256];
	int master_port;                /* what the Sentinel named; 0: nothing */
	unsigned long resync_mirrored, resync_refused;
	char status_path[PATH_MAX];     /* state_dir/FLEET_STATUS_FILE */
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

/* Copy src into a field of size; exit on overflow (config values were checked to fit). */
static void
copy_field(char *dst, size_t size, const char *src)
{
	if (snprintf(dst, size, "%s", src) >= (int)size)
		fatalx("fleet: value too long: %s", src);
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

/* The password: the first line of file. */
static void
read_password(const char *file, char *out, size_t size)
{
	FILE *fp = fopen(file, "re");
	size_t n;

	if (fp == NULL)
		fatal("fleet: redis_password_file %s", file);
	if (fgets(out, (int)size, fp) == NULL)
		out[0] = '\0';
	fclose(fp);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	if (n == 0)
		fatalx("fleet: redis_password_file %s: no password on its first line", file);
}

struct fleet *
fleet_new(const struct osd_conf *conf, const struct fleet_hooks *hooks)
{
	struct fleet *f;
	char host[256];
	int port;

	if (strcmp(conf->fleet, "redis") != 0)
		return NULL;
	if (!fleet_prefix_valid(conf->redis_prefix))
		fatalx("fleet: redis_prefix '%s': 1 to 63 letters, digits, '_', '-', '.', '/'",
		       conf->redis_prefix);
	f = xcalloc(1, sizeof *f);
	f->hooks = *hooks;
	f->relay_expire = conf->relay_expire;
	copy_field(f->prefix, sizeof f->prefix, conf->redis_prefix);
	if (fleet_channel(f->prefix, f->channel, sizeof f->channel) < 0 ||
	    fleet_key_pattern(f->prefix, f->pattern, sizeof f->pattern) < 0)
		fatalx("fleet: redis_prefix too long");
	copy_field(f->sentinels, sizeof f->sentinels, conf->redis_sentinels);
	copy_field(f->master_name, sizeof f->master_name, conf->redis_master_name);
	copy_field(f->server, sizeof f->server, conf->redis_server);
	copy_field(f->user, sizeof f->user, conf->redis_user);
	if (f->sentinels[0] == '\0' &&
	    split_host_port(f->server, strlen(f->server), host, sizeof host, &port) < 0)
		fatalx("fleet: redis_server '%s': want host:port", f->server);
	if (conf->redis_password_file[0] != '\0')
		read_password(conf->redis_password_file, f->password, sizeof f->password);
	f->pub = (struct conn){ .f = f, .what = "commands" };
	f->sub = (struct conn){ .f = f, .what = "subscription" };
	f->backoff_ms = BACKOFF_MIN_MS;
	f->next_try_ms = mono_ms();     /* connect at the first fleet_handle */
	if (path_join(f->status_path, sizeof f->status_path, conf->state_dir, FLEET_STATUS_FILE) < 0)
		fatalx("fleet: state_dir path too long");
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
	f->resync_mirrored++;
	f->hooks.mirror(f->hooks.ctx, l);
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
	f->asking = false;
	f->broken = false;
	f->ping_sent_ms = 0;
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
		due = f->ping_sent_ms + DEAD_MS;
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
		if (f->ping_sent_ms != 0 && now - f->ping_sent_ms >= DEAD_MS)
			set_broken(f, "no answer", "PING");
		else if (f->ping_sent_ms == 0 && now >= f->next_ping_ms) {
			redisAsyncCommand(f->pub.ac, on_ping, NULL, "PING");
			f->ping_sent_ms = now;
			f->next_ping_ms = now + PING_MS;
		}
		if (f->pub.ac != NULL && sdslen(f->pub.ac->c.obuf) > OBUF_MAX)
			set_broken(f, "too much unsent", "redis does not keep up");
	}
	if (f->broken || ((f->pub.ac == NULL) != (f->sub.ac == NULL)))
		tear_down(f);
	else if (f->pub.ac == NULL && now >= f->next_try_ms) {
		try_connect(f);
		if (f->broken)
			tear_down(f);
	}
}

void
fleet_publish(struct fleet *f, const struct fleet_login *l)
{
	char key[FLEET_MSG_MAX], value[FLEET_MSG_MAX], msg[FLEET_MSG_MAX], ms[24], at[24];

	if (f == NULL || !f->up || f->pub.ac == NULL)
		return;         /* cut off: the connected hook publishes it later, if still live */
	if (fleet_check_time(l, real_ms(), f->relay_expire) != FLEET_OK)
		return;
	if (fleet_key(f->prefix, &l->addr, key, sizeof key) < 0 ||
	    fleet_value(l, value, sizeof value) < 0 || fleet_message(l, msg, sizeof msg) < 0)
		return;
	snprintf(ms, sizeof ms, "%lld", (long long)l->login_ms);
	/* PXAT: the key dies exactly when the login expires, on every host's clock alike. */
	snprintf(at, sizeof at, "%lld", (long long)(l->login_ms + (int64_t)f->relay_expire * 1000));
	if (redisAsyncCommand(f->pub.ac, on_publish, NULL, "EVAL %s 1 %s %s %s %s %s %s",
			      publish_script, key, ms, value, at, f->channel, msg) != REDIS_OK)
		set_broken(f, "publishing a login", "cannot queue");
}
