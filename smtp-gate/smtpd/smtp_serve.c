/* smtp_serve.c - one SMTP connection in its own process: the relay decision, the control files, the session loop. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "command.h"
#include "control.h"
#include "log.h"
#include "login.h"
#include "monotonic.h"
#include "netconn.h"
#include "policy.h"
#include "relaycheck.h"
#include "rules.h"
#include "server.h"
#include "smtp_session.h"
#include "smtpd.h"
#include "timecalc.h"
#include "tls.h"
#include "userdb.h"

/* qmail's defaults for control/timeoutsmtpd; databytes when the file is missing (Postfix's size). */
#define SMTPD_DEFAULT_TIMEOUT 1200
#define SMTPD_DEFAULT_DATABYTES 10240000ul
/* The TLS handshake gets this long at most. */
#define SMTPD_HANDSHAKE_MS 60000

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

/* Say one line and end the connection (before any session exists). */
static noreturn void
goodbye(struct netconn *c, struct buf *out, const char *text, const char *line, const char *why)
{
	log_info("session: addr=%s end=refused (%s)", text, why);
	buf_reset(out);
	(void)buf_printf(out, "%s\r\n", line);
	(void)netconn_flush(c, out);
	buf_free(out);
	netconn_close(c);
	_exit(0);
}

/*
 * Feed the DATA body to the session until it has its end; "" or why the
 * connection ended.  As Postfix's smtpd_min_data_rate: the body must be in
 * within the timeout plus the time its bytes take at min_rate bytes/s, so
 * a client trickling a byte now and then is cut off, and a big message on
 * a slow but honest link is not (every read also waits the timeout at most).
 */
static const char *
read_body(struct netconn *c, struct smtp_session *s, struct buf *out, unsigned *act,
	  unsigned min_rate)
{
	const char *end = "";
	long long start;
	uint64_t got = 0;

	/* The clock starts once the 354 is out. */
	if (netconn_flush(c, out) == -1)
		return netconn_end_reason(-1);
	start = monotonic_ms();
	while (*act & SMTP_ACT_DATA) {
		const char *data;
		size_t len, used;
		int r;

		c->read_deadline = monotonic_after(monotonic_after(start, c->timeout_ms),
						   monotonic_rate_ms(got, min_rate));
		if ((r = netconn_peek(c, out, &data, &len)) <= 0) {
			end = netconn_end_reason(r);
			break;
		}
		used = smtp_session_data(s, data, len, out, act);
		netconn_consume(c, used);
		got += used;
	}
	c->read_deadline = 0;
	return end;
}

