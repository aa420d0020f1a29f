/* remote_smtp.c - osd-remote: the route's hosts, a connection to one of their addresses, and the SMTP transaction on it. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "dotstuff.h"
#include "errfmt.h"
#include "ipaddr.h"
#include "mx.h"
#include "netconn.h"
#include "remote_int.h"
#include "smtpc.h"
#include "tls.h"

/* The message goes out in pieces of this much input: never whole in memory. */
#define CHUNK (64 * 1024)
/* The whole DNS lookup, at most. */
#define RESOLVE_MS 60000
/* Waiting for the reply to QUIT: the verdict is known, a slow server must not delay it. */
#define QUIT_MS 5000

/* "PEER said: 550 5.1.1 no such user" */
static const char *
said(const struct remote_conn *s, const struct smtpc_reply *r, char *out, size_t size)
{
	char reply[DELIVERY_TEXT_MAX + 1];

	snprintf(out, size, "%s said: %s", s->peer, smtp_reply_format(r, reply, sizeof(reply)));
	return out;
}

/* "PEER: WHAT: WHY" */
static const char *
failed(const struct remote_conn *s, const char *what, const char *why, char *out, size_t size)
{
	snprintf(out, size, "%s: %s: %s", s->peer, what, why);
	return out;
}

/*
 * Send what waits in s->out, then read the next reply.  0, or -1 with err
 * (the connection is of no further use).
 */
static int
reply(struct remote_conn *s, struct smtpc_reply *r, char *err, size_t errsize)
{
	s->broken = false;
	if (netconn_flush(&s->c, &s->out) == -1) {
		s->broken = errno != ETIMEDOUT;
		return errfmt(err, errsize, "write: %s",
			      errno == ETIMEDOUT ? "timed out" : strerror(errno));
	}
	for (;;) {
		const char *data;
		size_t len, used;
		int n = netconn_peek(&s->c, &s->out, &data, &len), p;

		if (n == 0) {
			s->broken = true;
			return errfmt(err, errsize, "connection closed");
		}
		if (n == -1) {
			/* A reset (or TLS's EOF without close_notify) is a server gone; a timeout is not. */
			s->broken = errno != ETIMEDOUT;
			return errfmt(err, errsize, "%s", errno == ETIMEDOUT ? "timed out" :
				      strerror(errno));
		}
		p = smtp_reply_parse(&s->parser, data, len, &used, r);
		netconn_consume(&s->c, used);
		if (p == 1)
			return 0;
		if (p == -1)
			return errfmt(err, errsize, "malformed reply");
	}
}

/* Send one command line and read its reply. */
static int
command(struct remote_conn *s, const char *line, struct smtpc_reply *r, char *err, size_t errsize)
{
	if (buf_printf(&s->out, "%s\r\n", line) == -1)
		return errfmt(err, errsize, "out of memory");
	return reply(s, r, err, errsize);
}

/* Close the connection (without a word: it is broken, or QUIT was said) and free its buffer. */
void
remote_conn_close(struct remote_conn *s)
{
	if (!s->open)
		return;
	netconn_close(&s->c);
	buf_free(&s->out);
	s->open = false;
}

/* Say goodbye (RFC 5321 4.1.1.10), wait briefly for the answer, and close. */
void
remote_quit(struct remote_conn *s)
{
	struct smtpc_reply r;
	char err[64];

	if (!s->open)
		return;
	s->c.timeout_ms = s->rm->remote_ms < QUIT_MS ? s->rm->remote_ms : QUIT_MS;
	(void)command(s, "QUIT", &r, err, sizeof(err));
	remote_conn_close(s);
}

/*
 * The transaction is over and the connection still good (last_code: its
 * last reply).  A worker keeps it for the next message to the same
 * domain, RSET first unless the final dot got a 2xx; a single shot, or a
 * server that said 421 (it is closing), gets QUIT.
 */
static void
done(struct remote_conn *s, bool clean, int last_code)
{
	if (!s->rm->worker || last_code == 421) {
		remote_quit(s);
		return;
	}
	s->dirty = !clean;
}

/*
 * On a reused connection, did the server drop it while it sat idle (a
 * write error or EOF: failed with s->broken; or a 421 reply)?  Then it is
 * closed, and since the message was not sent yet the caller may redo the
 * transaction on a new connection.
 */
