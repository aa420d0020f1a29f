/* imap_serve.c - osd imapd in the child: one connection through the IMAP session object and the common session loop (literals as raw octets, IDLE woken by the folder), to its end. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "imap_session.h"
#include "imapd.h"
#include "log.h"
#include "metrics.h"
#include "session_loop.h"
#include "userdb.h"

_Static_assert(SESSION_LOOP_LOGIN_MAX > USERDB_LOGIN_KEY_MAX, "a login key fits the loop's buffer");

/* One connection: what the loop's callbacks need. */
struct imap_conn {
	const struct imapd *d;
	const struct ipaddr *addr;
	const char *text;               /* the client address */
	struct imap_login_ctx ctx;
	struct imap_session *s;
	int login_ms, auth_ms;          /* the autologout timers before and after login */
};

/* The session's action bits as the loop's (IMAP_ACT_IDLE needs nothing: the loop asks wake_fd and wake_ms). */
static unsigned
loop_act(unsigned act)
{
	/* Handoff (proxy mode): the session's part is over; the relay takes the connection. */
	return (act & (IMAP_ACT_CLOSE | IMAP_ACT_HANDOFF) ? LOOP_CLOSE : 0) |
	       (act & IMAP_ACT_LITERAL ? LOOP_RAW : 0) |
	       (act & IMAP_ACT_STREAM ? LOOP_STREAM : 0) |
	       (act & IMAP_ACT_STARTTLS ? LOOP_STARTTLS : 0) |
	       (act & IMAP_ACT_AUTH_OK ? LOOP_LOGIN_OK : 0) |
	       (act & IMAP_ACT_AUTH_FAILED ? LOOP_LOGIN_FAILED : 0) |
	       (act & IMAP_ACT_ERROR ? LOOP_ERROR : 0);
}

static void
imap_greeting(void *vp, struct buf *out)
{
	imap_session_greeting(((struct imap_conn *)vp)->s, out);
}

/* Proxy mode: a login the backend took is answered with its words (after the loop records it). */
static unsigned
handoff(struct imap_conn *p, unsigned act, struct buf *out)
{
	if (act & IMAP_ACT_HANDOFF)
		imap_proxy_answer(p->ctx.proxy, imap_session_handoff_tag(p->s), out);
	return loop_act(act);
}

static unsigned
imap_line(void *vp, const char *line, size_t len, struct buf *out, size_t *raw_r)
{
	struct imap_conn *p = vp;

	return handoff(p, imap_session_line(p->s, line, len, out, raw_r), out);
}

/* A literal's octets: all of what the loop gives is taken (it never gives more than is due). */
static size_t
imap_input(void *vp, const char *data, size_t len, struct buf *out, unsigned *act_r, size_t *raw_r)
{
	struct imap_conn *p = vp;

	*act_r = handoff(p, imap_session_literal(p->s, data, len, out, raw_r), out);
	return len;
}

static unsigned
imap_stream(void *vp, struct buf *out)
{
	return loop_act(imap_session_stream(((struct imap_conn *)vp)->s, out));
}

static void
imap_timeout(void *vp, struct buf *out)
{
	imap_session_timeout(((struct imap_conn *)vp)->s, out);
}

static void
imap_expired(void *vp, struct buf *out)
{
	imap_session_expired(((struct imap_conn *)vp)->s, out);
}

static void
imap_tls_started(void *vp, const char *tls_info)
{
	(void)tls_info;
	imap_session_tls_started(((struct imap_conn *)vp)->s);
}

static void
imap_login_key(void *vp, char *key, size_t size)
{
	const struct imap_conn *p = vp;

	userdb_login_key(imap_session_user(p->s), p->d->conf.default_domain, key, size);
}

static void
imap_login(void *vp, bool ok)
{
	const struct imap_conn *p = vp;

	metrics_inc(ok ? M_LOGIN_IMAP_OK : M_LOGIN_IMAP_FAILED);
	if (!ok) {
		log_info("login failed: addr=%s user=%s: %s", p->text, imap_session_user(p->s),
			 imap_session_error(p->s));
	} else if (p->ctx.no_relay) {
		log_info("login: addr=%s user=%s (no-relay: not recorded)", p->text,
			 imap_session_user(p->s));
	} else {
		/* The record's failure is logged already; this line must not say otherwise. */
		bool recorded = imap_auth_record_login(p->d, p->addr, p->text,
						       imap_session_user(p->s)) == 0;

		log_info("login: addr=%s user=%s %s", p->text, imap_session_user(p->s),
			 recorded ? "recorded" : "NOT recorded (relaying stays closed)");
	}
}

