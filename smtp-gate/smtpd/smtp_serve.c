/* smtp_serve.c - one SMTP connection in its own process: the relay decision, the control files, the session through the common session loop, its messages into the queue and its events into the log. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "command.h"
#include "control.h"
#include "log.h"
#include "login.h"
#include "metrics.h"
#include "netconn.h"
#include "policy.h"
#include "queue.h"
#include "relaycheck.h"
#include "rules.h"
#include "session_loop.h"
#include "smtp_session.h"
#include "smtpd.h"
#include "timecalc.h"
#include "userdb.h"

_Static_assert(SESSION_LOOP_LOGIN_MAX > USERDB_LOGIN_KEY_MAX, "a login key fits the loop's buffer");

/* qmail's defaults for control/timeoutsmtpd; databytes when the file is missing (Postfix's size). */
#define SMTPD_DEFAULT_TIMEOUT 1200
#define SMTPD_DEFAULT_DATABYTES 10240000ul

/* What the password hooks need. */
struct auth_ctx {
	struct login_db db;
};

_Static_assert((int)LOGIN_OK == (int)SMTP_CHECK_OK && (int)LOGIN_BAD == (int)SMTP_CHECK_BAD &&
	       (int)LOGIN_TEMPFAIL == (int)SMTP_CHECK_TEMPFAIL, "the login results are the session's");

static int
check_password(void *vctx, const char *login, const char *password, bool *relay_r, char *err,
	       size_t errsize)
{
	const struct auth_ctx *ctx = vctx;
	struct login_user user;
	int r;

	r = login_password(&ctx->db, LOGIN_SMTP, login, password, &user, err, errsize);
	*relay_r = r == LOGIN_OK && !user.no_relay;
	login_user_clear(&user);
	return r;
}

/* CRAM-MD5: the cleartext vpasswd field (login_secret); refusals as check_password, plus users without one. */
static int
get_secret(void *vctx, const char *login, char **secret_r, bool *relay_r, char *err,
	   size_t errsize)
{
	const struct auth_ctx *ctx = vctx;
	struct login_user user;
	int r;

	r = login_secret(&ctx->db, LOGIN_SMTP, login, &user, err, errsize);
	if (r == LOGIN_OK && (*secret_r = strdup(user.secret)) == NULL) {
		snprintf(err, errsize, "out of memory");
		r = LOGIN_TEMPFAIL;
	}
	*relay_r = r == LOGIN_OK && !user.no_relay;
	login_user_clear(&user);
	return r;
}

/* ----- the message sink over the queue (queue.h) ----- */

static void *
queue_sink_begin(void *vctx, const struct queue_envelope *env, char *err, size_t errsize)
{
	struct smtp_queue_target *t = vctx;

	return queue_begin_in(t->queue_dir, &t->new_dirfd, t->fsync, env, err, errsize);
}

static int
queue_sink_write(void *msg, const void *data, size_t len, char *err, size_t errsize)
{
	return queue_write(msg, data, len, err, errsize);
}

static int
queue_sink_commit(void *msg, char id_r[QUEUE_ID_MAX + 1], char *err, size_t errsize)
{
	return queue_commit(msg, id_r, err, errsize);
}

static void
queue_sink_abort(void *msg)
{
	queue_abort(msg);
}

const struct smtp_sink smtp_queue_sink = {
	.begin = queue_sink_begin,
	.write = queue_sink_write,
	.commit = queue_sink_commit,
	.abort = queue_sink_abort,
};

/* The session's events of its last call as log lines (the text the session once logged itself);
 * relay: " relay=pop-before-smtp user=NAME" for a message relayed on a login, else "". */
