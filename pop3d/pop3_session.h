/* pop3_session.h - the POP3 protocol as a pure object: a line in, the reply out (RFC 1939, 2449, 2595, 3206, 5034). */
#ifndef OSD_POP3D_SESSION_H
#define OSD_POP3D_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sasl.h"

struct maildir;
struct session;

/*
 * RFC 2449 section 4: a command is at most 255 octets "including the
 * terminating CRLF".  osd accepts 255 octets before the line ending (two
 * more than the letter of the RFC, for clients that count without it) and
 * answers a longer command with -ERR.
 */
#define SESSION_COMMAND_MAX 255

/*
 * The longest line the server loop must pass whole: a SASL continuation
 * (a base64 PLAIN message of three 255-octet fields) is not a command and
 * may be longer than SESSION_COMMAND_MAX.  The loop may pass a longer line
 * cut to SESSION_LINE_MAX + 1 octets (and must drop the rest of it): the
 * session only needs to know it was too long.
 */
#define SESSION_LINE_MAX SASL_RESPONSE_MAX

/* Defaults of the limits below. */
#define SESSION_DEFAULT_MAX_BAD_COMMANDS 5
#define SESSION_DEFAULT_MAX_AUTH_FAILURES 3

/* What check_password says. */
enum session_check_result {
	SESSION_CHECK_OK = 0,           /* *home_r set (malloc'd; the session frees it) */
	SESSION_CHECK_BAD = -1,         /* unknown user, wrong password, POP disabled: -ERR [AUTH] */
	SESSION_CHECK_TEMPFAIL = -2     /* could not tell (database unreadable...): -ERR [SYS/TEMP] */
};

/* What open_mailbox says. */
enum session_open_result {
	SESSION_OPEN_OK = 0,
	SESSION_OPEN_IN_USE = -1,       /* another session holds it: -ERR [IN-USE] */
	SESSION_OPEN_FAILED = -2        /* -ERR [SYS/TEMP] */
};

struct session_config {
	bool tls_available;     /* a certificate is loaded: offer STLS */
	bool tls_active;        /* the connection is TLS already (implicit-TLS listener) */
	bool client_loopback;   /* the client is on loopback: plaintext login is safe */
	bool plaintext_allowed; /* pop3_plaintext = yes: plaintext login everywhere */
	unsigned max_bad_commands;      /* close after this many bad commands; 0 = default */
	unsigned max_auth_failures;     /* close after this many failed logins; 0 = default */
	long maildir_tmp_max_age;       /* at login, remove tmp/ files untouched this long (s); 0: never */

	void *ctx;              /* passed to the hooks */
	/*
	 * Verify login and password.  On SESSION_CHECK_OK, *home_r is the
	 * user's home folder (malloc'd).  err receives a reason for the log
	 * (never shown to the client, never containing the password).
	 */
	int (*check_password)(void *ctx, const char *login, const char *password, char **home_r,
			      char *err, size_t errsize);
	/*
	 * APOP (RFC 1939 section 7) and AUTH CRAM-MD5 (RFC 2195): the
	 * cleartext password of login.  On SESSION_CHECK_OK, *secret_r
	 * (malloc'd; the session wipes and frees it) and *home_r are set.
	 * SESSION_CHECK_BAD for an unknown user, a user without a cleartext
	 * password or with POP disabled, as check_password.  NULL: APOP and
	 * CRAM-MD5 are not offered and the greeting has no timestamp.  The
	 * session compares the digests in constant time and, when the user
	 * has no secret, still computes one against a dummy secret, so a
	 * refusal costs about as long as a wrong digest (best effort: the
	 * hook's own lookup may take a little more or less).
	 */
	int (*get_secret)(void *ctx, const char *login, char **secret_r, char **home_r,
			  char *err, size_t errsize);
	/*
	 * List CRAM-MD5 in CAPA and a bare AUTH (it is accepted either way
	 * when get_secret is set).  Clients such as curl prefer an advertised
	 * CRAM-MD5 to PLAIN and do not fall back, so advertising it breaks
	 * every user without a cleartext password.
	 */
	bool advertise_cram_md5;
	/* The host name in APOP banners and CRAM-MD5 challenges; NULL: "localhost". */
	const char *hostname;
	/*
	 * Open (and lock) the maildrop of an authenticated user.  NULL means
	 * maildir_open(HOME/Maildir, MAILDIR_OPEN_LOCK).  A server running as
	 * root changes to the mailbox owner here.  Returns a session_open_result.
	 */
	int (*open_mailbox)(void *ctx, const char *login, const char *home, struct maildir **md_r,
			    char *err, size_t errsize);
	/*
	 * Proxy mode (pop3_backend): check_password logs in at the backend,
	 * and a login it accepts ends the session's part: no mailbox is
	 * opened, no reply is written, the session is closed and returns
	 * SESSION_ACT_AUTH_OK | SESSION_ACT_HANDOFF (the serve code answers
	 * with the backend's words and relays the rest of the connection).
	 */
	bool handoff;
};

