/* remote.c - osd-remote: one message to the recipients of one domain over SMTP, verdicts on stdout; or, as a worker, one such request per stdin line over cached connections (docs/delivery.md). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "control.h"
#include "errfmt.h"
#include "ipaddr.h"
#include "monotonic.h"
#include "mx.h"
#include "netconn.h"
#include "smtpc.h"
#include "tls.h"

/* docs/delivery.md: at most 100 recipients per call (RFC 5321 4.5.3.1.8's minimum). */
#define RCPT_MAX 100
/* A verdict line's text, at most (docs/delivery.md). */
#define VERDICT_MAX 1000
/* The message goes out in pieces of this much input: never whole in memory. */
#define CHUNK (64 * 1024)
/* The whole DNS lookup, at most. */
#define RESOLVE_MS 60000
/* Waiting for the reply to QUIT: the verdict is known, a slow server must not delay it. */
#define QUIT_MS 5000
/* Longer timeouts than a day are a typo, and would overflow milliseconds in an int. */
#define TIMEOUT_MAX 86400
/* Worker: a request line with its LF, at most: 100 recipients of 320 octets and a path fit well. */
#define REQUEST_MAX (64 * 1024)
/* Worker: a cached connection unused this long is closed (Postfix's smtp_connection_cache_time_limit is 2 s; a queue run's next message for a domain comes sooner). */
#define IDLE_MS 5000

_Static_assert(RCPT_MAX == SMTPC_REQ_RCPTS_MAX && MX_HOST_MAX == SMTPC_REQ_DOMAIN_MAX,
	       "the worker's request bounds are the command line's");

struct remote;

/* One connection to one address of one host; a worker keeps it between messages. */
struct session {
	struct remote *rm;
	bool open;                      /* c and out are live */
	bool dirty;                     /* the last transaction did not end in a 2xx to the final dot: RSET first */
	bool broken;                    /* the last reply() failed by a write error or EOF: the server is gone */
	char domain[MX_HOST_MAX + 1];   /* the DOMAIN it was opened for: only that domain's mail reuses it */
	char name[MX_HOST_MAX + 1];     /* the host's name (SNI) */
	char peer[MX_HOST_MAX + IPADDR_TEXT_MAX + 4];   /* "mx1.example.net [192.0.2.25]", for verdicts */
	struct netconn c;
	struct buf out;
	struct smtp_reply_parser parser;
	struct smtp_ehlo ext;
};

struct remote {
	struct osd_conf conf;
	bool worker;                    /* --worker: requests on stdin, connections cached */
	char domain[MX_HOST_MAX + 1];
	const char *sender;             /* as sent in MAIL FROM:<> */
	const char *const *rcpts;
	size_t nrcpts;
	char helo[256];
	int connect_ms, remote_ms;
	struct tls_client *tls;         /* made when a server first offers STARTTLS */
	bool tls_failed;                /* it could not be made: STARTTLS is not used */
	struct session sess;            /* the connection in use, or cached (worker) */
	/* The message: stdin, or the worker's queue file. */
	int msg_fd;
	off_t msg_start;                /* -1: not seekable (read it as a stream) */
	uint64_t msg_size;              /* RFC 1870 size, when msg_start != -1 */
	/* The verdicts: 'r', 'h', 's' per recipient (0: none yet), then 'K', 'Z' or 'D'. */
	char rcpt_kind[RCPT_MAX];
	char rcpt_text[RCPT_MAX][VERDICT_MAX + 1];
	char msg_kind;
	char msg_text[VERDICT_MAX + 1];
	/* Why the last host tried was no good, for when none is. */
	char last_error[VERDICT_MAX + 1];
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd-remote [-c FILE] DOMAIN SENDER RECIPIENT...\n"
		     "       osd-remote [-c FILE] --worker\n"
		     "Deliver the message on standard input (queue form: LF line endings, no\n"
		     "dot-stuffing) to up to %d recipients of DOMAIN in one SMTP transaction:\n"
		     "control/smtproutes, else the MX records of DOMAIN; STARTTLS, SIZE and\n"
		     "PIPELINING when offered.  Prints one verdict line per recipient (r, h, s)\n"
		     "and one for the message (K, Z, D); exit 0 with a verdict, 111 without,\n"
		     "100 for bad arguments.\n"
		     "--worker reads requests from standard input instead, one per line:\n"
		     "PATH, BODY_OFFSET, DOMAIN, SENDER, RECIPIENT... separated by TAB; a verdict\n"
		     "for each, connections kept for the next message to the same domain.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n",
		RCPT_MAX);
}