static void
log_events(const struct smtp_session *s, const char *addr, const char *relay)
{
	size_t i, n;
	const struct smtp_event *ev = smtp_session_events(s, &n);

	for (i = 0; i < n; i++, ev++) {
		switch (ev->type) {
		case SMTP_EVENT_REFUSED_SENDER:
			metrics_inc(M_SMTP_REJ_BADMAILFROM);
			log_info("refused sender: addr=%s helo=%s from=<%s>: badmailfrom", addr,
				 ev->helo, ev->from);
			break;
		case SMTP_EVENT_REFUSED_RCPT:
			log_info("refused recipient: addr=%s helo=%s from=<%s> to=<%s>: %s", addr,
				 ev->helo, ev->from, ev->to, ev->why);
			break;
		case SMTP_EVENT_LOOKUP_FAILED:
			log_warnx("addr=%s to=<%s>: %s", addr, ev->to, ev->why);
			break;
		case SMTP_EVENT_SINK_BEGIN_FAILED:
			log_warnx("addr=%s: cannot queue: %s", addr, ev->why);
			break;
		case SMTP_EVENT_SINK_WRITE_FAILED:
			log_warnx("addr=%s: queue write: %s", addr, ev->why);
			break;
		case SMTP_EVENT_SINK_COMMIT_FAILED:
			log_warnx("addr=%s: queue commit: %s", addr, ev->why);
			break;
		case SMTP_EVENT_MESSAGE:
			metrics_inc(strcmp(ev->result, "queued") == 0 ? M_SMTP_MSG_ACCEPTED :
				    strcmp(ev->result, "refused") == 0 ? M_SMTP_MSG_REFUSED :
				    M_SMTP_MSG_QUEUE_ERROR);
			log_info("message: addr=%s%s helo=%s auth=%s tls=%s from=<%s> to=%s size=%llu "
				 "id=%s result=%s", addr, relay, ev->helo, ev->auth_user, ev->tls ? "yes" : "no",
				 ev->from, ev->to, (unsigned long long)ev->size, ev->id, ev->result);
			break;
		case SMTP_EVENT_HTTP:
			log_info("addr=%s: HTTP request on the SMTP port: closed", addr);
			break;
		}
	}
}

/* Say one line and end the connection (before any session exists). */
static noreturn void
goodbye(struct session_loop *l, const char *text, const char *line, const char *why)
{
	log_info("session: addr=%s end=refused (%s)", text, why);
	buf_reset(&l->out);
	(void)buf_printf(&l->out, "%s\r\n", line);
	(void)netconn_flush(l->c, &l->out);
	session_loop_free(l);
	_exit(0);
}

/* One connection: what the loop's callbacks need. */
struct smtp_conn {
	const struct smtpd *d;
	const char *text;               /* the client address */
	const char *relay;              /* log_events' relay text */
	struct smtp_session *s;
};

/* The session's action bits as the loop's. */
static unsigned
loop_act(unsigned act)
{
	return (act & SMTP_ACT_CLOSE ? LOOP_CLOSE : 0) |
	       (act & SMTP_ACT_STARTTLS ? LOOP_STARTTLS : 0) |
	       (act & SMTP_ACT_DATA ? LOOP_BODY : 0) |
	       (act & SMTP_ACT_AUTH_OK ? LOOP_LOGIN_OK : 0) |
	       (act & SMTP_ACT_AUTH_FAILED ? LOOP_LOGIN_FAILED : 0);
}

static void
smtp_greeting(void *vp, struct buf *out)
{
	smtp_session_greeting(((struct smtp_conn *)vp)->s, out);
}

static unsigned
smtp_line(void *vp, const char *line, size_t len, struct buf *out, size_t *raw_r)
{
	const struct smtp_conn *p = vp;
	unsigned act = smtp_session_line(p->s, line, len, out);

	(void)raw_r;
	log_events(p->s, p->text, p->relay);
	return loop_act(act);
}

/* The DATA body, until the session has its end (the loop holds it to smtp_min_data_rate). */
static size_t
smtp_input(void *vp, const char *data, size_t len, struct buf *out, unsigned *act_r,
	   size_t *raw_r)
{
	const struct smtp_conn *p = vp;
	unsigned act = 0;
	size_t used = smtp_session_data(p->s, data, len, out, &act);

	(void)raw_r;
	log_events(p->s, p->text, p->relay);
	*act_r = loop_act(act);
	return used;
}

