/* imap_session.h - the IMAP protocol as a pure object: a line (or a literal's octets) in, the replies out, action bits back (RFC 3501, RFC 9051 where clients rely on it). */
#ifndef OSD_IMAP_SESSION_H
#define OSD_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_parser.h"

struct imap_session;

/* Defaults of the limits below. */
#define IMAP_DEFAULT_MAX_BAD_COMMANDS 20
#define IMAP_DEFAULT_MAX_AUTH_FAILURES 3
/* Dovecot's: mailbox_idle_check_interval (polling) and imap_idle_notify_interval (keepalive). */
#define IMAP_DEFAULT_IDLE_POLL_MS (30 * 1000)
#define IMAP_DEFAULT_IDLE_KEEPALIVE_MS (2 * 60 * 1000)
/* The longest line the serve code passes whole (the parser's default line_max), without CRLF. */
#define IMAP_LINE_MAX 65536

/* What check_password and get_secret say (the values of lib/auth/login.h's login_result). */
enum imap_check_result {
	IMAP_CHECK_OK = 0,              /* *root_r set (malloc'd; the session frees it) */
	IMAP_CHECK_BAD = -1,            /* unknown user, wrong password, NO_IMAP: NO [AUTHENTICATIONFAILED] */
	IMAP_CHECK_TEMPFAIL = -2        /* could not tell: NO [UNAVAILABLE] */
};

struct imap_session_config {
	bool tls_available;     /* a certificate is loaded: offer STARTTLS */
	bool tls_active;        /* the connection is TLS already (implicit-TLS listener) */
	bool client_loopback;   /* the client is on loopback and imap_loopback_plaintext = yes: plaintext login is safe */
	bool plaintext_allowed; /* imap_plaintext = yes: plaintext login everywhere */
	unsigned max_bad_commands;      /* "* BYE" after this many BAD answers; 0 = default */
	unsigned max_auth_failures;     /* "* BYE" after this many failed logins; 0 = default */
	long maildir_tmp_max_age;       /* at SELECT/EXAMINE, remove the folder's tmp/ files untouched this long (s); 0: never */
	struct imap_parser_limits limits;       /* 0 fields: the parser's defaults */

	void *ctx;              /* passed to the hooks */
	/*
	 * Verify login and password.  On IMAP_CHECK_OK, *root_r is the
	 * user's Maildir (malloc'd).  err receives a reason for the log
	 * (never shown to the client, never containing the password).
	 */
	int (*check_password)(void *ctx, const char *login, const char *password, char **root_r,
			      char *err, size_t errsize);
	/*
	 * AUTHENTICATE CRAM-MD5: the cleartext secret of login (malloc'd,
	 * the session wipes and frees it) and *root_r.  NULL: CRAM-MD5 is
	 * refused.
	 */
	int (*get_secret)(void *ctx, const char *login, char **secret_r, char **root_r,
			  char *err, size_t errsize);
	/* List AUTH=CRAM-MD5 in CAPABILITY (see pop3_session.h for why it is off by default). */
	bool advertise_cram_md5;
	/* The host name in CRAM-MD5 challenges; NULL: "localhost". */
	const char *hostname;

	/* IDLE (RFC 2177) */
	int idle_poll_ms;       /* without inotify, sync the folder this often; 0: IMAP_DEFAULT_IDLE_POLL_MS */
	int idle_keepalive_ms;  /* "* OK Still here" after this long without output; 0: IMAP_DEFAULT_IDLE_KEEPALIVE_MS */
	bool idle_no_inotify;   /* imap_idle_inotify = no: always poll (Maildirs on NFS) */
	int idle_inotify_errno; /* tests: act as if inotify failed with this errno; 0: use it */
	/* The monotonic clock in ms (tests set their own); NULL: monotonic_ms(). */
	long long (*clock_ms)(void *ctx);
	/*
	 * Proxy mode (imap_backend): check_password logs in at the backend,
	 * and a login it accepts ends the session's part: no tagged reply is
	 * written, the session is logged out and returns IMAP_ACT_AUTH_OK |
	 * IMAP_ACT_HANDOFF; the serve code answers with
	 * imap_session_handoff_tag() and the backend's words, then relays.
	 */
	bool handoff;
};

/*
 * What the serve code does after a call: a bit set; 0 means "send out,
 * then pass the next line".  imap_serve.c maps them to the loop's.
 */