static bool
stale(struct remote_conn *s, bool reused, bool failed, const struct smtpc_reply *r)
{
	if (!reused || !(failed ? s->broken : r->code == 421))
		return false;
	remote_conn_close(s);
	return true;
}

/* Read the message at off (or, not seekable, from where it is); like read(2). */
static ssize_t
msg_read(const struct remote *rm, char *data, size_t size, off_t off)
{
	ssize_t n;

	do
		n = rm->msg_start == -1 ? read(rm->msg_fd, data, size) :
		    pread(rm->msg_fd, data, size, off);
	while (n == -1 && errno == EINTR);
	return n;
}

/*
 * The RFC 1870 size of the message from where msg_fd is, by one pass over
 * it (the queue file is a regular file: it can be read twice).  Not
 * seekable: msg_start -1.
 */
int
msg_measure(struct remote *rm, char *err, size_t errsize)
{
	static char chunk[CHUNK];
	struct dotstuff st;
	off_t off;
	ssize_t n;

	if ((rm->msg_start = lseek(rm->msg_fd, 0, SEEK_CUR)) == -1) {
		if (errno == ESPIPE)
			return 0;
		return errfmt(err, errsize, "message: %s", strerror(errno));
	}
	dotstuff_init(&st);
	for (off = rm->msg_start; (n = msg_read(rm, chunk, sizeof(chunk), off)) > 0; off += n)
		(void)dotstuff_feed(&st, chunk, (size_t)n, NULL);
	if (n == -1)
		return errfmt(err, errsize, "message: %s", strerror(errno));
	(void)dotstuff_end(&st, NULL);
	rm->msg_size = st.size;
	return 0;
}

/*
 * The message after 354: stuffed and sent piece by piece, then the final
 * ".".  A piece is sent only once the next read shows more follows, so
 * the last piece and ".\r\n" leave in one write (reply() flushes them):
 * a lone small terminator would wait for the body's ACK (Nagle, delayed
 * ACK).  At most one stuffed piece is held: never the whole message.
 */
static int
send_body(struct remote_conn *s, char *err, size_t errsize)
{
	static char chunk[CHUNK];
	struct remote *rm = s->rm;
	struct dotstuff st;
	off_t off = rm->msg_start;
	ssize_t n;

	dotstuff_init(&st);
	for (;;) {
		if ((n = msg_read(rm, chunk, sizeof(chunk), off)) == -1) {
			/* Never the final dot after a short message: the server must drop it. */
			return errfmt(err, errsize, "reading the message: %s", strerror(errno));
		}
		if (n == 0)
			break;
		off += n;
		if (netconn_flush(&s->c, &s->out) == -1)
			return errfmt(err, errsize, "write: %s",
				      errno == ETIMEDOUT ? "timed out" : strerror(errno));
		if (dotstuff_feed(&st, chunk, (size_t)n, &s->out) == -1)
			return errfmt(err, errsize, "out of memory");
	}
	if (dotstuff_end(&st, &s->out) == -1)
		return errfmt(err, errsize, "out of memory");
	return 0;
}

/* The message line when no recipient was accepted: D when every one failed permanently. */
static void
none_accepted(struct remote_conn *s, const struct smtpc_reply *last)
{
	struct remote *rm = s->rm;
	char text[DELIVERY_TEXT_MAX + 1], reply_text[DELIVERY_TEXT_MAX + 1];
	bool all_hard = true;

	for (size_t i = 0; i < rm->nrcpts; i++)
		all_hard = all_hard && rm->rcpt_kind[i] == DELIVERY_RCPT_HARD;
	snprintf(text, sizeof(text), "%s accepted no recipient (last reply: %s)", s->peer,
		 smtp_reply_format(last, reply_text, sizeof(reply_text)));
	msg_verdict(rm, all_hard ? DELIVERY_MSG_HARD : DELIVERY_MSG_SOFT, text);
}

/* A verdict class from a reply code: r/K for 2xx, h/D for 5xx, s/Z for the rest. */
static char
kind_of(int code, char ok, char hard, char soft)
{
	return code / 100 == 2 ? ok : code / 100 == 5 ? hard : soft;
}

