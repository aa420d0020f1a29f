/* session.c - the POP3 state machine: RFC 1939 commands and APOP, RFC 2449 CAPA, RFC 5034 AUTH (RFC 2195 CRAM-MD5), RFC 2595 STLS. */
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "cram.h"
#include "maildir.h"
#include "path.h"
#include "sasl.h"
#include "xmalloc.h"

enum session_state {
	ST_AUTHORIZATION,
	ST_AUTH_PLAIN,          /* AUTH PLAIN sent "+ ", waiting for the response */
	ST_AUTH_LOGIN_USER,     /* AUTH LOGIN asked for the user name */
	ST_AUTH_LOGIN_PASS,     /* AUTH LOGIN asked for the password */
	ST_AUTH_CRAM,           /* AUTH CRAM-MD5 sent its challenge */
	ST_TRANSACTION,
	ST_CLOSED               /* after QUIT, a fatal error, a timeout or too many errors */
};

struct session {
	struct session_config cfg;
	enum session_state state;
	bool have_user;                 /* USER given (or AUTH LOGIN user name) */
	char user[SASL_FIELD_MAX + 1];
	char banner[CRAM_CHALLENGE_SIZE];       /* the greeting's APOP timestamp; "" when none */
	char challenge[CRAM_CHALLENGE_SIZE];    /* the CRAM-MD5 challenge being answered */
	unsigned bad_commands;
	unsigned auth_failures;
	struct maildir *md;
	struct maildir_stream *st;      /* a RETR or TOP being sent */
	size_t st_index;
	bool st_is_retr;
	uint64_t st_size;
	struct session_stats stats;
	char error[256];
};

/* The commands, and the states they belong to (RFC 1939 sections 4-7, RFC 2449, 2595, 5034). */
enum cmd_id {
	CMD_USER, CMD_PASS, CMD_APOP, CMD_AUTH, CMD_STLS, CMD_CAPA, CMD_QUIT,
	CMD_STAT, CMD_LIST, CMD_RETR, CMD_DELE, CMD_NOOP, CMD_RSET, CMD_TOP, CMD_UIDL
};

#define IN_AUTH  1u
#define IN_TRANS 2u

static const struct {
	const char *name;
	enum cmd_id id;
	unsigned states;
} commands[] = {
	{ "USER", CMD_USER, IN_AUTH },
	{ "PASS", CMD_PASS, IN_AUTH },
	{ "APOP", CMD_APOP, IN_AUTH },
	{ "AUTH", CMD_AUTH, IN_AUTH },
	{ "STLS", CMD_STLS, IN_AUTH },
	{ "CAPA", CMD_CAPA, IN_AUTH | IN_TRANS },
	{ "QUIT", CMD_QUIT, IN_AUTH | IN_TRANS },
	{ "STAT", CMD_STAT, IN_TRANS },
	{ "LIST", CMD_LIST, IN_TRANS },
	{ "RETR", CMD_RETR, IN_TRANS },
	{ "DELE", CMD_DELE, IN_TRANS },
	{ "NOOP", CMD_NOOP, IN_TRANS },
	{ "RSET", CMD_RSET, IN_TRANS },
	{ "TOP", CMD_TOP, IN_TRANS },
	{ "UIDL", CMD_UIDL, IN_TRANS },
};

/* Most arguments any command takes (TOP msg n, APOP name digest, AUTH mech initial-response). */
#define MAX_ARGS 2