enum imap_action {
	IMAP_ACT_CLOSE = 1u << 0,       /* send out, then close the connection */
	IMAP_ACT_LITERAL = 1u << 1,     /* *literal_r octets come raw next: imap_session_literal */
	IMAP_ACT_STARTTLS = 1u << 2,    /* send out, drop buffered input, TLS handshake, imap_session_tls_started */
	IMAP_ACT_AUTH_OK = 1u << 3,     /* a login: record the client address (unless NO_RELAY) */
	IMAP_ACT_AUTH_FAILED = 1u << 4, /* wrong credentials: delay, count for throttling, log */
	IMAP_ACT_ERROR = 1u << 5,       /* a failure on the server's side: log imap_session_error() */
	IMAP_ACT_STREAM = 1u << 6,      /* send out, then call imap_session_stream until it clears this bit */
	IMAP_ACT_IDLE = 1u << 7,        /* IDLE began or goes on: wake on imap_session_wake_fd as well as input */
	IMAP_ACT_HANDOFF = 1u << 8      /* handoff mode: logged in at the backend; relay from now on */
};

/* A session in the not-authenticated state; cfg is copied. */
struct imap_session *imap_session_new(const struct imap_session_config *cfg);

/* Free s, closing the selected mailbox. */
void imap_session_free(struct imap_session *s);

/* Append the greeting: "* OK [CAPABILITY ...] osd IMAP ready." */
void imap_session_greeting(struct imap_session *s, struct buf *out);

/*
 * One client line (len octets; a trailing CRLF or LF is ignored; longer
 * than IMAP_LINE_MAX means too long).  Any bytes are accepted.  With
 * IMAP_ACT_LITERAL, *literal_r octets (more than 0) must be passed to
 * imap_session_literal before the next line; "+ OK" for a synchronizing
 * literal is in out already.  Returns imap_action bits.
 */
unsigned imap_session_line(struct imap_session *s, const char *line, size_t len, struct buf *out,
			   size_t *literal_r);

/*
 * Octets of the announced literal (at most what is left of it).  Returns
 * 0 while more are due, or, after the last octet, the bits of what the
 * command line that follows asks: 0 (read the next line), or
 * IMAP_ACT_LITERAL with *literal_r for another literal.
 */
unsigned imap_session_literal(struct imap_session *s, const char *data, size_t len, struct buf *out,
			      size_t *literal_r);

/* Continue a long reply (IMAP_ACT_STREAM): bits, IMAP_ACT_STREAM while more is to come. */
unsigned imap_session_stream(struct imap_session *s, struct buf *out);

/*
 * While IDLE (IMAP_ACT_IDLE): a file descriptor that becomes readable
 * when the selected folder changes (inotify on new/ and cur/), -1 when
 * there is none (no folder, or inotify unavailable: the folder is polled,
 * see imap_session_wake_ms).
 */
int imap_session_wake_fd(struct imap_session *s);

/*
 * While IDLE: call imap_session_woken in this many ms at the latest (the
 * keepalive, the next poll of a folder inotify cannot watch); -1 when
 * not idling.
 */
int imap_session_wake_ms(struct imap_session *s);

/*
 * The wake fd was readable or the time of imap_session_wake_ms came:
 * drain the fd, sync when the folder changed or its poll is due, append
 * the untagged changes, or "* OK Still here" when nothing was said for the
 * keepalive interval; bits.
 */
unsigned imap_session_woken(struct imap_session *s, struct buf *out);

/* The per-line timeout in milliseconds for the state the session is in (login vs. logged in). */
int imap_session_timeout_ms(const struct imap_session *s, int login_ms, int auth_ms);

/* The TLS handshake after STARTTLS succeeded; the session now counts as TLS. */
void imap_session_tls_started(struct imap_session *s);

/* The autologout timer struck (RFC 3501 section 5.4): append "* BYE ..."; the session is closed. */
void imap_session_timeout(struct imap_session *s, struct buf *out);

/* The session deadline struck: append "* BYE ..."; the session is closed. */
void imap_session_expired(struct imap_session *s, struct buf *out);

/* True in the authenticated and selected states. */
bool imap_session_logged_in(const struct imap_session *s);

/* Handoff mode: the tag of the LOGIN or AUTHENTICATE that logged in ("" before). */
const char *imap_session_handoff_tag(const struct imap_session *s);

/* The login name last given, for logs and the login throttle; "" when none. */
const char *imap_session_user(const struct imap_session *s);

/* Why the last login or command failed, for logs; "" when nothing failed. */
const char *imap_session_error(const struct imap_session *s);

#endif