noreturn void
smtpd_serve(void *vctx, int fd, const struct ipaddr *addr, int kind, unsigned prior_failures)
{
	const struct smtpd *d = vctx;
	struct auth_ctx actx = { .db = { .users_dir = d->conf.users_dir,
					.default_domain = d->conf.default_domain } };
	struct smtp_session_config cfg;
	struct relay_decision rd;
	struct relay_state rstate;
	struct smtp_session *s;
	struct policy *policy;
	struct netconn *c;
	struct buf out;
	char text[IPADDR_TEXT_MAX], me[256], err[512], tls_info[96] = "no";
	char login[USERDB_LOGIN_KEY_MAX + 1];
	const char *end = "closed", *relayclient;
	unsigned long timeout, databytes;
	unsigned failures = 0;

	ipaddr_format(addr, text);
	buf_init(&out, 0);
	/* A bad or out-of-range value: the default, as qmail-smtpd would not start with it. */
	if (control_read_seconds(d->conf.control_dir, "timeoutsmtpd", SMTPD_DEFAULT_TIMEOUT, 1,
				 CONTROL_TIMEOUT_MAX, &timeout, err, sizeof(err)) == -1)
		log_warnx("%s: %s", text, err);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatalx("%s: out of memory", text);
	if (netconn_init(c, fd, time_secs_to_ms((long long)timeout), SMTP_COMMAND_MAX) == -1)
		fatal("%s: fcntl", text);
	/* The session ends by then whatever the client does (slots are not held forever). */
	c->session_deadline = monotonic_after(monotonic_ms(), d->conf.smtp_session_deadline * 1000LL);

	if (kind == SMTPD_KIND_SMTPS) {
		int hs = c->timeout_ms < SMTPD_HANDSHAKE_MS ? c->timeout_ms : SMTPD_HANDSHAKE_MS;

		if (netconn_starttls(c, d->tls, &out, hs, err, sizeof(err)) == -1) {
			log_info("session: addr=%s tls=failed end=handshake (%s)", text, err);
			_exit(0);
		}
		tls_describe(c->tls, tls_info, sizeof(tls_info));
	}

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
		goodbye(c, &out, text, "421 4.3.0 Service temporarily unavailable (relay table unreadable)",
			"relay.cdb unreadable");
	}
	if (!rd.connect)
		goodbye(c, &out, text, "421 4.7.1 Sorry, your address is refused by this server's rules",
			"deny rule");
	relayclient = rd.relay ? relaydb_getenv(&rd.rule, "RELAYCLIENT") : NULL;

	control_me(d->conf.control_dir, me, sizeof(me));
	if (control_read_ulong(d->conf.control_dir, "databytes", SMTPD_DEFAULT_DATABYTES,
			       &databytes) == -1)
		databytes = SMTPD_DEFAULT_DATABYTES;
	if ((policy = policy_load(d->conf.control_dir, d->conf.users_dir, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", text, err);
		goodbye(c, &out, text, "421 4.3.0 Service temporarily unavailable (control files unreadable)",
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
	cfg.databytes = databytes;
	cfg.policy = policy;
	cfg.queue_dir = d->queue_dir;
	cfg.fsync = d->conf.fsync;
	cfg.ctx = &actx;
	cfg.check_password = check_password;
	cfg.get_secret = get_secret;
	if ((s = smtp_session_new(&cfg)) == NULL)
		goodbye(c, &out, text, "421 4.3.0 Service temporarily unavailable", "out of memory");
	if (cfg.tls_active)
		smtp_session_tls_started(s, tls_info);

	smtp_session_greeting(s, &out);
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		unsigned act;
		bool was_quit;
		int r = netconn_line(c, &out, &line, &len);

		if (r <= 0) {
			end = netconn_end_reason(r);
			if (r == -1 && errno == ETIMEDOUT) {
				smtp_session_timeout(s, &out);
				(void)netconn_flush(c, &out);
			} else if (r == -1 && errno == ETIME) {
				smtp_session_expired(s, &out);
				(void)netconn_flush(c, &out);
			}
			break;
		}
		was_quit = len >= 4 && strncasecmp(line, "QUIT", 4) == 0;
		act = smtp_session_line(s, line, len, &out);
		/* The line may have carried a password (AUTH PLAIN, a LOGIN answer). */
		explicit_bzero((char *)line, len);
		/* Throttling counts per address and login: the name as the login check reads it. */
		if (act & (SMTP_ACT_AUTH_FAILED | SMTP_ACT_AUTH_OK))
			userdb_login_key(smtp_session_auth_login(s), d->conf.default_domain, login,
					 sizeof(login));
		if (act & SMTP_ACT_AUTH_FAILED) {
			log_info("auth failed: addr=%s user=%s: %s", text, smtp_session_auth_login(s),
				 smtp_session_error(s));
			server_login_failed(login, prior_failures + ++failures);
		}
		if (act & SMTP_ACT_AUTH_OK) {
			server_report_login(login, true);
			log_info("auth: addr=%s user=%s", text, smtp_session_auth_user(s));
		}
		if (act & SMTP_ACT_DATA) {
			end = read_body(c, s, &out, &act, d->conf.smtp_min_data_rate);
			/* As between commands: the client hears why (the message is dropped). */
			if (strcmp(end, "timeout") == 0)
				smtp_session_timeout(s, &out);
			else if (strcmp(end, "deadline") == 0)
				smtp_session_expired(s, &out);
			if (out.len > 0 && end[0] != '\0')
				(void)netconn_flush(c, &out);
			if (end[0] != '\0')
				break;
			end = "closed";
		}
		if (act & SMTP_ACT_STARTTLS) {
			int hs = c->timeout_ms < SMTPD_HANDSHAKE_MS ? c->timeout_ms : SMTPD_HANDSHAKE_MS;

			/* Commands pipelined after STARTTLS are dropped unread (RFC 3207 section 4.2). */
			if (netconn_starttls(c, d->tls, &out, hs, err, sizeof(err)) == -1) {
				log_info("addr=%s: STARTTLS: %s", text, err);
				end = "tls-failed";
				break;
			}
			tls_describe(c->tls, tls_info, sizeof(tls_info));
			smtp_session_tls_started(s, tls_info);
		}
		if (act & SMTP_ACT_CLOSE) {
			(void)netconn_flush(c, &out);
			end = was_quit ? "quit" : "closed";
			break;
		}
	}

	{
		const struct smtp_session_stats *st = smtp_session_stats(s);

		log_info("session: addr=%s helo=%s relay=%s auth=%s tls=%s end=%s messages=%lu "
			 "rejected=%lu octets=%llu",
			 text, smtp_session_helo(s)[0] != '\0' ? smtp_session_helo(s) : "-",
			 cfg.may_relay ? (rd.dynamic ? "pop-before-smtp" : "rule") : "no",
			 smtp_session_auth_user(s)[0] != '\0' ? smtp_session_auth_user(s) : "-",
			 tls_info, end, st->messages, st->rejected, (unsigned long long)st->octets);
	}
	smtp_session_free(s);
	policy_free(policy);
	buf_free(&out);
	netconn_close(c);
	free(c);
	_exit(0);
}