static void
smtp_timeout(void *vp, struct buf *out)
{
	smtp_session_timeout(((struct smtp_conn *)vp)->s, out);
}

static void
smtp_expired(void *vp, struct buf *out)
{
	smtp_session_expired(((struct smtp_conn *)vp)->s, out);
}

static void
smtp_tls_started(void *vp, const char *tls_info)
{
	smtp_session_tls_started(((struct smtp_conn *)vp)->s, tls_info);
}

static void
smtp_login_key(void *vp, char *key, size_t size)
{
	const struct smtp_conn *p = vp;

	userdb_login_key(smtp_session_auth_login(p->s), p->d->conf.default_domain, key, size);
}

static void
smtp_login(void *vp, bool ok)
{
	const struct smtp_conn *p = vp;

	if (ok)
		log_info("auth: addr=%s user=%s", p->text, smtp_session_auth_user(p->s));
	else
		log_info("auth failed: addr=%s user=%s: %s", p->text, smtp_session_auth_login(p->s),
			 smtp_session_error(p->s));
}

static const struct session_loop_ops smtp_ops = {
	.greeting = smtp_greeting,
	.line = smtp_line,
	.input = smtp_input,
	.timeout = smtp_timeout,
	.expired = smtp_expired,
	.tls_started = smtp_tls_started,
	.login_key = smtp_login_key,
	.login = smtp_login,
};

