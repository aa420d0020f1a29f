/* session_loop.c - the one per-connection loop of the protocol servers (POP3, SMTP, IMAP to come): lines, bodies, literals, streams, STARTTLS, login throttling, deadlines. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "monotonic.h"
#include "netconn.h"
#include "server.h"
#include "session_loop.h"
#include "tls.h"

static int
handshake_ms(const struct session_loop *l)
{
	return l->c->timeout_ms < SESSION_LOOP_HANDSHAKE_MS ? l->c->timeout_ms
							    : SESSION_LOOP_HANDSHAKE_MS;
}

int
session_loop_init(struct session_loop *l, int fd, const char *addr_text, int timeout_ms,
		  size_t line_max, long long deadline_s, struct tls_server *tls, bool implicit_tls)
{
	char err[256];

	memset(l, 0, sizeof(*l));
	l->addr_text = addr_text;
	l->tls = tls;
	l->starttls_verb = "STARTTLS";
	l->end = "closed";
	l->login_failed = server_login_failed;
	l->report_login = server_report_login;
	memcpy(l->tls_info, "no", 3);
	buf_init(&l->out, 0);
	/* On the heap, wiped at the end: the input buffer held passwords. */
	if ((l->c = calloc(1, sizeof(*l->c))) == NULL)
		fatalx("%s: out of memory", addr_text);
	if (netconn_init(l->c, fd, timeout_ms, line_max) == -1)
		fatal("%s: fcntl", addr_text);
	/* The session ends by then whatever the client does (slots are not held forever). */
	l->c->session_deadline = monotonic_after(monotonic_ms(), deadline_s * 1000LL);
	if (!implicit_tls)
		return 0;
	if (tls == NULL) {
		log_info("session: addr=%s tls=failed end=handshake (no TLS configured)", addr_text);
		return -1;
	}
	if (netconn_starttls(l->c, tls, &l->out, handshake_ms(l), err, sizeof(err)) == -1) {
		log_info("session: addr=%s tls=failed end=handshake (%s)", addr_text, err);
		return -1;
	}
	tls_describe(l->c->tls, l->tls_info, sizeof(l->tls_info));
	return 0;
}

/*
 * The session ends on end (what netconn said): a client that was too slow
 * hears why, as does one that ran into the session deadline.  flush_rest:
 * also send what else is waiting (after a body, the replies to it).
 */
static void
farewell(struct session_loop *l, const struct session_loop_ops *ops, void *proto, const char *end,
	 bool flush_rest)
{
	bool say = false;

	l->end = end;
	if (strcmp(end, "timeout") == 0) {
		ops->timeout(proto, &l->out);
		say = true;
	} else if (strcmp(end, "deadline") == 0) {
		ops->expired(proto, &l->out);
		say = true;
	}
	if (say || (flush_rest && l->out.len > 0))
		(void)netconn_flush(l->c, &l->out);
}

/* A login was tried: name it, log it, and report it to the throttle (which delays a failure). */
static void
login(struct session_loop *l, const struct session_loop_ops *ops, void *proto, unsigned act)
{
	char key[SESSION_LOOP_LOGIN_MAX] = "";

	/* Throttling counts per address and login: the name as the login check reads it. */
	if (ops->login_key != NULL)
		ops->login_key(proto, key, sizeof(key));
	if (act & LOOP_LOGIN_FAILED) {
		if (ops->login != NULL)
			ops->login(proto, false);
		l->login_failed(key, l->prior_failures + ++l->failures, l->c->session_deadline);
	}
	if (act & LOOP_LOGIN_OK) {
		l->logged_in = true;
		l->report_login(key, true);
		if (ops->login != NULL)
			ops->login(proto, true);
	}
}

/* Send a long reply with bounded memory; false (errno set) when the client cannot take it. */
static bool
stream(struct session_loop *l, const struct session_loop_ops *ops, void *proto, unsigned *more_r)
{
	/*
	 * At most SESSION_LOOP_STREAM_FLUSH bytes wait in out.  Status line,
	 * body and terminator go out together (netconn_line sends the rest
	 * before reading): three small sends made each POP3 RETR wait ~40 ms
	 * for a delayed ACK.
	 */
	for (;;) {
		if (l->out.len >= SESSION_LOOP_STREAM_FLUSH && netconn_flush(l->c, &l->out) == -1)
			return false;
		*more_r = ops->stream(proto, &l->out);
		if (!(*more_r & LOOP_STREAM))
			return true;
	}
}