/*
 * MAIL, RCPT for each recipient, DATA, the message (RFC 5321 3.3), with
 * PIPELINING (RFC 2920) when offered: every command up to DATA in one
 * write, the replies read in order.  On a reused connection after a
 * failed transaction, RSET goes first (in the same write when
 * pipelining).  0 when every verdict is set; 1 (only when reused) when
 * the connection turned out dead before the message went: it is closed,
 * and the verdicts so far are to be forgotten and the whole redone.
 */
int
remote_transaction(struct remote_conn *s, bool reused)
{
	struct remote *rm = s->rm;
	bool pipe = s->ext.pipelining, rset = reused && s->dirty;
	char err[256], text[DELIVERY_TEXT_MAX + 1];
	struct smtpc_reply r, last;
	size_t accepted = 0;
	int ok = 0, fail;

	memset(&last, 0, sizeof(last));
	if (rset && !pipe) {
		/* Whatever RSET's trouble, a new connection is the cure. */
		if (command(s, "RSET", &r, err, sizeof(err)) == -1 || r.code / 100 != 2) {
			remote_conn_close(s);
			return 1;
		}
		rset = false;
	}
	s->dirty = true;
	if (rset)
		ok |= buf_append_str(&s->out, "RSET\r\n");
	ok |= buf_printf(&s->out, "MAIL FROM:<%s>", rm->sender);
	if (s->ext.size && rm->msg_start != -1)
		ok |= buf_printf(&s->out, " SIZE=%llu", (unsigned long long)rm->msg_size);
	ok |= buf_append_str(&s->out, "\r\n");
	for (size_t i = 0; pipe && i < rm->nrcpts; i++)
		ok |= buf_printf(&s->out, "RCPT TO:<%s>\r\n", rm->rcpts[i]);
	if (pipe)
		ok |= buf_append_str(&s->out, "DATA\r\n");
	if (ok != 0) {
		remote_fail_all(rm, false, failed(s, "MAIL", "out of memory", text, sizeof(text)));
		remote_conn_close(s);
		return 0;
	}
	if (rset && (reply(s, &r, err, sizeof(err)) == -1 || r.code / 100 != 2)) {
		remote_conn_close(s);
		return 1;
	}

	if ((fail = reply(s, &r, err, sizeof(err))) == -1 || r.code == 421) {
		if (stale(s, reused, fail == -1, &r))
			return 1;
	}
	if (fail == -1) {
		remote_fail_all(rm, false, failed(s, "MAIL", err, text, sizeof(text)));
		remote_conn_close(s);
		return 0;
	}
	if (r.code / 100 != 2) {
		/* The sender is refused: so is every recipient; pipelined replies after it are moot. */
		remote_fail_all(rm, r.code / 100 == 5, said(s, &r, text, sizeof(text)));
		if (pipe)
			remote_quit(s);        /* unread replies would be taken for the next ones' */
		else
			done(s, false, r.code);
		return 0;
	}

	for (size_t i = 0; i < rm->nrcpts; i++) {
		char line[16 + 1024];

		snprintf(line, sizeof(line), "RCPT TO:<%s>", rm->rcpts[i]);
		if ((fail = pipe ? reply(s, &r, err, sizeof(err)) :
		     command(s, line, &r, err, sizeof(err))) == -1 || r.code == 421) {
			if (stale(s, reused, fail == -1, &r))
				return 1;
		}
		if (fail == -1) {
			failed(s, "RCPT", err, text, sizeof(text));
			rcpt_verdict_rest(rm, DELIVERY_RCPT_SOFT, text);
			msg_verdict(rm, DELIVERY_MSG_SOFT, text);
			remote_conn_close(s);
			return 0;
		}
		rcpt_verdict(rm, i, kind_of(r.code, DELIVERY_RCPT_OK, DELIVERY_RCPT_HARD, DELIVERY_RCPT_SOFT),
			     said(s, &r, text, sizeof(text)));
		if (r.code / 100 == 2)
			accepted++;
		else
			last = r;
	}
	if (accepted == 0 && !pipe) {
		/* Nothing to send the message to: no DATA at all. */
		none_accepted(s, &last);
		done(s, false, last.code);
		return 0;
	}

	if ((fail = pipe ? reply(s, &r, err, sizeof(err)) :
	     command(s, "DATA", &r, err, sizeof(err))) == -1 || r.code == 421) {
		if (stale(s, reused, fail == -1, &r))
			return 1;
	}
	if (fail == -1) {
		msg_verdict(rm, DELIVERY_MSG_SOFT, failed(s, "DATA", err, text, sizeof(text)));
		remote_conn_close(s);
		return 0;
	}
	if (accepted == 0) {
		/* RFC 2920 3.1: a server that says 354 anyway gets an empty message ended at once. */
		if (r.code == 354 && command(s, ".", &r, err, sizeof(err)) == -1) {
			none_accepted(s, &last);
			remote_conn_close(s);
			return 0;
		}
		none_accepted(s, &last);
		done(s, false, r.code);
		return 0;
	}
	if (r.code != 354) {
		msg_verdict(rm, r.code / 100 == 5 ? DELIVERY_MSG_HARD : DELIVERY_MSG_SOFT, said(s, &r, text, sizeof(text)));
		done(s, false, r.code);
		return 0;
	}

	if (send_body(s, err, sizeof(err)) == -1 || reply(s, &r, err, sizeof(err)) == -1) {
		msg_verdict(rm, DELIVERY_MSG_SOFT, failed(s, "message", err, text, sizeof(text)));
		remote_conn_close(s);
		return 0;
	}
	msg_verdict(rm, kind_of(r.code, DELIVERY_MSG_OK, DELIVERY_MSG_HARD, DELIVERY_MSG_SOFT), said(s, &r, text, sizeof(text)));
	done(s, r.code / 100 == 2, r.code);
	return 0;
}