/* Copy text into a verdict, control characters made '?', cut to VERDICT_MAX. */
static void
verdict_set(char *dst, const char *text)
{
	size_t i;

	for (i = 0; i < VERDICT_MAX && text[i] != '\0'; i++) {
		unsigned char c = (unsigned char)text[i];

		dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static void
rcpt_verdict(struct remote *rm, size_t i, char kind, const char *text)
{
	rm->rcpt_kind[i] = kind;
	verdict_set(rm->rcpt_text[i], text);
}

static void
msg_verdict(struct remote *rm, char kind, const char *text)
{
	rm->msg_kind = kind;
	verdict_set(rm->msg_text, text);
}

/* Forget every verdict: a new request, or a transaction to be redone. */
static void
verdicts_reset(struct remote *rm)
{
	memset(rm->rcpt_kind, 0, sizeof(rm->rcpt_kind));
	rm->msg_kind = 0;
	rm->msg_text[0] = '\0';
}

/* Every recipient still without a verdict gets kind and text. */
static void
rcpt_verdict_rest(struct remote *rm, char kind, const char *text)
{
	for (size_t i = 0; i < rm->nrcpts; i++)
		if (rm->rcpt_kind[i] == 0)
			rcpt_verdict(rm, i, kind, text);
}

/* No transaction took place: every recipient and the message fail alike (perm: h/D, else s/Z). */
static void
fail_all(struct remote *rm, bool perm, const char *text)
{
	rcpt_verdict_rest(rm, perm ? 'h' : 's', text);
	msg_verdict(rm, perm ? 'D' : 'Z', text);
}

/* "PEER said: 550 5.1.1 no such user" */
static const char *
said(const struct session *s, const struct smtp_reply *r, char *out, size_t size)
{
	char reply[VERDICT_MAX + 1];

	snprintf(out, size, "%s said: %s", s->peer, smtp_reply_format(r, reply, sizeof(reply)));
	return out;
}

/* "PEER: WHAT: WHY" */
static const char *
failed(const struct session *s, const char *what, const char *why, char *out, size_t size)
{
	snprintf(out, size, "%s: %s: %s", s->peer, what, why);
	return out;
}

/*
 * Send what waits in s->out, then read the next reply.  0, or -1 with err
 * (the connection is of no further use).
 */
static int
reply(struct session *s, struct smtp_reply *r, char *err, size_t errsize)
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
command(struct session *s, const char *line, struct smtp_reply *r, char *err, size_t errsize)
{
	if (buf_printf(&s->out, "%s\r\n", line) == -1)
		return errfmt(err, errsize, "out of memory");
	return reply(s, r, err, errsize);
}

/* Close the connection (without a word: it is broken, or QUIT was said) and free its buffer. */
static void
session_close(struct session *s)
{
	if (!s->open)
		return;
	netconn_close(&s->c);
	buf_free(&s->out);
	s->open = false;
}

/* Say goodbye (RFC 5321 4.1.1.10), wait briefly for the answer, and close. */
static void
quit(struct session *s)
{
	struct smtp_reply r;
	char err[64];

	if (!s->open)
		return;
	s->c.timeout_ms = s->rm->remote_ms < QUIT_MS ? s->rm->remote_ms : QUIT_MS;
	(void)command(s, "QUIT", &r, err, sizeof(err));
	session_close(s);
}

/*
 * The transaction is over and the connection still good (last_code: its
 * last reply).  A worker keeps it for the next message to the same
 * domain, RSET first unless the final dot got a 2xx; a single shot, or a
 * server that said 421 (it is closing), gets QUIT.
 */
static void
done(struct session *s, bool clean, int last_code)
{
	if (!s->rm->worker || last_code == 421) {
		quit(s);
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
stale(struct session *s, bool reused, bool failed, const struct smtp_reply *r)
{
	if (!reused || !(failed ? s->broken : r->code == 421))
		return false;
	session_close(s);
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
static int
msg_measure(struct remote *rm, char *err, size_t errsize)
{
	static char chunk[CHUNK];
	struct smtp_stuffer st;
	off_t off;
	ssize_t n;

	if ((rm->msg_start = lseek(rm->msg_fd, 0, SEEK_CUR)) == -1) {
		if (errno == ESPIPE)
			return 0;
		return errfmt(err, errsize, "message: %s", strerror(errno));
	}
	smtp_stuff_init(&st);
	for (off = rm->msg_start; (n = msg_read(rm, chunk, sizeof(chunk), off)) > 0; off += n)
		(void)smtp_stuff(&st, chunk, (size_t)n, NULL);
	if (n == -1)
		return errfmt(err, errsize, "message: %s", strerror(errno));
	(void)smtp_stuff_end(&st, NULL);
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
send_body(struct session *s, char *err, size_t errsize)
{
	static char chunk[CHUNK];
	struct remote *rm = s->rm;
	struct smtp_stuffer st;
	off_t off = rm->msg_start;
	ssize_t n;

	smtp_stuff_init(&st);
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
		if (smtp_stuff(&st, chunk, (size_t)n, &s->out) == -1)
			return errfmt(err, errsize, "out of memory");
	}
	if (smtp_stuff_end(&st, &s->out) == -1)
		return errfmt(err, errsize, "out of memory");
	return 0;
}

/* The message line when no recipient was accepted: D when every one failed permanently. */
static void
none_accepted(struct session *s, const struct smtp_reply *last)
{
	struct remote *rm = s->rm;
	char text[VERDICT_MAX + 1], reply_text[VERDICT_MAX + 1];
	bool all_hard = true;

	for (size_t i = 0; i < rm->nrcpts; i++)
		all_hard = all_hard && rm->rcpt_kind[i] == 'h';
	snprintf(text, sizeof(text), "%s accepted no recipient (last reply: %s)", s->peer,
		 smtp_reply_format(last, reply_text, sizeof(reply_text)));
	msg_verdict(rm, all_hard ? 'D' : 'Z', text);
}

/* A verdict class from a reply code: r/K for 2xx, h/D for 5xx, s/Z for the rest. */
static char
kind_of(int code, const char kinds[3])
{
	return code / 100 == 2 ? kinds[0] : code / 100 == 5 ? kinds[1] : kinds[2];
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
static int
transaction(struct session *s, bool reused)
{
	struct remote *rm = s->rm;
	bool pipe = s->ext.pipelining, rset = reused && s->dirty;
	char err[256], text[VERDICT_MAX + 1];
	struct smtp_reply r, last;
	size_t accepted = 0;
	int ok = 0, fail;

	memset(&last, 0, sizeof(last));
	if (rset && !pipe) {
		/* Whatever RSET's trouble, a new connection is the cure. */
		if (command(s, "RSET", &r, err, sizeof(err)) == -1 || r.code / 100 != 2) {
			session_close(s);
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
		fail_all(rm, false, failed(s, "MAIL", "out of memory", text, sizeof(text)));
		session_close(s);
		return 0;
	}
	if (rset && (reply(s, &r, err, sizeof(err)) == -1 || r.code / 100 != 2)) {
		session_close(s);
		return 1;
	}

	if ((fail = reply(s, &r, err, sizeof(err))) == -1 || r.code == 421) {
		if (stale(s, reused, fail == -1, &r))
			return 1;
	}
	if (fail == -1) {
		fail_all(rm, false, failed(s, "MAIL", err, text, sizeof(text)));
		session_close(s);
		return 0;
	}
	if (r.code / 100 != 2) {
		/* The sender is refused: so is every recipient; pipelined replies after it are moot. */
		fail_all(rm, r.code / 100 == 5, said(s, &r, text, sizeof(text)));
		if (pipe)
			quit(s);        /* unread replies would be taken for the next ones' */
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
			rcpt_verdict_rest(rm, 's', text);
			msg_verdict(rm, 'Z', text);
			session_close(s);
			return 0;
		}
		rcpt_verdict(rm, i, kind_of(r.code, "rhs"), said(s, &r, text, sizeof(text)));
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
		msg_verdict(rm, 'Z', failed(s, "DATA", err, text, sizeof(text)));
		session_close(s);
		return 0;
	}
	if (accepted == 0) {
		/* RFC 2920 3.1: a server that says 354 anyway gets an empty message ended at once. */
		if (r.code == 354 && command(s, ".", &r, err, sizeof(err)) == -1) {
			none_accepted(s, &last);
			session_close(s);
			return 0;
		}
		none_accepted(s, &last);
		done(s, false, r.code);
		return 0;
	}
	if (r.code != 354) {
		msg_verdict(rm, r.code / 100 == 5 ? 'D' : 'Z', said(s, &r, text, sizeof(text)));
		done(s, false, r.code);
		return 0;
	}

	if (send_body(s, err, sizeof(err)) == -1 || reply(s, &r, err, sizeof(err)) == -1) {
		msg_verdict(rm, 'Z', failed(s, "message", err, text, sizeof(text)));
		session_close(s);
		return 0;
	}
	msg_verdict(rm, kind_of(r.code, "KDZ"), said(s, &r, text, sizeof(text)));
	done(s, r.code / 100 == 2, r.code);
	return 0;
}

/* EHLO, or HELO when EHLO is refused with a 5xx (RFC 5321 3.2).  0, or -1 with the reason in err. */
static int
hello(struct session *s, char *err, size_t errsize)
{
	struct smtp_reply r;
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
starttls(struct session *s, char *err, size_t errsize)
{
	struct smtp_reply r;
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
	struct session *s = &rm->sess;
	char ip[IPADDR_TEXT_MAX], err[256], text[VERDICT_MAX + 1];
	struct smtp_reply r;
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
		verdict_set(rm->last_error, text);
		return 0;
	}
	if (netconn_init(&s->c, fd, rm->remote_ms, SMTPC_LINE_MAX) == -1) {
		verdict_set(rm->last_error, failed(s, "socket", strerror(errno), text, sizeof(text)));
		close(fd);
		return 0;
	}
	buf_init(&s->out, 0);
	s->open = true;
	smtp_reply_parser_init(&s->parser);
	if (reply(s, &r, err, sizeof(err)) == -1) {
		verdict_set(rm->last_error, failed(s, "greeting", err, text, sizeof(text)));
		session_close(s);
		return 0;
	}
	if (r.code != 220) {
		/* RFC 5321 3.1: a 554 (or 421) greeting; another host may take the mail. */
		verdict_set(rm->last_error, said(s, &r, text, sizeof(text)));
		quit(s);
		return 0;
	}
	if (hello(s, text, sizeof(text)) == -1 || starttls(s, text, sizeof(text)) == -1) {
		verdict_set(rm->last_error, text);
		/* After a failed handshake the TLS state is unknown: just close. */
		session_close(s);
		return 0;
	}
	(void)transaction(s, false);
	return 1;
}

/* Where to send, and the sending: every verdict set. */
static void
deliver(struct remote *rm)
{
	static struct mx_result mx;
	struct control_lines routes = { 0 };
	char host[MX_HOST_MAX + 1], err[512];
	unsigned port = 25;
	int routed;

	if (control_read_lines(rm->conf.control_dir, "smtproutes", &routes) == -1) {
		snprintf(err, sizeof(err), "control/smtproutes: %s", strerror(errno));
		fail_all(rm, false, err);
		return;
	}
	routed = mx_route(routes.lines, routes.count, rm->domain, host, &port, err, sizeof(err));
	control_lines_free(&routes);
	if (routed == -1) {
		/* An admin's typo is fixed and retried, never a bounce. */
		char text[VERDICT_MAX + 1];

		snprintf(text, sizeof(text), "control/smtproutes: %s", err);
		fail_all(rm, false, text);
		return;
	}
	if (mx_resolve(rm->conf.resolver, rm->domain, routed == 1 ? host : NULL, port, RESOLVE_MS,
		       &mx) == -1) {
		fail_all(rm, false, mx.error);
		return;
	}
	switch (mx.status) {
	case MX_OK:
		break;
	case MX_NULL:
	case MX_NO_DOMAIN:
		fail_all(rm, true, mx.error);
		return;
	case MX_TEMPFAIL:
	default:
		fail_all(rm, false, mx.error);
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
	fail_all(rm, false, rm->last_error);
}

/* A timeout control file in milliseconds (seconds in the file; 0 or absurd: the default). */
static int
timeout_ms(const char *dir, const char *name, unsigned long def)
{
	unsigned long secs;

	if (control_read_ulong(dir, name, def, &secs) == -1 || secs == 0 || secs > TIMEOUT_MAX)
		secs = def;
	return (int)secs * 1000;
}

/* The name for EHLO: control/helohost, else control/me, else the host name. */
static void
helo_name(const char *dir, char *out, size_t size)
{
	if (control_read_line(dir, "helohost", "", out, size) == 0 && out[0] != '\0')
		return;
	if (control_read_line(dir, "me", "", out, size) == 0 && out[0] != '\0')
		return;
	if (gethostname(out, size - 1) == -1 || out[0] == '\0')
		snprintf(out, size, "localhost");
	out[size - 1] = '\0';
}

static int
print_verdicts(const struct remote *rm)
{
	for (size_t i = 0; i < rm->nrcpts; i++)
		printf("%c%s\n", rm->rcpt_kind[i], rm->rcpt_text[i]);
	printf("%c%s\n", rm->msg_kind, rm->msg_text);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

/* Worker: a request over the cached connection when it is for the same domain, else over a new one. */
static void
deliver_cached(struct remote *rm)
{
	struct session *s = &rm->sess;

	if (s->open && strcmp(s->domain, rm->domain) == 0) {
		if (transaction(s, true) == 0)
			return;
		/* The server dropped the idle connection: once more, from MAIL, on a new one. */
		verdicts_reset(rm);
	} else {
		quit(s);
	}
	deliver(rm);
}

/* The worker's stdin: read without stdio, so that poll() sees all that is not yet taken. */
struct requests {
	char buf[REQUEST_MAX];
	size_t start, end;
};

/*
 * The next request line in *line_r (its LF made a NUL, *len_r octets
 * before it), waiting until deadline (monotonic ms; -1: no limit).  1 a
 * line; 0 at EOF (a last line without LF is dropped: who wrote it is gone
 * and reads no verdict); 2 when the deadline passed; -1 for a line longer
 * than REQUEST_MAX (its recipients cannot be counted) or a read error.
 */
static int
request_next(struct requests *q, long long deadline, char **line_r, size_t *len_r)
{
	for (;;) {
		char *start = q->buf + q->start, *nl = memchr(start, '\n', q->end - q->start);
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int timeout = -1, r;
		ssize_t n;

		if (nl != NULL) {
			*nl = '\0';
			*line_r = start;
			*len_r = (size_t)(nl - start);
			q->start += *len_r + 1;
			return 1;
		}
		if (q->end - q->start >= sizeof(q->buf))
			return -1;
		memmove(q->buf, start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
		if (deadline >= 0) {
			long long left = deadline - monotonic_ms();

			if (left <= 0)
				return 2;
			timeout = (int)left;
		}
		if ((r = poll(&pfd, 1, timeout)) == 0)
			return 2;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = read(STDIN_FILENO, q->buf + q->end, sizeof(q->buf) - q->end);
		if (n == 0)
			return 0;
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		q->end += (size_t)n;
	}
}

/*
 * One request line, answered on stdout as a single shot would answer its
 * arguments.  0, or -1 when the worker must exit 111: a malformed line
 * whose recipients cannot be counted (the queue manager could not tell
 * where its verdict ends), or stdout gone.
 */
static int
serve_request(struct remote *rm, char *line, size_t len)
{
	static struct smtpc_request req;
	char err[VERDICT_MAX + 1];
	size_t count;
	int fd;

	verdicts_reset(rm);
	if (smtpc_request_parse(line, len, &req, &count) == -1) {
		if (count == 0)
			return -1;
		/* Temporary: a queue manager bug is fixed and the mail retried, never bounced. */
		for (size_t i = 0; i < count; i++)
			printf("smalformed request line\n");
		printf("Zmalformed request line\n");
		return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
	}
	for (size_t i = 0; i == 0 || req.domain[i - 1] != '\0'; i++)
		rm->domain[i] = (char)tolower((unsigned char)req.domain[i]);
	/* qmail's double-bounce sender goes out as the null sender. */
	rm->sender = strcmp(req.sender, "#@[]") == 0 ? "" : req.sender;
	rm->rcpts = req.rcpts;
	rm->nrcpts = req.nrcpts;
	if ((fd = open(req.path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, sizeof(err), "%s: %s", req.path, strerror(errno));
		fail_all(rm, false, err);
	} else {
		rm->msg_fd = fd;
		if (lseek(fd, (off_t)req.offset, SEEK_SET) == -1) {
			snprintf(err, sizeof(err), "%s: %s", req.path, strerror(errno));
			fail_all(rm, false, err);
		} else if (msg_measure(rm, err, sizeof(err)) == -1) {
			fail_all(rm, false, err);
		} else {
			deliver_cached(rm);
		}
		close(fd);
	}
	return print_verdicts(rm);
}

/*
 * --worker: requests until stdin's EOF (exit 0).  The connection kept
 * after a request is closed with QUIT when IDLE_MS pass without the next,
 * so that no server holds a slot for a worker with nothing to send.
 */
static int
worker(struct remote *rm)
{
	static struct requests q;
	long long last = monotonic_ms();
	char *line;
	size_t len;
	int r;

	for (;;) {
		r = request_next(&q, rm->sess.open ? last + IDLE_MS : -1, &line, &len);
		if (r == 2) {
			quit(&rm->sess);
			continue;
		}
		if (r != 1)
			break;
		if (serve_request(rm, line, len) == -1) {
			r = -1;
			break;
		}
		last = monotonic_ms();
	}
	quit(&rm->sess);
	return r == 0 ? 0 : 111;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "worker", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	static struct remote remote;
	struct remote *rm = &remote;
	const char *conf_arg = NULL;
	char err[512];
	size_t len = 0;
	int opt, status = 0;

	opterr = 0;
	/* '+': options only before DOMAIN; a recipient may start with '-'. */
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'w': rm->worker = true; break;
		default: cli_bad_option("remote", optopt); return 100;
		}
	}
	if (rm->worker ? argc != optind :
	    argc - optind < 3 || argc - optind - 2 > RCPT_MAX) {
		usage(stderr);
		return 100;
	}
	if (!rm->worker) {
		len = strlen(argv[optind]);
		if (len == 0 || len > MX_HOST_MAX || cli_has_control(argv[optind])) {
			cli_error("remote", "bad domain");
			return 100;
		}
		for (int i = optind + 1; i < argc; i++) {
			if (cli_has_control(argv[i]) || strlen(argv[i]) > 1000) {
				cli_error("remote", "bad address argument %d", i - optind);
				return 100;
			}
		}
		for (size_t i = 0; i <= len; i++)
			rm->domain[i] = (char)tolower((unsigned char)argv[optind][i]);
		/* qmail's double-bounce sender goes out as the null sender. */
		rm->sender = strcmp(argv[optind + 1], "#@[]") == 0 ? "" : argv[optind + 1];
		rm->rcpts = (const char *const *)(argv + optind + 2);
		rm->nrcpts = (size_t)(argc - optind - 2);
		rm->msg_fd = STDIN_FILENO;
	}

	cli_load_conf(&rm->conf, conf_arg);
	/* A server that closes while we write must give a verdict, not kill us (TLS writes use write(2)). */
	signal(SIGPIPE, SIG_IGN);
	rm->connect_ms = timeout_ms(rm->conf.control_dir, "timeoutconnect", 60);
	rm->remote_ms = timeout_ms(rm->conf.control_dir, "timeoutremote", 1200);
	helo_name(rm->conf.control_dir, rm->helo, sizeof(rm->helo));
	if (rm->worker) {
		status = worker(rm);
	} else {
		if (msg_measure(rm, err, sizeof(err)) == -1)
			fail_all(rm, false, err);
		else
			deliver(rm);
		/* Every path of a transaction closes in single-shot mode; this only makes sure. */
		session_close(&rm->sess);
		if (print_verdicts(rm) == -1)
			status = 111;
	}
	tls_client_free(rm->tls);
	return status;
}