static void
reply(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append one reply line and its CRLF.  out is bounded by the loop; a full out is the loop's problem. */
static void
reply(struct buf *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
}

static void
set_error(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_error(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

/* Format a log text into a fixed buffer; cutting it short is acceptable for a log. */
static void
fmt_text(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
fmt_text(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

static bool
plaintext_ok(const struct session *s)
{
	return s->cfg.tls_active || s->cfg.client_loopback || s->cfg.plaintext_allowed;
}

/* A bad command: -ERR why, and after too many of them, close (a client that only errs is a probe or broken). */
static unsigned
bad(struct session *s, struct buf *out, const char *why)
{
	reply(out, "-ERR %s", why);
	if (++s->bad_commands >= s->cfg.max_bad_commands) {
		reply(out, "-ERR Too many bad commands, closing connection.");
		set_error(s, "too many bad commands");
		s->state = ST_CLOSED;
		return SESSION_ACT_CLOSE;
	}
	return 0;
}

struct session *
session_new(const struct session_config *cfg)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	if (s->cfg.max_bad_commands == 0)
		s->cfg.max_bad_commands = SESSION_DEFAULT_MAX_BAD_COMMANDS;
	if (s->cfg.max_auth_failures == 0)
		s->cfg.max_auth_failures = SESSION_DEFAULT_MAX_AUTH_FAILURES;
	s->state = ST_AUTHORIZATION;
	return s;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	maildir_stream_close(s->st);
	maildir_close(s->md);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void
session_greeting(struct session *s, struct buf *out)
{
	if (s->cfg.get_secret == NULL) {
		reply(out, "+OK osd ready.");
		return;
	}
	/* RFC 1939 section 7: a timestamp different each time a banner is issued. */
	cram_challenge(s->cfg.hostname, s->banner);
	reply(out, "+OK osd ready. %s", s->banner);
}

void
session_timeout(struct session *s, struct buf *out)
{
	reply(out, "-ERR Disconnected for inactivity.");
	set_error(s, "idle timeout");
	s->state = ST_CLOSED;
}

void
session_tls_started(struct session *s)
{
	s->cfg.tls_active = true;
	s->have_user = false;
	explicit_bzero(s->user, sizeof(s->user));
	if (s->state != ST_CLOSED)
		s->state = ST_AUTHORIZATION;
}

bool
session_logged_in(const struct session *s)
{
	return s->state == ST_TRANSACTION;
}

const char *
session_user(const struct session *s)
{
	return s->user;
}

const char *
session_error(const struct session *s)
{
	return s->error;
}

const struct session_stats *
session_stats(const struct session *s)
{
	return &s->stats;
}

/* A login name fit to hand to the user database and to write in a log line. */
static bool
login_name_ok(const char *login)
{
	const unsigned char *p = (const unsigned char *)login;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static unsigned
auth_failed(struct session *s, struct buf *out)
{
	reply(out, "-ERR [AUTH] Authentication failed.");
	if (++s->auth_failures >= s->cfg.max_auth_failures) {
		s->state = ST_CLOSED;
		return SESSION_ACT_AUTH_FAILED | SESSION_ACT_CLOSE;
	}
	s->state = ST_AUTHORIZATION;
	return SESSION_ACT_AUTH_FAILED;
}

static int
open_default(const char *home, struct maildir **md_r, char *err, size_t errsize)
{
	char path[PATH_MAX];
	const char *why;
	int e;

	if (path_join(path, sizeof(path), home, "Maildir") == -1) {
		fmt_text(err, errsize, "home folder path too long");
		return SESSION_OPEN_FAILED;
	}
	if (maildir_open(path, MAILDIR_OPEN_LOCK, md_r, &why) == 0)
		return SESSION_OPEN_OK;
	e = errno;
	fmt_text(err, errsize, "%s: %s: %s", path, why, strerror(e));
	return e == EWOULDBLOCK ? SESSION_OPEN_IN_USE : SESSION_OPEN_FAILED;
}

/* What the client proved: a password, or a digest made with the cleartext secret (APOP, CRAM-MD5). */
struct proof {
	const char *password;   /* USER/PASS, PLAIN, LOGIN; NULL for a digest */
	const char *challenge;  /* the APOP banner or the CRAM-MD5 challenge */
	const char *digest;     /* the client's hex digest, digest_len octets */
	size_t digest_len;
	bool hmac;              /* CRAM-MD5 (HMAC-MD5) rather than APOP (MD5) */
};

/*
 * The digest check: get_secret, then cram_verify (constant time, and a
 * dummy digest for a user without a secret, so the refusal takes about as
 * long as a wrong digest).
 */
static int
check_digest(struct session *s, const char *name, const struct proof *p, char **home_r,
	     char *err, size_t errsize)
{
	char *secret = NULL;
	bool have;
	int r, v;

	r = s->cfg.get_secret(s->cfg.ctx, name, &secret, home_r, err, errsize);
	have = r == SESSION_CHECK_OK && secret != NULL && secret[0] != '\0';
	v = cram_verify(p->challenge, p->hmac, have ? secret : NULL, p->digest, p->digest_len);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (r != SESSION_CHECK_OK)
		return r;
	if (!have) {
		fmt_text(err, errsize, "no cleartext password for %s", p->hmac ? "CRAM-MD5" : "APOP");
		return SESSION_CHECK_BAD;
	}
	if (v == -1) {
		fmt_text(err, errsize, "MD5 computation failed");
		return SESSION_CHECK_TEMPFAIL;
	}
	if (v == 0) {
		fmt_text(err, errsize, "wrong %s digest", p->hmac ? "CRAM-MD5" : "APOP");
		return SESSION_CHECK_BAD;
	}
	return SESSION_CHECK_OK;
}

/* Check the credentials and open the maildrop: the end of USER/PASS, APOP and of every AUTH. */
static unsigned
login_proof(struct session *s, const char *name, const struct proof *proof, struct buf *out)
{
	char err[200] = "";
	char *home = NULL;
	int r;

	s->have_user = false;
	fmt_text(s->user, sizeof(s->user), "%s", name);
	if (!login_name_ok(name)) {
		/* Never reaches the database (nor the log) with spaces or control bytes. */
		fmt_text(s->user, sizeof(s->user), "%s", "(invalid)");
		set_error(s, "invalid login name");
		return auth_failed(s, out);
	}
	if (proof->password != NULL)
		r = s->cfg.check_password(s->cfg.ctx, name, proof->password, &home, err, sizeof(err));
	else
		r = check_digest(s, name, proof, &home, err, sizeof(err));
	if (r == SESSION_CHECK_TEMPFAIL) {
		free(home);
		set_error(s, "authentication temporarily failed: %s", err);
		reply(out, "-ERR [SYS/TEMP] Temporary authentication failure.");
		s->state = ST_AUTHORIZATION;
		return SESSION_ACT_ERROR;
	}
	if (r != SESSION_CHECK_OK || home == NULL) {
		free(home);
		set_error(s, "authentication failed: %s", err[0] != '\0' ? err : "bad credentials");
		return auth_failed(s, out);
	}
	err[0] = '\0';
	if (s->cfg.open_mailbox != NULL)
		r = s->cfg.open_mailbox(s->cfg.ctx, name, home, &s->md, err, sizeof(err));
	else
		r = open_default(home, &s->md, err, sizeof(err));
	free(home);
	s->state = ST_AUTHORIZATION;
	if (r == SESSION_OPEN_IN_USE) {
		s->md = NULL;
		set_error(s, "mailbox in use: %s", err);
		/* RFC 3206 section 4: the credentials were right, but another session has the maildrop. */
		reply(out, "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
		return SESSION_ACT_AUTH_OK;
	}
	if (r != SESSION_OPEN_OK || s->md == NULL) {
		s->md = NULL;
		set_error(s, "cannot open mailbox: %s", err);
		reply(out, "-ERR [SYS/TEMP] Cannot open the mailbox.");
		return SESSION_ACT_AUTH_OK | SESSION_ACT_ERROR;
	}
	s->error[0] = '\0';
	s->state = ST_TRANSACTION;
	reply(out, "+OK Logged in.");
	return SESSION_ACT_AUTH_OK;
}

static unsigned
login(struct session *s, const char *name, const char *password, struct buf *out)
{
	struct proof p = { .password = password };

	return login_proof(s, name, &p, out);
}

/*
 * APOP name digest (RFC 1939 section 7).  Not a plaintext login (the
 * password never crosses the wire), so allowed without TLS.
 */
static unsigned
cmd_apop(struct session *s, int argc, char **argv, struct buf *out)
{
	struct proof p = { 0 };

	if (argc != 2)
		return bad(s, out, argc < 2 ? "Missing argument." : "Too many arguments.");
	if (s->cfg.get_secret == NULL || s->banner[0] == '\0')
		return bad(s, out, "[AUTH] APOP is not available.");
	p.challenge = s->banner;
	p.digest = argv[1];
	p.digest_len = strlen(argv[1]);
	return login_proof(s, argv[0], &p, out);
}

/* The CRAM-MD5 response (RFC 2195): "user SP digest", the user name may hold spaces. */
static unsigned
auth_cram(struct session *s, const unsigned char *data, size_t len, struct buf *out)
{
	struct proof p = { .challenge = s->challenge, .hmac = true };
	char user[SASL_FIELD_MAX + 1];

	if (sasl_cram_split(data, len, user, &p.digest, &p.digest_len) == -1) {
		fmt_text(s->user, sizeof(s->user), "%s", "(invalid)");
		set_error(s, "AUTH CRAM-MD5: malformed response");
		return auth_failed(s, out);
	}
	return login_proof(s, user, &p, out);
}

static unsigned
refuse_plaintext(struct session *s, struct buf *out)
{
	set_error(s, "plaintext login refused on an insecure connection");
	return bad(s, out, "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
}

static void
capa(struct session *s, struct buf *out)
{
	reply(out, "+OK Capability list follows.");
	reply(out, "CAPA");
	reply(out, "TOP");
	reply(out, "UIDL");
	reply(out, "RESP-CODES");
	reply(out, "AUTH-RESP-CODE");
	reply(out, "PIPELINING");
	/* RFC 2449 section 6.7: osd never removes a message on its own. */
	reply(out, "EXPIRE NEVER");
	reply(out, "IMPLEMENTATION osd");
	/* USER, SASL and STLS only mean something before login (RFC 2449 section 5). */
	if (s->state == ST_AUTHORIZATION) {
		if (plaintext_ok(s)) {
			reply(out, "USER");
			reply(out, s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5 ?
				   "SASL PLAIN LOGIN CRAM-MD5" : "SASL PLAIN LOGIN");
		} else if (s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5) {
			/* CRAM-MD5 never sends the password: fine without TLS. */
			reply(out, "SASL CRAM-MD5");
		}
		if (s->cfg.tls_available && !s->cfg.tls_active)
			reply(out, "STLS");
	}
	reply(out, ".");
}

/*
 * A strict decimal number: digits only (no sign, no space), at most 19 of
 * them, so that it always fits.  0 and *v_r, or -1.
 */
static int
parse_number(const char *p, unsigned long long *v_r)
{
	unsigned long long v = 0;
	size_t n = 0;

	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++, n++) {
		if (*p < '0' || *p > '9' || n >= 19)
			return -1;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	*v_r = v;
	return 0;
}

/*
 * A message-number argument (RFC 1939: it "may NOT refer to a message
 * marked as deleted").  Returns 0 with *i_r = number - 1, or -1 with the
 * reply written and *act_r set.
 */
static int
message_arg(struct session *s, const char *arg, size_t *i_r, struct buf *out, unsigned *act_r)
{
	unsigned long long n;

	*act_r = 0;
	if (parse_number(arg, &n) == -1) {
		*act_r = bad(s, out, "Invalid message number.");
		return -1;
	}
	if (n == 0 || n > maildir_count(s->md)) {
		reply(out, "-ERR There's no message %llu.", n);
		return -1;
	}
	switch (maildir_msg_state(s->md, (size_t)(n - 1))) {
	case MAILDIR_MSG_DELETED:
		reply(out, "-ERR message %llu already deleted", n);
		return -1;
	case MAILDIR_MSG_GONE:
		reply(out, "-ERR message %llu no longer exists", n);
		return -1;
	case MAILDIR_MSG_PRESENT:
		break;
	}
	*i_r = (size_t)(n - 1);
	return 0;
}

/* Size of message i, or -1 with the error reply written (a vanished file is just skipped by the callers). */
static int
size_or_error(struct session *s, size_t i, uint64_t *size_r)
{
	if (maildir_size(s->md, i, size_r) == 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	set_error(s, "cannot read message %zu: %s", i + 1, strerror(errno));
	return -1;
}

static unsigned
cmd_stat_list(struct session *s, enum cmd_id id, int argc, char **argv, struct buf *out)
{
	size_t i, count = 0, n = maildir_count(s->md);
	uint64_t total = 0, size;
	unsigned act;
	int r;

	if (argc > (id == CMD_STAT ? 0 : 1))
		return bad(s, out, "Too many arguments.");
	if (argc == 1) {
		if (message_arg(s, argv[0], &i, out, &act) == -1)
			return act;
		r = size_or_error(s, i, &size);
		if (r == 1) {
			reply(out, "-ERR message %zu no longer exists", i + 1);
			return 0;
		}
		if (r == -1) {
			reply(out, "-ERR [SYS/TEMP] Cannot read the message.");
			return SESSION_ACT_ERROR;
		}
		reply(out, "+OK %zu %llu", i + 1, (unsigned long long)size);
		return 0;
	}
	/* First every size (which may fail), then the listing, so a failure leaves no half reply. */
	for (i = 0; i < n; i++) {
		if (maildir_msg_state(s->md, i) != MAILDIR_MSG_PRESENT)
			continue;
		r = size_or_error(s, i, &size);
		if (r == -1) {
			reply(out, "-ERR [SYS/TEMP] Cannot read a message.");
			return SESSION_ACT_ERROR;
		}
		if (r == 0) {
			count++;
			total += size;
		}
	}
	if (id == CMD_STAT) {
		/* RFC 1939 section 5: deleted messages are not counted. */
		reply(out, "+OK %zu %llu", count, (unsigned long long)total);
		return 0;
	}
	reply(out, "+OK %zu messages (%llu octets)", count, (unsigned long long)total);
	for (i = 0; i < n; i++) {
		if (maildir_msg_state(s->md, i) != MAILDIR_MSG_PRESENT ||
		    maildir_size(s->md, i, &size) != 0)
			continue;
		reply(out, "%zu %llu", i + 1, (unsigned long long)size);
	}
	reply(out, ".");
	return 0;
}

static unsigned
cmd_uidl(struct session *s, int argc, char **argv, struct buf *out)
{
	size_t i, n = maildir_count(s->md);
	unsigned act;

	if (argc > 1)
		return bad(s, out, "Too many arguments.");
	if (argc == 1) {
		if (message_arg(s, argv[0], &i, out, &act) == -1)
			return act;
		reply(out, "+OK %zu %s", i + 1, maildir_uidl(s->md, i));
		return 0;
	}
	reply(out, "+OK");
	for (i = 0; i < n; i++)
		if (maildir_msg_state(s->md, i) == MAILDIR_MSG_PRESENT)
			reply(out, "%zu %s", i + 1, maildir_uidl(s->md, i));
	reply(out, ".");
	return 0;
}

static unsigned
cmd_retr_top(struct session *s, enum cmd_id id, int argc, char **argv, struct buf *out)
{
	unsigned long long lines = 0;
	uint64_t size = 0;
	unsigned act;
	size_t i;

	if (argc < (id == CMD_TOP ? 2 : 1))
		return bad(s, out, "Missing argument.");
	if (argc > (id == CMD_TOP ? 2 : 1))
		return bad(s, out, "Too many arguments.");
	if (message_arg(s, argv[0], &i, out, &act) == -1)
		return act;
	if (id == CMD_TOP && parse_number(argv[1], &lines) == -1)
		return bad(s, out, "Invalid number of lines.");
	/* More lines than a long long holds is the same as "all of them". */
	if (lines > (unsigned long long)LLONG_MAX)
		lines = (unsigned long long)LLONG_MAX;
	if (maildir_stream_open(s->md, i, id == CMD_TOP ? (long long)lines : -1, &s->st,
				id == CMD_RETR ? &size : NULL) == -1) {
		if (errno == ENOENT) {
			reply(out, "-ERR message %zu no longer exists", i + 1);
			return 0;
		}
		set_error(s, "cannot read message %zu: %s", i + 1, strerror(errno));
		reply(out, "-ERR [SYS/TEMP] Cannot read the message.");
		return SESSION_ACT_ERROR;
	}
	s->st_index = i;
	s->st_is_retr = id == CMD_RETR;
	s->st_size = size;
	if (id == CMD_RETR)
		reply(out, "+OK %llu octets", (unsigned long long)size);
	else
		reply(out, "+OK");
	return SESSION_ACT_STREAM;
}

static unsigned
cmd_dele(struct session *s, int argc, char **argv, struct buf *out)
{
	unsigned act;
	size_t i;

	if (argc != 1)
		return bad(s, out, argc == 0 ? "Missing argument." : "Too many arguments.");
	if (message_arg(s, argv[0], &i, out, &act) == -1)
		return act;
	maildir_delete(s->md, i);
	reply(out, "+OK Marked to be deleted.");
	return 0;
}

/* QUIT: in TRANSACTION, the UPDATE state (RFC 1939 section 6). */
static unsigned
cmd_quit(struct session *s, struct buf *out)
{
	struct maildir_update_stats us;
	const char *why;
	unsigned act = SESSION_ACT_CLOSE;

	if (s->state == ST_TRANSACTION) {
		if (maildir_update(s->md, &us, &why) == -1) {
			set_error(s, "%s: %s", why, strerror(errno));
			reply(out, "-ERR [SYS/TEMP] Some deleted messages were not removed.");
			act |= SESSION_ACT_ERROR;
		} else if (us.deleted > 0) {
			reply(out, "+OK Logging out, messages deleted.");
		} else {
			reply(out, "+OK Logging out.");
		}
		s->stats.deleted = us.deleted;
		s->stats.deleted_octets = us.deleted_bytes;
		maildir_close(s->md);
		s->md = NULL;
	} else {
		reply(out, "+OK Logging out.");
	}
	s->state = ST_CLOSED;
	return act;
}

static unsigned
cmd_stls(struct session *s, int argc, struct buf *out)
{
	if (argc > 0)
		return bad(s, out, "Too many arguments.");
	if (s->cfg.tls_active) {
		reply(out, "-ERR TLS is already active.");
		return 0;
	}
	if (!s->cfg.tls_available) {
		reply(out, "-ERR TLS support isn't enabled.");
		return 0;
	}
	reply(out, "+OK Begin TLS negotiation now.");
	return SESSION_ACT_STARTTLS;
}

/* SASL PLAIN: the decoded message. */
static unsigned
auth_plain(struct session *s, const unsigned char *msg, size_t len, struct buf *out)
{
	struct sasl_plain p;
	const char *why;
	unsigned act;

	if (sasl_plain_parse(msg, len, &p, &why) == -1) {
		fmt_text(s->user, sizeof(s->user), "%s", "(none)");
		set_error(s, "AUTH PLAIN: %s", why);
		return auth_failed(s, out);
	}
	act = login(s, p.authcid, p.passwd, out);
	sasl_plain_clear(&p);
	return act;
}

static unsigned
cmd_auth(struct session *s, int argc, char **argv, struct buf *out)
{
	unsigned char data[SASL_PLAIN_MAX + 1];
	size_t len;
	unsigned act;
	enum sasl_response r;

	if (argc == 0) {
		/* Pre-RFC 5034 clients (RFC 1734 era) send a bare AUTH to list the mechanisms. */
		reply(out, "+OK");
		if (plaintext_ok(s)) {
			reply(out, "PLAIN");
			reply(out, "LOGIN");
		}
		if (s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5)
			reply(out, "CRAM-MD5");
		reply(out, ".");
		return 0;
	}
	if (argc > 2)
		return bad(s, out, "Too many arguments.");
	if (s->cfg.get_secret != NULL && strcasecmp(argv[0], "CRAM-MD5") == 0) {
		struct buf b;

		/* RFC 2195: the server speaks first; there is no initial response. */
		if (argc == 2)
			return bad(s, out, "CRAM-MD5 takes no initial response.");
		cram_challenge(s->cfg.hostname, s->challenge);
		buf_init(&b, 0);
		if (base64_encode(&b, s->challenge, strlen(s->challenge)) == -1 || b.data == NULL) {
			buf_free(&b);
			set_error(s, "AUTH CRAM-MD5: out of memory");
			reply(out, "-ERR [SYS/TEMP] Cannot start the exchange.");
			return SESSION_ACT_ERROR;
		}
		reply(out, "+ %s", b.data);
		buf_free(&b);
		s->state = ST_AUTH_CRAM;
		return 0;
	}
	if (!plaintext_ok(s))
		return refuse_plaintext(s, out);
	if (strcasecmp(argv[0], "PLAIN") != 0 && strcasecmp(argv[0], "LOGIN") != 0)
		return bad(s, out, "Unsupported authentication mechanism.");
	if (argc == 1) {
		if (strcasecmp(argv[0], "PLAIN") == 0) {
			reply(out, "+ ");
			s->state = ST_AUTH_PLAIN;
		} else {
			reply(out, "+ " SASL_LOGIN_USERNAME_CHALLENGE);
			s->state = ST_AUTH_LOGIN_USER;
		}
		return 0;
	}
	/* RFC 5034 section 4: the initial response, "=" for an empty one. */
	r = sasl_response_decode(argv[1], strlen(argv[1]), true, data, sizeof(data), &len);
	if (r != SASL_RESPONSE_DATA)
		return bad(s, out, "Invalid base64 data in initial response.");
	if (strcasecmp(argv[0], "PLAIN") == 0) {
		act = auth_plain(s, data, len, out);
	} else if (!sasl_login_field_ok(data, len)) {
		fmt_text(s->user, sizeof(s->user), "%s", "(invalid)");
		set_error(s, "AUTH LOGIN: invalid user name");
		act = auth_failed(s, out);
	} else {
		memcpy(s->user, data, len);
		s->user[len] = '\0';
		s->have_user = true;
		reply(out, "+ " SASL_LOGIN_PASSWORD_CHALLENGE);
		s->state = ST_AUTH_LOGIN_PASS;
		act = 0;
	}
	explicit_bzero(data, sizeof(data));
	return act;
}

/* A line while an AUTH exchange waits for the client's response (RFC 5034 section 4). */
static unsigned
auth_continue(struct session *s, const char *line, size_t len, struct buf *out)
{
	unsigned char data[SASL_PLAIN_MAX + 1];
	enum session_state st = s->state;
	bool had_user = s->have_user;
	enum sasl_response r;
	size_t dlen;
	unsigned act;
	char user[SASL_FIELD_MAX + 1];

	/* Whatever happens, this exchange ends here unless LOGIN asks for the password below. */
	s->state = ST_AUTHORIZATION;
	s->have_user = false;
	if (len > SESSION_LINE_MAX)
		return bad(s, out, "Line too long.");
	r = sasl_response_decode(line, len, false, data, sizeof(data), &dlen);
	if (r == SASL_RESPONSE_CANCEL) {
		reply(out, "-ERR Authentication aborted by client.");
		return 0;
	}
	if (r == SASL_RESPONSE_INVALID)
		return bad(s, out, "Invalid base64 data in continued response.");
	switch (st) {
	case ST_AUTH_PLAIN:
		act = auth_plain(s, data, dlen, out);
		break;
	case ST_AUTH_CRAM:
		act = auth_cram(s, data, dlen, out);
		break;
	case ST_AUTH_LOGIN_USER:
		if (!sasl_login_field_ok(data, dlen)) {
			fmt_text(s->user, sizeof(s->user), "%s", "(invalid)");
			set_error(s, "AUTH LOGIN: invalid user name");
			act = auth_failed(s, out);
			break;
		}
		memcpy(s->user, data, dlen);
		s->user[dlen] = '\0';
		s->have_user = true;
		reply(out, "+ " SASL_LOGIN_PASSWORD_CHALLENGE);
		s->state = ST_AUTH_LOGIN_PASS;
		act = 0;
		break;
	default:        /* ST_AUTH_LOGIN_PASS */
		fmt_text(user, sizeof(user), "%s", s->user);
		if (!had_user || !sasl_login_field_ok(data, dlen)) {
			set_error(s, "AUTH LOGIN: invalid password");
			act = auth_failed(s, out);
			break;
		}
		act = login(s, user, (const char *)data, out);
		break;
	}
	explicit_bzero(data, sizeof(data));
	return act;
}

/* Split args at runs of spaces; more than MAX_ARGS words gives MAX_ARGS + 1. */
static int
split_args(char *p, char **argv)
{
	int argc = 0;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return argc;
		if (argc == MAX_ARGS)
			return MAX_ARGS + 1;
		argv[argc++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ')
			*p++ = '\0';
	}
}

static unsigned
dispatch(struct session *s, char *line, struct buf *out)
{
	char name[5], *rest, *argv[MAX_ARGS];
	size_t wlen, k, c;
	unsigned where;
	int argc;

	wlen = strcspn(line, " ");
	if (wlen == 0 || wlen > 4)
		return bad(s, out, "Unknown command.");
	for (k = 0; k < wlen; k++) {
		char ch = line[k];

		name[k] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
	}
	name[wlen] = '\0';
	rest = line[wlen] == ' ' ? line + wlen + 1 : line + wlen;
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strcmp(commands[c].name, name) == 0)
			break;
	if (c == sizeof(commands) / sizeof(commands[0]))
		return bad(s, out, "Unknown command.");
	where = s->state == ST_TRANSACTION ? IN_TRANS : IN_AUTH;
	if (!(commands[c].states & where))
		return bad(s, out, where == IN_TRANS ? "Already logged in." : "Log in first.");

	switch (commands[c].id) {
	case CMD_USER:
		/* RFC 1939 section 7: the rest of the line is the name. */
		if (!plaintext_ok(s))
			return refuse_plaintext(s, out);
		/* Trailing spaces are a client's slip, never part of a login name. */
		for (k = strlen(rest); k > 0 && rest[k - 1] == ' '; k--)
			rest[k - 1] = '\0';
		if (*rest == '\0')
			return bad(s, out, "Missing user name.");
		fmt_text(s->user, sizeof(s->user), "%s", rest);
		s->have_user = true;
		reply(out, "+OK");
		return 0;
	case CMD_PASS:
		/* The rest of the line, spaces included, is the password (as qmail-popup and Dovecot take it). */
		if (!plaintext_ok(s))
			return refuse_plaintext(s, out);
		if (!s->have_user)
			return bad(s, out, "No user name given.");
		{
			char user[SASL_FIELD_MAX + 1];

			fmt_text(user, sizeof(user), "%s", s->user);
			return login(s, user, rest, out);
		}
	default:
		break;
	}

	argc = split_args(rest, argv);
	if (argc > MAX_ARGS)
		return bad(s, out, "Too many arguments.");
	switch (commands[c].id) {
	case CMD_APOP:
		return cmd_apop(s, argc, argv, out);
	case CMD_AUTH:
		return cmd_auth(s, argc, argv, out);
	case CMD_STLS:
		return cmd_stls(s, argc, out);
	case CMD_CAPA:
		if (argc > 0)
			return bad(s, out, "Too many arguments.");
		capa(s, out);
		return 0;
	case CMD_QUIT:
		if (argc > 0)
			return bad(s, out, "Too many arguments.");
		return cmd_quit(s, out);
	case CMD_STAT:
	case CMD_LIST:
		return cmd_stat_list(s, commands[c].id, argc, argv, out);
	case CMD_UIDL:
		return cmd_uidl(s, argc, argv, out);
	case CMD_RETR:
	case CMD_TOP:
		return cmd_retr_top(s, commands[c].id, argc, argv, out);
	case CMD_DELE:
		return cmd_dele(s, argc, argv, out);
	case CMD_NOOP:
		if (argc > 0)
			return bad(s, out, "Too many arguments.");
		reply(out, "+OK");
		return 0;
	case CMD_RSET:
		if (argc > 0)
			return bad(s, out, "Too many arguments.");
		/* RFC 1939 section 5: unmark every message marked as deleted. */
		maildir_undelete_all(s->md);
		reply(out, "+OK");
		return 0;
	default:
		return bad(s, out, "Unknown command.");
	}
}

unsigned
session_input_line(struct session *s, const char *line, size_t len, struct buf *out)
{
	char copy[SESSION_LINE_MAX + 1];
	unsigned act;

	if (s->state == ST_CLOSED || s->st != NULL)
		return SESSION_ACT_CLOSE;       /* the loop broke the contract: stop */
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (s->state == ST_AUTH_PLAIN || s->state == ST_AUTH_LOGIN_USER ||
	    s->state == ST_AUTH_LOGIN_PASS || s->state == ST_AUTH_CRAM)
		return auth_continue(s, line, len, out);
	if (len > SESSION_COMMAND_MAX)
		return bad(s, out, "Line too long.");
	/* A NUL would cut the command short in a C string: refuse it rather than guess. */
	if (memchr(line, '\0', len) != NULL)
		return bad(s, out, "Invalid characters in command.");
	memcpy(copy, line, len);
	copy[len] = '\0';
	act = dispatch(s, copy, out);
	/* The line may have been PASS or AUTH with a password in it. */
	explicit_bzero(copy, len);
	return act;
}

unsigned
session_stream(struct session *s, struct buf *out)
{
	int r;

	if (s->st == NULL)
		return 0;
	r = maildir_stream_read(s->st, out);
	if (r == 1)
		return SESSION_ACT_STREAM;
	maildir_stream_close(s->st);
	s->st = NULL;
	if (r == -1) {
		set_error(s, "cannot read message %zu: %s", s->st_index + 1, strerror(errno));
		s->state = ST_CLOSED;
		return SESSION_ACT_CLOSE | SESSION_ACT_ERROR;
	}
	if (s->st_is_retr) {
		/* Seen only once the whole message went out; TOP does not count. */
		maildir_mark_seen(s->md, s->st_index);
		s->stats.retrieved++;
		s->stats.retrieved_octets += s->st_size;
	}
	return 0;
}