/* EHLO, or HELO when EHLO is refused with a 5xx (RFC 5321 3.2).  0, or -1 with the reason in err. */
static int
hello(struct remote_conn *s, char *err, size_t errsize)
{
	struct smtpc_reply r;
	char line[300], why[256];

	memset(&s->ext, 0, sizeof(s->ext));
	snprintf(line, sizeof(line), "EHLO %s", s->rm->helo);
	if (command(s, line, &r, why, sizeof(why)) == -1)
		return errfmt(err, errsize, "%s: EHLO: %s", s->peer, why);
	if (r.code / 100 == 2) {
		smtp_ehlo_parse(&r, &s->ext);
		return 0;
	}
	if (r.code / 100 == 5) {
		snprintf(line, sizeof(line), "HELO %s", s->rm->helo);
		if (command(s, line, &r, why, sizeof(why)) == -1)
			return errfmt(err, errsize, "%s: HELO: %s", s->peer, why);
		if (r.code / 100 == 2)
			return 0;
	}
	said(s, &r, err, errsize);
	return -1;
}

/*
 * Opportunistic STARTTLS (RFC 3207): 0 when the session may go on (over
 * TLS, or in clear text when the server refuses the command), -1 when this
 * host is of no use (a failed handshake: never clear text on its
 * connection) with err.
 */
static int
starttls(struct remote_conn *s, char *err, size_t errsize)
{
	struct smtpc_reply r;
	char why[256];

	if (!s->ext.starttls)
		return 0;
	if (s->rm->tls == NULL && !s->rm->tls_failed) {
		/*
		 * Made on first use only: most of TLS's set-up cost is here, and
		 * is wasted on servers without STARTTLS.  Kept for the process's
		 * life.  Without it mail still goes, in clear text, as it would to
		 * a server without STARTTLS.
		 */
		s->rm->tls = tls_client_new(why, sizeof(why));
		s->rm->tls_failed = s->rm->tls == NULL;
	}
	if (s->rm->tls == NULL)
		return 0;
	if (command(s, "STARTTLS", &r, why, sizeof(why)) == -1)
		return errfmt(err, errsize, "%s: STARTTLS: %s", s->peer, why);
	if (r.code != 220)
		return 0;
	if (netconn_starttls_client(&s->c, s->rm->tls, s->name, s->rm->remote_ms, why,
				    sizeof(why)) == -1)
		return errfmt(err, errsize, "%s: STARTTLS: %s", s->peer, why);
	/* RFC 3207 4.2: forget what was learnt before TLS, and ask again. */
	smtp_reply_parser_init(&s->parser);
	return hello(s, err, errsize);
}

/*
 * One address of one host: 1 when the transaction took place there (the
 * verdicts are set), 0 when the next address should be tried
 * (rm->last_error says why not this one).
 */