static void
imap_error(void *vp)
{
	const struct imap_conn *p = vp;

	log_warnx("addr=%s user=%s: %s", p->text, imap_session_user(p->s), imap_session_error(p->s));
}

static int
imap_wake_fd(void *vp)
{
	return imap_session_wake_fd(((struct imap_conn *)vp)->s);
}

static unsigned
imap_woken(void *vp, struct buf *out)
{
	return loop_act(imap_session_woken(((struct imap_conn *)vp)->s, out));
}

static int
imap_wake_ms(void *vp)
{
	return imap_session_wake_ms(((struct imap_conn *)vp)->s);
}

static int
imap_line_timeout_ms(void *vp)
{
	const struct imap_conn *p = vp;

	return imap_session_timeout_ms(p->s, p->login_ms, p->auth_ms);
}

static const struct session_loop_ops imap_ops = {
	.greeting = imap_greeting,
	.line = imap_line,
	.input = imap_input,
	.stream = imap_stream,
	.timeout = imap_timeout,
	.expired = imap_expired,
	.tls_started = imap_tls_started,
	.login_key = imap_login_key,
	.login = imap_login,
	.error = imap_error,
	.wake_fd = imap_wake_fd,
	.woken = imap_woken,
	.wake_ms = imap_wake_ms,
	.line_timeout_ms = imap_line_timeout_ms,
};

static int
ms(long secs)
{
	return secs > INT_MAX / 1000 ? INT_MAX : (int)(secs * 1000);
}

noreturn void
imapd_serve(void *vd, int fd, const struct ipaddr *addr, int kind, unsigned prior_failures)
{
	const struct imapd *d = vd;
	struct imap_conn p = { .d = d, .addr = addr, .ctx = { .d = d } };
	struct imap_session_config cfg;
	struct session_loop l;
	char text[IPADDR_TEXT_MAX], hostname[256] = "";

	ipaddr_format(addr, text);
	p.text = text;
	p.login_ms = ms(d->conf.imap_login_timeout);
	p.auth_ms = ms(d->conf.imap_timeout);
	if (session_loop_init(&l, fd, text, p.login_ms, IMAP_LINE_MAX, d->conf.imap_session_deadline,
			      d->tls, kind == IMAPD_IMPLICIT_TLS) == -1)
		_exit(0);
	l.starttls_verb = "STARTTLS";
	l.prior_failures = prior_failures;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_available = d->tls != NULL;
	cfg.tls_active = kind == IMAPD_IMPLICIT_TLS;
	cfg.client_loopback = d->conf.imap_loopback_plaintext && ipaddr_is_loopback(addr);
	cfg.plaintext_allowed = d->conf.imap_plaintext;
	cfg.max_auth_failures = d->conf.imap_max_auth_failures;
	cfg.maildir_tmp_max_age = d->conf.maildir_tmp_max_age;
	cfg.limits.line_max = IMAP_LINE_MAX;
	cfg.limits.literal_max = d->conf.imap_max_literal;
	cfg.ctx = &p.ctx;
	cfg.check_password = imap_auth_check_password;
	cfg.get_secret = imap_auth_get_secret;
	if (d->conf.imap_backend[0] != '\0') {
		/* Proxy mode: the password goes on to the backend, so CRAM-MD5 cannot be offered. */
		p.ctx.proxy = imap_proxy_new(d);
		cfg.check_password = imap_proxy_check_password;
		cfg.get_secret = NULL;
		cfg.handoff = true;
	}
	/* As pop3d: accepted either way, advertised only when configured. */
	cfg.advertise_cram_md5 = d->conf.advertise_cram_md5;
	cfg.idle_poll_ms = ms(d->conf.imap_idle_poll);
	cfg.idle_keepalive_ms = ms(d->conf.imap_idle_keepalive);
	cfg.idle_no_inotify = !d->conf.imap_idle_inotify;
	if (gethostname(hostname, sizeof(hostname) - 1) == 0 && hostname[0] != '\0')
		cfg.hostname = hostname;
	p.s = imap_session_new(&cfg);
	session_loop_run(&l, &imap_ops, &p);
	if (imap_proxy_ready(p.ctx.proxy)) {
		l.end = "proxy";
		imap_proxy_relay(p.ctx.proxy, l.c, text, imap_session_user(p.s));
	}

	log_info("session: addr=%s user=%s login=%s tls=%s end=%s", text,
		 imap_session_user(p.s)[0] != '\0' ? imap_session_user(p.s) : "-",
		 l.logged_in ? "ok" : l.failures > 0 ? "failed" : "none", l.tls_info, l.end);
	imap_session_free(p.s);
	imap_proxy_free(p.ctx.proxy);
	session_loop_free(&l);
	_exit(0);
}
