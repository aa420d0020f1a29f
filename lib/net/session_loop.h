/* session_loop.h - the one per-connection loop of the protocol servers: timed lines in, the protocol's replies and actions out, over TCP or TLS. */
#ifndef OSD_SESSION_LOOP_H
#define OSD_SESSION_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct netconn;
struct tls_server;

/*
 * What a protocol asks of the loop after a line (or raw octets, or a piece
 * of a stream): bits, handled in this order.
 */
enum session_loop_action {
	LOOP_LOGIN_FAILED = 1u << 0,  /* wrong credentials: ops->login_key, ops->login, then report and delay */
	LOOP_LOGIN_OK = 1u << 1,      /* a login: ops->login_key, report it, then ops->login */
	LOOP_ERROR = 1u << 2,         /* a failure on the server's side: ops->error logs it */
	LOOP_STREAM = 1u << 3,        /* send out in pieces: call ops->stream until it clears this bit */
	LOOP_BODY = 1u << 4,          /* feed raw client octets to ops->input until it clears this bit */
	LOOP_RAW = 1u << 5,           /* feed exactly *raw_r octets after the line to ops->input (IMAP literal {n}) */
	LOOP_STARTTLS = 1u << 6,      /* send out, drop buffered input, TLS handshake, ops->tls_started */
	LOOP_CLOSE = 1u << 7          /* send out, then end the session */
};

/*
 * The protocol, as the loop sees it.  proto is the protocol's session;
 * out is where replies go (the loop sends them before it next reads, so
 * pipelined commands are answered together).  Callbacks marked optional
 * may be NULL when the protocol never asks for what calls them.
 */
struct session_loop_ops {
	/* The first words of the server. */
	void (*greeting)(void *proto, struct buf *out);
	/*
	 * One client line (line ending included; longer than the line_max of
	 * session_loop_init means too long).  Returns action bits; with
	 * LOOP_RAW, sets *raw_r to how many octets follow raw.  The loop wipes
	 * the line afterwards (it may carry a password).
	 */
	unsigned (*line)(void *proto, const char *line, size_t len, struct buf *out, size_t *raw_r);
	/*
	 * Optional (LOOP_BODY, LOOP_RAW): raw client octets.  Returns how many
	 * it used and sets *act_r.  For LOOP_BODY, the loop calls again while
	 * *act_r has LOOP_BODY.  For LOOP_RAW, it is given at most what is
	 * left of the count and must use something; *act_r after the last
	 * piece is what the loop does next (0: read the next line; LOOP_RAW
	 * again, with *raw_r, for another literal).
	 */
	size_t (*input)(void *proto, const char *data, size_t len, struct buf *out, unsigned *act_r,
			size_t *raw_r);
	/* Optional (LOOP_STREAM): append the next piece of a long reply; action bits, LOOP_STREAM while more. */
	unsigned (*stream)(void *proto, struct buf *out);
	/* The client was silent too long (the per-line or body deadline): the farewell, if any. */
	void (*timeout)(void *proto, struct buf *out);
	/* The session deadline struck: the farewell, if any. */
	void (*expired)(void *proto, struct buf *out);
	/* Optional (LOOP_STARTTLS): the handshake succeeded; tls_info describes it. */
	void (*tls_started)(void *proto, const char *tls_info);
	/*
	 * Optional (LOOP_LOGIN_*): the name the login throttle counts the
	 * attempt under, as the login check normalises it ("" for one that
	 * can never log in).
	 */
	void (*login_key)(void *proto, char *key, size_t size);
	/*
	 * Optional: log (and on success record) the login attempt.  Called
	 * before the failure delay, and after a success has been reported.
	 */
	void (*login)(void *proto, bool ok);
	/* Optional (LOOP_ERROR): log what went wrong. */
	void (*error)(void *proto);
	/*
	 * Optional: a file descriptor to wait on as well as the client while
	 * waiting for the next line (IMAP IDLE: an inotify watch on the
	 * folder), or -1 for none now.  Asked before every wait.
	 */
	int (*wake_fd)(void *proto);
	/*
	 * Optional (with wake_fd or wake_ms): the fd became readable or the
	 * timer struck; append what to tell the client; action bits.
	 */
	unsigned (*woken)(void *proto, struct buf *out);
	/*
	 * Optional: while waiting for the next line, call woken after this
	 * many ms even if nothing happened (IMAP IDLE: the keepalive, the
	 * folder poll where inotify is unavailable), or -1 for no timer now.
	 * Asked before every wait.  A wake never restarts the per-line
	 * timeout: only a client line does.
	 */
	int (*wake_ms)(void *proto);
	/*
	 * Optional: the per-line timeout (ms) for the next line, asked before
	 * every wait (IMAP: shorter before login); NULL: session_loop_init's.
	 */
	int (*line_timeout_ms)(void *proto);
};

/* Room for a login key (userdb_login_key writes at most USERDB_LOGIN_KEY_MAX + 1 octets). */
#define SESSION_LOOP_LOGIN_MAX 512
/* Streamed output is sent in pieces of about this size. */
#define SESSION_LOOP_STREAM_FLUSH (64 * 1024)
/* The TLS handshake gets this long at most (less when the timeout is shorter). */
#define SESSION_LOOP_HANDSHAKE_MS 60000

struct session_loop {
	struct netconn *c;              /* on the heap, wiped at the end: its buffer held passwords */
	struct buf out;                 /* replies not yet sent */
	const char *addr_text;          /* the client, for log lines */
	struct tls_server *tls;         /* NULL: no TLS configured */
	const char *starttls_verb;      /* the command's name in the log ("STLS", "STARTTLS") */
	unsigned body_min_rate;         /* LOOP_BODY, LOOP_RAW: octets/s (0: only the timeout per read) */
	unsigned prior_failures;        /* failed logins from this address before the session */
	unsigned failures;              /* failed logins in this session */
	bool logged_in;                 /* a LOOP_LOGIN_OK happened */
	char tls_info[96];              /* "no", or the TLS version and cipher */
	const char *end;                /* why the session ended: "quit", "closed", "dropped", "timeout", ... */
	/* The login throttle (server_login_failed, server_report_login); a test may replace them. */
	void (*login_failed)(const char *login, unsigned failures, long long deadline);
	void (*report_login)(const char *login, bool ok);
};

/*
 * Set up l for the connection fd from addr_text (which must outlive l):
 * non-blocking socket, every line within timeout_ms, the whole session
 * within deadline_s seconds; with implicit_tls, the handshake with tls
 * first.  The other fields are left for the caller to set.  0, or -1
 * (logged: "session: ... end=handshake") when the handshake failed.
 * Fatal when out of memory.
 */
int session_loop_init(struct session_loop *l, int fd, const char *addr_text, int timeout_ms,
		      size_t line_max, long long deadline_s, struct tls_server *tls, bool implicit_tls);

/*
 * Greet, then read lines and do what proto asks until it asks to close or
 * the client goes; l->end says why, l->failures and l->logged_in what
 * happened to the logins.
 */
void session_loop_run(struct session_loop *l, const struct session_loop_ops *ops, void *proto);

/* Free everything (TLS close_notify, socket closed, input wiped); what is still in out is not sent. */
void session_loop_free(struct session_loop *l);

#endif
