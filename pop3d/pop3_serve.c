/* pop3_serve.c - osd pop3d in the child: one connection through the POP3 session object, to its end. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "monotonic.h"
#include "netconn.h"
#include "pop3d.h"
#include "server.h"
#include "pop3_session.h"
#include "tls.h"
#include "userdb.h"

/* Stream RETR/TOP output in sends of about this size. */
#define POP3D_STREAM_FLUSH (64 * 1024)
/* The TLS handshake gets this long at most (less when the idle timeout is shorter). */
#define POP3D_HANDSHAKE_MS 60000

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

/* Send a RETR/TOP reply with bounded memory; false (errno set) when the client cannot take it. */
static bool
stream(struct netconn *c, struct session *s, struct buf *out, unsigned *more_r)
{
	/*
	 * At most POP3D_STREAM_FLUSH bytes wait in out.  Status line, body
	 * and terminator go out together (netconn_line sends the rest before
	 * reading): three small sends made each RETR wait ~40 ms for a
	 * delayed ACK.
	 */
	for (;;) {
		if (out->len >= POP3D_STREAM_FLUSH && netconn_flush(c, out) == -1)
			return false;
		*more_r = session_stream(s, out);
		if (!(*more_r & SESSION_ACT_STREAM))
			return true;
	}
}