/*
 * Feed raw client octets to the protocol: until it clears LOOP_BODY, or
 * (LOOP_RAW) exactly *raw octets.  "" or why the connection ended.  As
 * Postfix's smtpd_min_data_rate: the octets must be in within the timeout
 * plus the time they take at body_min_rate octets/s, so a client
 * trickling a byte now and then is cut off, and a big message on a slow
 * but honest link is not (every read also waits the timeout at most).
 */
static const char *
read_input(struct session_loop *l, const struct session_loop_ops *ops, void *proto,
	   unsigned *act, size_t *raw)
{
	bool counted = (*act & LOOP_RAW) != 0;
	size_t left = counted ? *raw : 0;
	const char *end = "";
	long long start;
	uint64_t got = 0;

	/* The clock starts once the go-ahead (SMTP's 354, IMAP's "+") is out. */
	if (netconn_flush(l->c, &l->out) == -1)
		return netconn_end_reason(-1);
	start = monotonic_ms();
	if (counted && left == 0) {
		/* An empty literal: the protocol still hears that it is complete. */
		*act = 0;
		(void)ops->input(proto, "", 0, &l->out, act, raw);
		return end;
	}
	while (counted ? left > 0 : (*act & LOOP_BODY) != 0) {
		const char *data;
		size_t len, used;
		int r;

		l->c->read_deadline = monotonic_after(monotonic_after(start, l->c->timeout_ms),
						      monotonic_rate_ms(got, l->body_min_rate));
		if ((r = netconn_peek(l->c, &l->out, &data, &len)) <= 0) {
			end = netconn_end_reason(r);
			break;
		}
		if (counted && len > left)
			len = left;
		*act = 0;
		used = ops->input(proto, data, len, &l->out, act, raw);
		netconn_consume(l->c, used);
		got += used;
		if (counted) {
			if (used == 0) {
				end = "error";
				break;
			}
			left -= used;
		}
	}
	l->c->read_deadline = 0;
	return end;
}

/* Start TLS on the client's request; false when the session cannot go on. */
static bool
starttls(struct session_loop *l, const struct session_loop_ops *ops, void *proto)
{
	char err[256];

	/* Flushed apart from the handshake: a failed write is an I/O error, not a TLS one. */
	if (netconn_flush(l->c, &l->out) == -1) {
		l->end = "io-error";
		return false;
	}
	/* Commands pipelined after STARTTLS are dropped unread (RFC 3207 section 4.2, RFC 2595 section 4). */
	if (l->tls == NULL) {
		log_info("addr=%s: %s: no TLS configured", l->addr_text, l->starttls_verb);
		l->end = "tls-failed";
		return false;
	}
	if (netconn_starttls(l->c, l->tls, &l->out, handshake_ms(l), err, sizeof(err)) == -1) {
		log_info("addr=%s: %s: %s", l->addr_text, l->starttls_verb, err);
		l->end = "tls-failed";
		return false;
	}
	tls_describe(l->c->tls, l->tls_info, sizeof(l->tls_info));
	if (ops->tls_started != NULL)
		ops->tls_started(proto, l->tls_info);
	return true;
}

/* Do what the protocol asked after a line; false when the session is over (l->end set). */
static bool
perform(struct session_loop *l, const struct session_loop_ops *ops, void *proto, unsigned act,
	size_t raw, bool was_quit)
{
	for (;;) {
		const char *end;

		if (act & (LOOP_LOGIN_FAILED | LOOP_LOGIN_OK))
			login(l, ops, proto, act);
		if ((act & LOOP_ERROR) && ops->error != NULL)
			ops->error(proto);
		if (act & LOOP_STREAM) {
			unsigned more = 0;

			if (!stream(l, ops, proto, &more)) {
				/* Within a multi-line reply: no farewell can be told apart from it. */
				l->end = netconn_end_reason(-1);
				return false;
			}
			if ((more & LOOP_ERROR) && ops->error != NULL)
				ops->error(proto);
			if (more & LOOP_CLOSE) {
				/* The stream could not be finished. */
				(void)netconn_flush(l->c, &l->out);
				l->end = "error";
				return false;
			}
		}
		if (!(act & (LOOP_BODY | LOOP_RAW)))
			break;
		/* What the protocol does after the octets replaces what it did after the line. */
		end = read_input(l, ops, proto, &act, &raw);
		if (end[0] != '\0') {
			/* As between commands: the client hears why (a body is dropped). */
			farewell(l, ops, proto, end, true);
			return false;
		}
	}
	if ((act & LOOP_STARTTLS) && !starttls(l, ops, proto))
		return false;
	if (act & LOOP_CLOSE) {
		(void)netconn_flush(l->c, &l->out);
		l->end = was_quit ? "quit" : "closed";
		return false;
	}
	return true;
}