/*
 * What the server loop does after a call: a bit set; 0 means "send out,
 * then pass the next line".  Several bits can come together.
 */
enum session_action {
	SESSION_ACT_CLOSE = 1 << 0,        /* send out, then close the connection */
	SESSION_ACT_STREAM = 1 << 1,       /* send out, then call session_stream until it clears this bit */
	SESSION_ACT_STARTTLS = 1 << 2,     /* send out, drop buffered input, TLS handshake, session_tls_started */
	SESSION_ACT_AUTH_OK = 1 << 3,      /* the password was right: record the client address */
	SESSION_ACT_AUTH_FAILED = 1 << 4,  /* wrong credentials: delay the reply, count it for throttling, log */
	SESSION_ACT_ERROR = 1 << 5,        /* a failure on the server's side: log session_error() */
	SESSION_ACT_HANDOFF = 1 << 6       /* handoff mode: logged in at the backend; relay from now on */
};

/* Counts for the session's log line. */
struct session_stats {
	unsigned long retrieved;        /* whole messages sent by RETR */
	uint64_t retrieved_octets;      /* their sizes as LIST gives them */
	unsigned long deleted;          /* messages removed at QUIT */
	uint64_t deleted_octets;
};

/* A session in the AUTHORIZATION state; cfg is copied. */
struct session *session_new(const struct session_config *cfg);

/* Free s; a maildrop still open is closed without UPDATE (DELE is not applied). */
void session_free(struct session *s);

/* Append the greeting ("+OK ..."); with get_secret, it ends with a fresh APOP timestamp "<pid.time.random@host>". */
void session_greeting(struct session *s, struct buf *out);

/*
 * Handle one client line (len octets; a trailing CRLF or LF, if present, is
 * ignored) and append the complete reply to out.  Any bytes are accepted:
 * NULs, binary garbage and overlong lines get -ERR and count as bad
 * commands.  Not to be called while a SESSION_ACT_STREAM is unfinished, nor
 * after SESSION_ACT_CLOSE.  Returns session_action bits.
 */
unsigned session_input_line(struct session *s, const char *line, size_t len, struct buf *out);

/*
 * Continue a multi-line RETR or TOP response: append the next part of it
 * (at most 2 * MAILDIR_CHUNK + 5 octets).  Returns SESSION_ACT_STREAM while
 * more is to come, 0 once the final ".\r\n" is in out, or
 * SESSION_ACT_CLOSE | SESSION_ACT_ERROR when the message cannot be read on
 * (a multi-line response cannot be taken back: the connection must close).
 */
unsigned session_stream(struct session *s, struct buf *out);

/*
 * The TLS handshake after STLS succeeded: the session now counts as TLS and,
 * as RFC 2595 section 4 asks, forgets what the client said before (USER).
 */
void session_tls_started(struct session *s);

/* The idle timeout struck: append the farewell; the session is closed. */
void session_timeout(struct session *s, struct buf *out);

/*
 * The session deadline (pop3_session_deadline in osd.conf) struck: append
 * the farewell ("-ERR [SYS/TEMP] ..."); the session is closed.
 */
void session_expired(struct session *s, struct buf *out);

/* True in the TRANSACTION state. */
bool session_logged_in(const struct session *s);

/* The login name last given (USER, AUTH), for logs; "" when none. */
const char *session_user(const struct session *s);

/* Why the last login or command failed, for logs; "" when nothing failed. */
const char *session_error(const struct session *s);

const struct session_stats *session_stats(const struct session *s);

#endif