noreturn void
pop3d_serve(void *vpd, int fd, const struct ipaddr *addr, int kind, unsigned prior_failures)
{
	const struct pop3d *pd = vpd;
	struct session_config cfg;
	struct login_ctx ctx = { .pd = pd };
	struct netconn *c;
	struct session *s;
	struct buf out;
	char text[IPADDR_TEXT_MAX], err[256], tlsinfo[96] = "no", retr[48], dele[48];
	char hostname[256] = "", login[USERDB_LOGIN_KEY_MAX + 1];
	const struct session_stats *st;
	const char *end = "closed", *line = NULL;
	unsigned failures = 0, act;
	bool logged_in = false, was_quit;
	size_t len = 0;
	int r, hs;

	ipaddr_format(addr, text);
	/* On the heap, wiped at the end: the input buffer held passwords. */
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatalx("%s: out of memory", text);
	if (netconn_init(c, fd, timeout_ms(&pd->conf), SESSION_LINE_MAX) == -1)
		fatal("%s: fcntl", text);
	/* The session ends by then whatever the client does (slots are not held forever). */
	c->session_deadline = monotonic_after(monotonic_ms(), pd->conf.pop3_session_deadline * 1000LL);
	hs = c->timeout_ms < POP3D_HANDSHAKE_MS ? c->timeout_ms : POP3D_HANDSHAKE_MS;
	/* Bounded: the longest reply is a UIDL/LIST of MAILDIR_MAX_MESSAGES lines. */
	buf_init(&out, 0);

	if (kind == POP3D_IMPLICIT_TLS) {
		if (netconn_starttls(c, pd->tls, &out, hs, err, sizeof(err)) == -1) {
			log_info("session: addr=%s tls=failed end=handshake (%s)", text, err);
			_exit(0);
		}
		tls_describe(c->tls, tlsinfo, sizeof(tlsinfo));
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_available = pd->tls != NULL;
	cfg.tls_active = kind == POP3D_IMPLICIT_TLS;
	cfg.client_loopback = pd->conf.pop3_loopback_plaintext && ipaddr_is_loopback(addr);
	cfg.plaintext_allowed = pd->conf.pop3_plaintext;
	cfg.ctx = &ctx;
	cfg.check_password = auth_check_password;
	cfg.get_secret = auth_get_secret;
	/*
	 * Accepted either way; advertised only when configured: curl and other
	 * clients pick an advertised CRAM-MD5 over PLAIN and do not fall back,
	 * and most users (osd user add) have no cleartext password for it.
	 */
	cfg.advertise_cram_md5 = pd->conf.advertise_cram_md5;
	if (gethostname(hostname, sizeof(hostname) - 1) == 0 && hostname[0] != '\0')
		cfg.hostname = hostname;
	s = session_new(&cfg);
	session_greeting(s, &out);

	for (;;) {
		r = netconn_line(c, &out, &line, &len);
		if (r <= 0) {
			end = netconn_end_reason(r);
			if (r == -1 && errno == ETIMEDOUT) {
				session_timeout(s, &out);
				(void)netconn_flush(c, &out);
			} else if (r == -1 && errno == ETIME) {
				session_expired(s, &out);
				(void)netconn_flush(c, &out);
			}
			break;
		}
		was_quit = len >= 4 && strncasecmp(line, "QUIT", 4) == 0;
		act = session_input_line(s, line, len, &out);
		/* The line may have carried a password (PASS, AUTH, a SASL response). */
		explicit_bzero((char *)line, len);
		/* Throttling counts per address and login: the name as the login check reads it. */
		if (act & (SESSION_ACT_AUTH_FAILED | SESSION_ACT_AUTH_OK))
			userdb_login_key(session_user(s), pd->conf.default_domain, login, sizeof(login));
		if (act & SESSION_ACT_AUTH_FAILED) {
			log_info("login failed: addr=%s user=%s: %s", text, session_user(s),
				 session_error(s));
			server_login_failed(login, prior_failures + ++failures);
		}
		if (act & SESSION_ACT_AUTH_OK) {
			logged_in = true;
			server_report_login(login, true);
			if (ctx.no_relay) {
				log_info("login: addr=%s user=%s (no-relay: not recorded)", text,
					 session_user(s));
			} else {
				auth_record_login(pd, addr, text);
				log_info("login: addr=%s user=%s recorded", text, session_user(s));
			}
		}
		if (act & SESSION_ACT_ERROR)
			log_warnx("addr=%s user=%s: %s", text, session_user(s), session_error(s));
		if (act & SESSION_ACT_STREAM) {
			unsigned more = 0;

			if (!stream(c, s, &out, &more)) {
				/* Within a multi-line reply: no farewell can be told apart from the message. */
				end = netconn_end_reason(-1);
				break;
			}
			if (more & SESSION_ACT_CLOSE) {
				log_warnx("addr=%s user=%s: %s", text, session_user(s), session_error(s));
				(void)netconn_flush(c, &out);
				end = "error";
				break;
			}
		}
		if (act & SESSION_ACT_STARTTLS) {
			/* Flushed apart from the handshake: a failed write is an I/O error, not a TLS one. */
			if (netconn_flush(c, &out) == -1) {
				end = "io-error";
				break;
			}
			if (netconn_starttls(c, pd->tls, &out, hs, err, sizeof(err)) == -1) {
				log_info("addr=%s: STLS: %s", text, err);
				end = "tls-failed";
				break;
			}
			tls_describe(c->tls, tlsinfo, sizeof(tlsinfo));
			session_tls_started(s);
		}
		if (act & SESSION_ACT_CLOSE) {
			(void)netconn_flush(c, &out);
			end = was_quit ? "quit" : "closed";
			break;
		}
	}

	/* The session's counts are final once it is closed (QUIT ran the UPDATE state). */
	st = session_stats(s);
	fmt_octets(retr, sizeof(retr), st->retrieved, st->retrieved_octets);
	fmt_octets(dele, sizeof(dele), st->deleted, st->deleted_octets);
	log_info("session: addr=%s user=%s login=%s tls=%s end=%s retrieved=%s deleted=%s",
		 text, session_user(s)[0] != '\0' ? session_user(s) : "-",
		 logged_in ? "ok" : failures > 0 ? "failed" : "none", tlsinfo, end, retr, dele);
	session_free(s);
	buf_free(&out);
	netconn_close(c);
	explicit_bzero(c, sizeof(*c));
	free(c);
	_exit(0);
}