/*
 * Wait for the client, the protocol's wake fd (IMAP IDLE) or its timer
 * (wake_ms, -1: none), whichever comes first, within the per-line timeout
 * counted from line_start and the session deadline.  1: the client (or
 * input already buffered), 2: the wake fd or the timer, 0/-1 as
 * netconn_line (the client's end, errno ETIMEDOUT/ETIME).
 */
static int
wait_wake(struct session_loop *l, int wfd, int wake_ms, long long line_start)
{
	long long until = monotonic_after(line_start, l->c->timeout_ms), timer = 0;

	if (netconn_flush(l->c, &l->out) == -1)
		return -1;
	if (netconn_pending(l->c))
		return 1;
	if (l->c->session_deadline != 0 && l->c->session_deadline < until)
		until = l->c->session_deadline;
	if (wake_ms >= 0)
		timer = monotonic_after(monotonic_ms(), wake_ms);
	for (;;) {
		/* poll ignores a negative fd: the timer alone. */
		struct pollfd pfd[2] = { { .fd = l->c->fd, .events = POLLIN },
					 { .fd = wfd, .events = POLLIN } };
		long long now = monotonic_ms();
		int left = monotonic_wait_ms(now, INT32_MAX, until), r;

		if (left <= 0)
			break;
		if (timer != 0 && timer < until) {
			if (now >= timer)
				return 2;
			left = monotonic_wait_ms(now, INT32_MAX, timer);
		}
		if ((r = poll(pfd, 2, left)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* The client first: a DONE that came with a change ends the wait. */
		if (r > 0 && pfd[0].revents != 0)
			return 1;
		if (r > 0 && pfd[1].revents != 0)
			return 2;
	}
	errno = l->c->session_deadline != 0 && monotonic_ms() >= l->c->session_deadline ? ETIME
											: ETIMEDOUT;
	return -1;
}

void
session_loop_run(struct session_loop *l, const struct session_loop_ops *ops, void *proto)
{
	/* When the wait for the next line began: wakes between lines do not restart its timeout. */
	long long line_start = 0;

	ops->greeting(proto, &l->out);
	for (;;) {
		const char *line = NULL;
		size_t len = 0, raw = 0;
		unsigned act;
		bool was_quit;
		int wfd = ops->wake_fd != NULL ? ops->wake_fd(proto) : -1, r;
		int wms = ops->wake_ms != NULL ? ops->wake_ms(proto) : -1;

		if (ops->line_timeout_ms != NULL)
			l->c->timeout_ms = ops->line_timeout_ms(proto);
		if (line_start == 0)
			line_start = monotonic_ms();
		if (wfd >= 0 || wms >= 0) {
			r = wait_wake(l, wfd, wms, line_start);
			if (r <= 0) {
				farewell(l, ops, proto, netconn_end_reason(r), false);
				return;
			}
			if (r == 2) {
				if (!perform(l, ops, proto, ops->woken(proto, &l->out), 0, false))
					return;
				continue;
			}
		}
		line_start = 0;
		r = netconn_line(l->c, &l->out, &line, &len);

		if (r <= 0) {
			farewell(l, ops, proto, netconn_end_reason(r), false);
			return;
		}
		/* For the log: a session the client ended with QUIT ends as "quit". */
		was_quit = len >= 4 && strncasecmp(line, "QUIT", 4) == 0;
		act = ops->line(proto, line, len, &l->out, &raw);
		/* The line may have carried a password (PASS, AUTH PLAIN, a SASL response). */
		explicit_bzero((char *)line, len);
		if (!perform(l, ops, proto, act, raw, was_quit))
			return;
	}
}

void
session_loop_free(struct session_loop *l)
{
	buf_free(&l->out);
	if (l->c != NULL) {
		netconn_close(l->c);
		explicit_bzero(l->c, sizeof(*l->c));
		free(l->c);
		l->c = NULL;
	}
}
