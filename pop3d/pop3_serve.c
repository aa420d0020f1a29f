/* pop3_serve.c - osd pop3d in the child: one connection through the POP3 session object and the common session loop, to its end. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "pop3d.h"
#include "pop3_session.h"
#include "session_loop.h"
#include "userdb.h"

_Static_assert(SESSION_LOOP_LOGIN_MAX > USERDB_LOGIN_KEY_MAX, "a login key fits the loop's buffer");

/* One connection: what the loop's callbacks need. */
struct pop3_conn {
	const struct pop3d *pd;
	const struct ipaddr *addr;
	const char *text;               /* the client address */
	struct login_ctx ctx;
	struct session *s;
};

/* The session's action bits as the loop's. */
static unsigned
loop_act(unsigned act)
{
	/* Handoff (proxy mode): the session's part is over; the relay takes the connection. */
	return (act & (SESSION_ACT_CLOSE | SESSION_ACT_HANDOFF) ? LOOP_CLOSE : 0) |
	       (act & SESSION_ACT_STREAM ? LOOP_STREAM : 0) |
	       (act & SESSION_ACT_STARTTLS ? LOOP_STARTTLS : 0) |
	       (act & SESSION_ACT_AUTH_OK ? LOOP_LOGIN_OK : 0) |
	       (act & SESSION_ACT_AUTH_FAILED ? LOOP_LOGIN_FAILED : 0) |
	       (act & SESSION_ACT_ERROR ? LOOP_ERROR : 0);
}

static void
pop3_greeting(void *vp, struct buf *out)
{
	session_greeting(((struct pop3_conn *)vp)->s, out);
}

static unsigned
pop3_line(void *vp, const char *line, size_t len, struct buf *out, size_t *raw_r)
{
	struct pop3_conn *p = vp;
	unsigned act = session_input_line(p->s, line, len, out);

	(void)raw_r;
	/* The client hears the backend's +OK (after the loop has recorded the login). */
	if (act & SESSION_ACT_HANDOFF)
		pop3_proxy_answer(p->ctx.proxy, out);
	return loop_act(act);
}

static unsigned
pop3_stream(void *vp, struct buf *out)
{
	return loop_act(session_stream(((struct pop3_conn *)vp)->s, out));
}

static void
pop3_timeout(void *vp, struct buf *out)
{
	session_timeout(((struct pop3_conn *)vp)->s, out);
}

static void
pop3_expired(void *vp, struct buf *out)
{
	session_expired(((struct pop3_conn *)vp)->s, out);
}

static void
pop3_tls_started(void *vp, const char *tls_info)
{
	(void)tls_info;
	session_tls_started(((struct pop3_conn *)vp)->s);
}

static void
pop3_login_key(void *vp, char *key, size_t size)
{
	const struct pop3_conn *p = vp;

	userdb_login_key(session_user(p->s), p->pd->conf.default_domain, key, size);
}

static void
pop3_login(void *vp, bool ok)
{
	const struct pop3_conn *p = vp;

	metrics_inc(ok ? M_LOGIN_POP3_OK : M_LOGIN_POP3_FAILED);
	if (!ok) {
		log_info("login failed: addr=%s user=%s: %s", p->text, session_user(p->s),
			 session_error(p->s));
	} else if (p->ctx.no_relay) {
		log_info("login: addr=%s user=%s (no-relay: not recorded)", p->text,
			 session_user(p->s));
	} else {
		/* The record's failure is logged already; this line must not say otherwise. */
		bool recorded = auth_record_login(p->pd, p->addr, p->text, session_user(p->s)) == 0;

		log_info("login: addr=%s user=%s %s", p->text, session_user(p->s),
			 recorded ? "recorded" : "NOT recorded (relaying stays closed)");
	}
}

static void
pop3_error(void *vp)
{
	const struct pop3_conn *p = vp;

	log_warnx("addr=%s user=%s: %s", p->text, session_user(p->s), session_error(p->s));
}

