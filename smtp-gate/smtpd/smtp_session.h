/* smtp_session.h - the SMTP protocol as a pure object: a command line (or DATA octets) in, the replies and log events out, the message handed to a sink (RFC 5321, 1870, 2920, 3207, 4954, 6152). */
#ifndef OSD_SMTP_SESSION_H
#define OSD_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "buf.h"
#include "queue.h"

struct policy;
struct smtp_session;

/* Defaults of the limits below. */
#define SMTP_DEFAULT_MAX_RCPTS 100
/* Errors (bad syntax, unknown commands, refused recipients) before the session is closed (Postfix's smtpd_hard_error_limit). */
#define SMTP_DEFAULT_MAX_ERRORS 20
/* Failed AUTH exchanges (535) before the session is closed, as pop3d's and imapd's failed logins. */
#define SMTP_DEFAULT_MAX_AUTH_FAILURES 3

/*
 * Where an accepted message goes: the queue in osd-smtpd (smtp_serve.c's
 * smtp_queue_sink over queue.h), memory in a test.  The session calls
 * begin at DATA, write with the message octets (LF line ends, dots
 * unstuffed, the Received header first), then exactly one of commit
 * (after the terminator, for a message it accepts) and abort (a refused
 * or unfinished message: a bad ending, too big, a write error, RSET,
 * STARTTLS or the end of the connection).
 */
struct smtp_sink {
	/* A handle for the new message, or NULL with errno (ENOSPC, EDQUOT: the disk is full) and err. */
	void *(*begin)(void *ctx, const struct queue_envelope *env, char *err, size_t errsize);
	/* Append octets: 0, or -1 with errno and err. */
	int (*write)(void *msg, const void *data, size_t len, char *err, size_t errsize);
	/*
	 * Make the message durable and fill id_r: 0, or -1 with errno and err
	 * and nothing kept.  The client hears 250 only after a 0 (queue.h's
	 * contract).  Frees the handle either way.
	 */
	int (*commit)(void *msg, char id_r[QUEUE_ID_MAX + 1], char *err, size_t errsize);
	/* Drop the message; frees the handle. */
	void (*abort)(void *msg);
};

/* What the password hooks say. */
enum smtp_check_result {
	SMTP_CHECK_OK = 0,
	SMTP_CHECK_BAD = -1,            /* unknown user, wrong password, NO_SMTP: 535 */
	SMTP_CHECK_TEMPFAIL = -2        /* could not tell: 454 */
};

struct smtp_session_config {
	const char *hostname;           /* control/me: the greeting, EHLO and Received */
	const char *client_addr;        /* the client's address, inet_ntop form */
	bool tls_available;             /* a certificate is loaded: offer STARTTLS */
	bool tls_active;                /* implicit-TLS listener */
	bool submission;                /* the 587 kind: MAIL only after AUTH */
	bool auth_plaintext_ok;         /* PLAIN/LOGIN also without TLS (a loopback client) */
	/*
	 * List CRAM-MD5 in EHLO.  It is accepted either way (with get_secret),
	 * but clients such as curl pick an advertised CRAM-MD5 over PLAIN and
	 * do not fall back, and users made by osd user have no cleartext
	 * password for it: so only where the administrator says so.
	 */
	bool advertise_cram_md5;
	bool may_relay;                 /* relay.cdb's rule set RELAYCLIENT */
	const char *relayclient;        /* its value, appended to every recipient (qmail) */
	const char *relay_user;         /* the POP-before-SMTP login behind may_relay, or NULL */
	bool relay_dynamic;             /* may_relay comes from a login entry, not a static rule */
	bool received_auth_user;        /* name the AUTH user (else relay_user) in Received: */
	uint64_t databytes;             /* largest message; 0: no limit */
	unsigned max_rcpts;             /* 0: SMTP_DEFAULT_MAX_RCPTS */
	unsigned max_errors;            /* 0: SMTP_DEFAULT_MAX_ERRORS */
	unsigned max_auth_failures;     /* 0: SMTP_DEFAULT_MAX_AUTH_FAILURES */
	const struct policy *policy;    /* rcpthosts, badmailfrom, local users */
	const struct smtp_sink *sink;   /* the accepted messages */
	void *sink_ctx;                 /* passed to sink->begin */

	void *ctx;                      /* passed to the password hooks */
	/*
	 * Verify a login and its password.  *relay_r: whether this user may
	 * relay (false for vpasswd's NO_RELAY).  err receives a reason for
	 * the log, never the password.
	 */
	int (*check_password)(void *ctx, const char *login, const char *password, bool *relay_r,
			      char *err, size_t errsize);
	/*
	 * CRAM-MD5: the cleartext password of login (malloc'd; the session
	 * wipes and frees it), SMTP_CHECK_BAD when there is none.  NULL: no
	 * CRAM-MD5.
	 */
	int (*get_secret)(void *ctx, const char *login, char **secret_r, bool *relay_r, char *err,
			  size_t errsize);
};