static int
try_address(struct remote *rm, const struct mx_host *h, const struct ipaddr *addr)
{
	struct remote_conn *s = &rm->conn;
	char ip[IPADDR_TEXT_MAX], err[256], text[DELIVERY_TEXT_MAX + 1];
	struct smtpc_reply r;
	int fd;

	memset(s, 0, sizeof(*s));
	s->rm = rm;
	snprintf(s->name, sizeof(s->name), "%s", h->name);
	snprintf(s->domain, sizeof(s->domain), "%s", rm->domain);
	ipaddr_format(addr, ip);
	if (h->name[0] == '[')
		snprintf(s->peer, sizeof(s->peer), "%s", h->name);
	else if (strcmp(h->name, ip) == 0)
		snprintf(s->peer, sizeof(s->peer), "[%s]", ip);
	else
		snprintf(s->peer, sizeof(s->peer), "%s [%s]", h->name, ip);
	if ((fd = netconn_connect(addr, h->port, rm->connect_ms, err, sizeof(err))) == -1) {
		snprintf(text, sizeof(text), "%s: %s", s->peer, err);
		delivery_text_set(rm->last_error, text);
		return 0;
	}
	if (netconn_init(&s->c, fd, rm->remote_ms, SMTPC_LINE_MAX) == -1) {
		delivery_text_set(rm->last_error, failed(s, "socket", strerror(errno), text, sizeof(text)));
		close(fd);
		return 0;
	}
	buf_init(&s->out, 0);
	s->open = true;
	smtp_reply_parser_init(&s->parser);
	if (reply(s, &r, err, sizeof(err)) == -1) {
		delivery_text_set(rm->last_error, failed(s, "greeting", err, text, sizeof(text)));
		remote_conn_close(s);
		return 0;
	}
	if (r.code != 220) {
		/* RFC 5321 3.1: a 554 (or 421) greeting; another host may take the mail. */
		delivery_text_set(rm->last_error, said(s, &r, text, sizeof(text)));
		remote_quit(s);
		return 0;
	}
	if (hello(s, text, sizeof(text)) == -1 || starttls(s, text, sizeof(text)) == -1) {
		delivery_text_set(rm->last_error, text);
		/* After a failed handshake the TLS state is unknown: just close. */
		remote_conn_close(s);
		return 0;
	}
	(void)remote_transaction(s, false);
	return 1;
}

/* Where to send, and the sending: every verdict set. */
void
remote_deliver(struct remote *rm)
{
	static struct mx_result mx;
	struct control_lines routes = { 0 };
	char host[MX_HOST_MAX + 1], err[512];
	unsigned port = 25;
	int routed;

	if (control_read_lines(rm->conf.control_dir, "smtproutes", &routes) == -1) {
		snprintf(err, sizeof(err), "control/smtproutes: %s", strerror(errno));
		remote_fail_all(rm, false, err);
		return;
	}
	routed = mx_route(routes.lines, routes.count, rm->domain, host, &port, err, sizeof(err));
	control_lines_free(&routes);
	if (routed == -1) {
		/* An admin's typo is fixed and retried, never a bounce. */
		char text[DELIVERY_TEXT_MAX + 1];

		snprintf(text, sizeof(text), "control/smtproutes: %s", err);
		remote_fail_all(rm, false, text);
		return;
	}
	if (mx_resolve(rm->conf.resolver, rm->domain, routed == 1 ? host : NULL, port, RESOLVE_MS,
		       &mx) == -1) {
		remote_fail_all(rm, false, mx.error);
		return;
	}
	switch (mx.status) {
	case MX_OK:
		break;
	case MX_NULL:
	case MX_NO_DOMAIN:
		remote_fail_all(rm, true, mx.error);
		return;
	case MX_TEMPFAIL:
	default:
		remote_fail_all(rm, false, mx.error);
		return;
	}
	snprintf(rm->last_error, sizeof(rm->last_error), "no host to deliver to for %s", rm->domain);
	for (size_t i = 0; i < mx.nhosts; i++) {
		const struct mx_host *h = &mx.hosts[i];

		if (h->naddrs == 0)
			snprintf(rm->last_error, sizeof(rm->last_error), "%s: no address", h->name);
		for (size_t j = 0; j < h->naddrs; j++)
			if (try_address(rm, h, &h->addrs[j]))
				return;
	}
	remote_fail_all(rm, false, rm->last_error);
}