static const struct session_loop_ops pop3_ops = {
	.greeting = pop3_greeting,
	.line = pop3_line,
	.stream = pop3_stream,
	.timeout = pop3_timeout,
	.expired = pop3_expired,
	.tls_started = pop3_tls_started,
	.login_key = pop3_login_key,
	.login = pop3_login,
	.error = pop3_error,
};

static int
timeout_ms(const struct osd_conf *conf)
{
	return conf->pop3_timeout > INT_MAX / 1000 ? INT_MAX : (int)(conf->pop3_timeout * 1000);
}

static void
fmt_octets(char *out, size_t size, unsigned long n, uint64_t octets)
{
	snprintf(out, size, "%lu/%llu", n, (unsigned long long)octets);
}

noreturn void
pop3d_serve(void *vpd, int fd, const struct ipaddr *addr, int kind, unsigned prior_failures)
{
	const struct pop3d *pd = vpd;
	struct pop3_conn p = { .pd = pd, .addr = addr, .ctx = { .pd = pd } };
	struct session_config cfg;
	struct session_loop l;
	char text[IPADDR_TEXT_MAX], retr[48], dele[48], hostname[256] = "";
	const struct session_stats *st;

	ipaddr_format(addr, text);
	p.text = text;
	if (session_loop_init(&l, fd, text, timeout_ms(&pd->conf), SESSION_LINE_MAX,
			      pd->conf.pop3_session_deadline, pd->tls, kind == POP3D_IMPLICIT_TLS) == -1)
		_exit(0);
	l.starttls_verb = "STLS";
	l.prior_failures = prior_failures;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_available = pd->tls != NULL;
	cfg.maildir_tmp_max_age = pd->conf.maildir_tmp_max_age;
	cfg.tls_active = kind == POP3D_IMPLICIT_TLS;
	cfg.client_loopback = pd->conf.pop3_loopback_plaintext && ipaddr_is_loopback(addr);
	cfg.plaintext_allowed = pd->conf.pop3_plaintext;
	cfg.max_auth_failures = pd->conf.pop3_max_auth_failures;
	cfg.ctx = &p.ctx;
	cfg.check_password = auth_check_password;
	cfg.get_secret = auth_get_secret;
	if (pd->conf.pop3_backend[0] != '\0') {
		/* Proxy mode: the password goes on to the backend, so APOP and CRAM-MD5 cannot be offered. */
		p.ctx.proxy = pop3_proxy_new(pd);
		cfg.check_password = pop3_proxy_check_password;
		cfg.get_secret = NULL;
		cfg.handoff = true;
	}
	/*
	 * Accepted either way; advertised only when configured: curl and other
	 * clients pick an advertised CRAM-MD5 over PLAIN and do not fall back,
	 * and most users (osd user add) have no cleartext password for it.
	 */
	cfg.advertise_cram_md5 = pd->conf.advertise_cram_md5;
	if (gethostname(hostname, sizeof(hostname) - 1) == 0 && hostname[0] != '\0')
		cfg.hostname = hostname;
	p.s = session_new(&cfg);
	/* Bounded: the longest reply is a UIDL/LIST of MAILDIR_MAX_MESSAGES lines; RETR streams. */
	session_loop_run(&l, &pop3_ops, &p);
	if (pop3_proxy_ready(p.ctx.proxy)) {
		l.end = "proxy";
		pop3_proxy_relay(p.ctx.proxy, l.c, text, session_user(p.s));
	}

	/* The session's counts are final once it is closed (QUIT ran the UPDATE state). */
	st = session_stats(p.s);
	fmt_octets(retr, sizeof(retr), st->retrieved, st->retrieved_octets);
	fmt_octets(dele, sizeof(dele), st->deleted, st->deleted_octets);
	log_info("session: addr=%s user=%s login=%s tls=%s end=%s retrieved=%s deleted=%s",
		 text, session_user(p.s)[0] != '\0' ? session_user(p.s) : "-",
		 l.logged_in ? "ok" : l.failures > 0 ? "failed" : "none", l.tls_info, l.end, retr,
		 dele);
	session_free(p.s);
	pop3_proxy_free(p.ctx.proxy);
	session_loop_free(&l);
	_exit(0);
}