bool
smtpd_serve(void *vctx, int fd, const struct ipaddr *addr, int kind, unsigned prior_failures)
{
	const struct smtpd *d = vctx;
	struct auth_ctx actx = { .db = { .users_dir = d->conf.users_dir,
					.default_domain = d->conf.default_domain } };
	struct smtp_queue_target queue = { .queue_dir = d->queue_dir, .fsync = d->conf.fsync,
					   .new_dirfd = -1 };
	struct smtp_conn p = { .d = d };
	struct smtp_session_config cfg;
	struct relay_decision rd;
	struct relay_state rstate;
	struct session_loop l;
	struct policy *policy;
	char text[IPADDR_TEXT_MAX], me[256], err[512], relay[32 + OPENSMTP_USER_MAX];
	const char *relayclient;
	unsigned long timeout, databytes;
	bool plain;

	ipaddr_format(addr, text);
	p.text = text;
	metrics_inc(M_SMTP_SESSIONS);
	/* A bad or out-of-range value: the default, as qmail-smtpd would not start with it. */
	if (control_read_seconds(d->conf.control_dir, "timeoutsmtpd", SMTPD_DEFAULT_TIMEOUT, 1,
				 CONTROL_TIMEOUT_MAX, &timeout, err, sizeof(err)) == -1)
		log_warnx("%s: %s", text, err);
	if (session_loop_init(&l, fd, text, time_secs_to_ms((long long)timeout), SMTP_COMMAND_MAX,
			      d->conf.smtp_session_deadline, d->tls, kind == SMTPD_KIND_SMTPS) == -1)
		_exit(0);
	l.body_min_rate = d->conf.smtp_min_data_rate;
	l.prior_failures = prior_failures;

	/* The relay decision is made afresh for every connection: a new relay.cdb
	 * or rules file counts at once (a broken rules edit keeps the rules in force). */
	if (rules_file_refresh(d->rules, d->conf.rules, err, sizeof(err)) == -1)
		log_warnx("%s: rules: %s (keeping the rules in force)", text, err);
	rstate = (struct relay_state){ .cdb_path = d->relay_cdb, .statics = &d->rules->rules,
				       .opensmtp_dirfd = d->opensmtp_fd,
				       .relay_expire = d->conf.relay_expire,
				       .ipv6_prefix = d->conf.relay_ipv6_prefix };
	if (relay_decide(&rstate, addr, &rd) == -1) {
		log_warn("%s: %s", text, d->relay_cdb);
		goodbye(&l, text, "421 4.3.0 Service temporarily unavailable (relay table unreadable)",
			"relay.cdb unreadable");
	}
	if (!rd.connect) {
		metrics_inc(M_SMTP_REJ_DENY_RULE);
		goodbye(&l, text, "421 4.7.1 Sorry, your address is refused by this server's rules",
			"deny rule");
	}
	relayclient = rd.relay ? relaydb_getenv(&rd.rule, "RELAYCLIENT") : NULL;

	control_me(d->conf.control_dir, me, sizeof(me));
	if (control_read_ulong(d->conf.control_dir, "databytes", SMTPD_DEFAULT_DATABYTES,
			       &databytes) == -1)
		databytes = SMTPD_DEFAULT_DATABYTES;
	if ((policy = policy_load(d->conf.control_dir, d->conf.users_dir, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", text, err);
		goodbye(&l, text, "421 4.3.0 Service temporarily unavailable (control files unreadable)",
			"control files unreadable");
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = me;
	cfg.client_addr = text;
	cfg.tls_available = d->tls != NULL;
	cfg.tls_active = kind == SMTPD_KIND_SMTPS;
	cfg.submission = kind != SMTPD_KIND_SMTP;
	cfg.auth_plaintext_ok = d->conf.smtp_loopback_plaintext && ipaddr_is_loopback(addr);
	cfg.advertise_cram_md5 = d->conf.advertise_cram_md5;
	/* Relay rights come from rules on port 25 only; submission wants AUTH from everyone. */
	cfg.may_relay = relayclient != NULL && kind == SMTPD_KIND_SMTP;
	cfg.relayclient = relayclient;
	/* Who is behind a POP-before-SMTP relay right (the entry names the last
	 * login from the address; every login has its own line in the POP3/IMAP log). */
	if (cfg.may_relay && rd.dynamic && rd.user[0] != '\0')
		cfg.relay_user = rd.user;
	cfg.relay_dynamic = cfg.may_relay && rd.dynamic;
	cfg.received_auth_user = d->conf.received_auth_user;
	relay[0] = '\0';
	if (cfg.may_relay && rd.dynamic)
		snprintf(relay, sizeof(relay), " relay=pop-before-smtp user=%s",
			 rd.user[0] != '\0' ? rd.user : "-");
	p.relay = relay;
	cfg.databytes = databytes;
	cfg.max_errors = d->conf.smtp_max_errors;
	cfg.max_auth_failures = d->conf.smtp_max_auth_failures;
	cfg.policy = policy;
	cfg.sink = &smtp_queue_sink;
	cfg.sink_ctx = &queue;
	cfg.ctx = &actx;
	cfg.check_password = check_password;
	cfg.get_secret = get_secret;
	if ((p.s = smtp_session_new(&cfg)) == NULL)
		goodbye(&l, text, "421 4.3.0 Service temporarily unavailable", "out of memory");
	if (cfg.tls_active)
		smtp_session_tls_started(p.s, l.tls_info);

	session_loop_run(&l, &smtp_ops, &p);

	{
		const struct smtp_session_stats *st = smtp_session_stats(p.s);

		log_info("session: addr=%s helo=%s relay=%s%s%s auth=%s tls=%s end=%s messages=%lu "
			 "rejected=%lu octets=%llu",
			 text, smtp_session_helo(p.s)[0] != '\0' ? smtp_session_helo(p.s) : "-",
			 cfg.may_relay ? (rd.dynamic ? "pop-before-smtp" : "rule") : "no",
			 cfg.may_relay && rd.dynamic ? " user=" : "",
			 cfg.may_relay && rd.dynamic ? (rd.user[0] != '\0' ? rd.user : "-") : "",
			 smtp_session_auth_user(p.s)[0] != '\0' ? smtp_session_auth_user(p.s) : "-",
			 l.tls_info, l.end, st->messages, st->rejected, (unsigned long long)st->octets);
	}
	plain = smtp_session_plain(p.s);
	smtp_session_free(p.s);
	policy_free(policy);
	session_loop_free(&l);
	if (queue.new_dirfd != -1)
		close(queue.new_dirfd);
	return plain;
}