/* What the server loop must do after a call (bit set). */
#define SMTP_ACT_CLOSE          0x01u   /* send what is in out, then close */
#define SMTP_ACT_STARTTLS       0x02u   /* send out, discard buffered input, handshake, then smtp_session_tls_started */
#define SMTP_ACT_DATA           0x04u   /* feed the client's octets to smtp_session_data until this bit clears */
#define SMTP_ACT_AUTH_OK        0x08u
#define SMTP_ACT_AUTH_FAILED    0x10u   /* delay the reply (throttling) and report it */

/* Counters for the connection's log line. */
struct smtp_session_stats {
	unsigned long messages;         /* queued */
	unsigned long rejected;         /* refused after DATA or by policy at RCPT */
	uint64_t octets;                /* of the queued messages */
};

/*
 * What the session has to say in the log, returned instead of logged
 * (smtp_serve.c writes the lines).  The client's address is the caller's
 * (smtp_session_config.client_addr).
 */
enum smtp_event_type {
	SMTP_EVENT_REFUSED_SENDER,      /* MAIL refused by badmailfrom: helo, from */
	SMTP_EVENT_REFUSED_RCPT,        /* RCPT refused by policy: helo, from, to, why */
	SMTP_EVENT_LOOKUP_FAILED,       /* a recipient could not be checked (warning): to, why */
	SMTP_EVENT_SINK_BEGIN_FAILED,   /* the sink took no message (warning): why */
	SMTP_EVENT_SINK_WRITE_FAILED,   /* writing to the sink failed (warning): why */
	SMTP_EVENT_SINK_COMMIT_FAILED,  /* the sink's commit failed (warning): why */
	SMTP_EVENT_MESSAGE,             /* a message's end: helo, auth_user, tls, from, to (the list), size, id, result */
	SMTP_EVENT_HTTP                 /* an HTTP request on the SMTP port: the connection closes */
};

struct smtp_event {
	enum smtp_event_type type;
	const char *helo;               /* the session's HELO name, "" before one */
	const char *auth_user;          /* the AUTH user, "-" for none */
	bool tls;
	char from[SMTP_PATH_MAX + 1];   /* the sender, "" for <> */
	/* one recipient, or for SMTP_EVENT_MESSAGE the list: <a>(reason),<b>(reason) */
	char to[1024];
	char why[256];
	char id[QUEUE_ID_MAX + 1];      /* the sink's id of a queued message, "-" otherwise */
	const char *result;             /* SMTP_EVENT_MESSAGE: "queued", "refused", "queue-error" */
	uint64_t size;                  /* SMTP_EVENT_MESSAGE: the message's octets */
};

/* A call makes at most this many events (a write or commit error, then the message). */
#define SMTP_EVENTS_MAX 4

struct smtp_session *smtp_session_new(const struct smtp_session_config *cfg);

/* Drops an unfinished message (the sink's abort) and frees s. */
void smtp_session_free(struct smtp_session *s);

/* "220 me ESMTP osd" */
void smtp_session_greeting(struct smtp_session *s, struct buf *out);

/*
 * One client line, line ending included (len octets; a longer-than-allowed
 * line may be passed cut, see command.h).  Appends the replies to out and
 * returns SMTP_ACT_* bits.
 */
unsigned smtp_session_line(struct smtp_session *s, const char *line, size_t len,
			   struct buf *out);

/*
 * In DATA: consume the client's octets (see dataread.h), write the message
 * to the sink, and after the terminator reply 250 (the sink's commit
 * succeeded) or the error.  Returns how many octets were used; *act_r receives the
 * SMTP_ACT_* bits (SMTP_ACT_DATA while more is needed).
 */
size_t smtp_session_data(struct smtp_session *s, const char *data, size_t len,
			 struct buf *out, unsigned *act_r);

/* The handshake after SMTP_ACT_STARTTLS succeeded: RFC 3207 section 4.2, back to the start. */
void smtp_session_tls_started(struct smtp_session *s, const char *tls_info);

/* The timeout: "421 4.4.2 ..." */
void smtp_session_timeout(struct smtp_session *s, struct buf *out);

/*
 * The session deadline (smtp_session_deadline in osd.conf) struck:
 * "421 4.4.2 ... Error: session time limit exceeded".
 */
void smtp_session_expired(struct smtp_session *s, struct buf *out);

/* The AUTH login name ("" before a successful AUTH), the HELO name, the counters. */
const char *smtp_session_auth_user(const struct smtp_session *s);
/*
 * The login name of the last AUTH attempt, successful or not (for the log
 * and the failed-login throttle): "" before any, "(invalid)" for a name
 * unfit to look up.
 */
const char *smtp_session_auth_login(const struct smtp_session *s);
const char *smtp_session_helo(const struct smtp_session *s);
/*
 * True when the session saw neither TLS nor an AUTH command: nothing
 * secret (keys, passwords) passed through the process, which may then
 * serve another client.
 */
bool smtp_session_plain(const struct smtp_session *s);
const struct smtp_session_stats *smtp_session_stats(const struct smtp_session *s);

/*
 * The log events of the last smtp_session_line or smtp_session_data call,
 * in order (*count_r of them); valid until the next call on s.
 */
const struct smtp_event *smtp_session_events(const struct smtp_session *s, size_t *count_r);

/* Why the last login failed, for the log (never the password). */
const char *smtp_session_error(const struct smtp_session *s);

#endif
