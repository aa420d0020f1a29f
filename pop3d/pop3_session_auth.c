/* pop3_session_auth.c - POP3 login: USER/PASS and APOP (RFC 1939), AUTH PLAIN, LOGIN and CRAM-MD5 (RFC 5034, 2195), then opening the maildrop. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "path.h"
#include "pop3_session_int.h"

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
	pop3_reply(out, "-ERR [AUTH] Authentication failed.");
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
		pop3_set_error(s, "invalid login name");
		return auth_failed(s, out);
	}
	if (proof->password != NULL)
		r = s->cfg.check_password(s->cfg.ctx, name, proof->password, &home, err, sizeof(err));
	else
		r = check_digest(s, name, proof, &home, err, sizeof(err));
	if (r == SESSION_CHECK_TEMPFAIL) {
		free(home);
		pop3_set_error(s, "authentication temporarily failed: %s", err);
		pop3_reply(out, "-ERR [SYS/TEMP] Temporary authentication failure.");
		s->state = ST_AUTHORIZATION;
		return SESSION_ACT_ERROR;
	}
	if (r != SESSION_CHECK_OK || home == NULL) {
		free(home);
		pop3_set_error(s, "authentication failed: %s", err[0] != '\0' ? err : "bad credentials");
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
		pop3_set_error(s, "mailbox in use: %s", err);
		/* RFC 3206 section 4: the credentials were right, but another session has the maildrop. */
		pop3_reply(out, "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
		return SESSION_ACT_AUTH_OK;
	}
	if (r != SESSION_OPEN_OK || s->md == NULL) {
		s->md = NULL;
		pop3_set_error(s, "cannot open mailbox: %s", err);
		pop3_reply(out, "-ERR [SYS/TEMP] Cannot open the mailbox.");
		return SESSION_ACT_AUTH_OK | SESSION_ACT_ERROR;
	}
	s->error[0] = '\0';
	s->state = ST_TRANSACTION;
	pop3_reply(out, "+OK Logged in.");
	return SESSION_ACT_AUTH_OK;
}

static unsigned
login(struct session *s, const char *name, const char *password, struct buf *out)
{
	struct proof p = { .password = password };

	return login_proof(s, name, &p, out);
}

static unsigned
refuse_plaintext(struct session *s, struct buf *out)
{
	pop3_set_error(s, "plaintext login refused on an insecure connection");
	return pop3_bad(s, out, "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
}

unsigned
pop3_auth_user(struct session *s, char *rest, struct buf *out)
{
	size_t k;

	/* RFC 1939 section 7: the rest of the line is the name. */
	if (!pop3_plaintext_ok(s))
		return refuse_plaintext(s, out);
	/* Trailing spaces are a client's slip, never part of a login name. */
	for (k = strlen(rest); k > 0 && rest[k - 1] == ' '; k--)
		rest[k - 1] = '\0';
	if (*rest == '\0')
		return pop3_bad(s, out, "Missing user name.");
	fmt_text(s->user, sizeof(s->user), "%s", rest);
	s->have_user = true;
	pop3_reply(out, "+OK");
	return 0;
}

unsigned
pop3_auth_pass(struct session *s, const char *rest, struct buf *out)
{
	char user[SASL_FIELD_MAX + 1];

	/* The rest of the line, spaces included, is the password (as qmail-popup and Dovecot take it). */
	if (!pop3_plaintext_ok(s))
		return refuse_plaintext(s, out);
	if (!s->have_user)
		return pop3_bad(s, out, "No user name given.");
	fmt_text(user, sizeof(user), "%s", s->user);
	return login(s, user, rest, out);
}

/*
 * APOP name digest (RFC 1939 section 7).  Not a plaintext login (the
 * password never crosses the wire), so allowed without TLS.
 */
unsigned
pop3_auth_apop(struct session *s, int argc, char **argv, struct buf *out)
{
	struct proof p = { 0 };

	if (argc != 2)
		return pop3_bad(s, out, argc < 2 ? "Missing argument." : "Too many arguments.");
	if (s->cfg.get_secret == NULL || s->banner[0] == '\0')
		return pop3_bad(s, out, "[AUTH] APOP is not available.");
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
		pop3_set_error(s, "AUTH CRAM-MD5: malformed response");
		return auth_failed(s, out);
	}
	return login_proof(s, user, &p, out);
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
		pop3_set_error(s, "AUTH PLAIN: %s", why);
		return auth_failed(s, out);
	}
	act = login(s, p.authcid, p.passwd, out);
	sasl_plain_clear(&p);
	return act;
}

/* SASL LOGIN: the decoded user name (initial response or first answer); then ask for the password. */
static unsigned
auth_login_user(struct session *s, const unsigned char *data, size_t len, struct buf *out)
{
	if (!sasl_login_field_ok(data, len)) {
		fmt_text(s->user, sizeof(s->user), "%s", "(invalid)");
		pop3_set_error(s, "AUTH LOGIN: invalid user name");
		return auth_failed(s, out);
	}
	memcpy(s->user, data, len);
	s->user[len] = '\0';
	s->have_user = true;
	pop3_reply(out, "+ " SASL_LOGIN_PASSWORD_CHALLENGE);
	s->state = ST_AUTH_LOGIN_PASS;
	return 0;
}

unsigned
pop3_auth_command(struct session *s, int argc, char **argv, struct buf *out)
{
	unsigned char data[SASL_PLAIN_MAX + 1];
	size_t len;
	unsigned act;
	enum sasl_response r;

	if (argc == 0) {
		/* Pre-RFC 5034 clients (RFC 1734 era) send a bare AUTH to list the mechanisms. */
		pop3_reply(out, "+OK");
		if (pop3_plaintext_ok(s)) {
			pop3_reply(out, "PLAIN");
			pop3_reply(out, "LOGIN");
		}
		if (s->cfg.get_secret != NULL && s->cfg.advertise_cram_md5)
			pop3_reply(out, "CRAM-MD5");
		pop3_reply(out, ".");
		return 0;
	}
	if (argc > 2)
		return pop3_bad(s, out, "Too many arguments.");
	if (s->cfg.get_secret != NULL && strcasecmp(argv[0], "CRAM-MD5") == 0) {
		struct buf b;

		/* RFC 2195: the server speaks first; there is no initial response. */
		if (argc == 2)
			return pop3_bad(s, out, "CRAM-MD5 takes no initial response.");
		cram_challenge(s->cfg.hostname, s->challenge);
		buf_init(&b, 0);
		if (base64_encode(&b, s->challenge, strlen(s->challenge)) == -1 || b.data == NULL) {
			buf_free(&b);
			pop3_set_error(s, "AUTH CRAM-MD5: out of memory");
			pop3_reply(out, "-ERR [SYS/TEMP] Cannot start the exchange.");
			return SESSION_ACT_ERROR;
		}
		pop3_reply(out, "+ %s", b.data);
		buf_free(&b);
		s->state = ST_AUTH_CRAM;
		return 0;
	}
	if (!pop3_plaintext_ok(s))
		return refuse_plaintext(s, out);
	if (strcasecmp(argv[0], "PLAIN") != 0 && strcasecmp(argv[0], "LOGIN") != 0)
		return pop3_bad(s, out, "Unsupported authentication mechanism.");
	if (argc == 1) {
		if (strcasecmp(argv[0], "PLAIN") == 0) {
			pop3_reply(out, "+ ");
			s->state = ST_AUTH_PLAIN;
		} else {
			pop3_reply(out, "+ " SASL_LOGIN_USERNAME_CHALLENGE);
			s->state = ST_AUTH_LOGIN_USER;
		}
		return 0;
	}
	/* RFC 5034 section 4: the initial response, "=" for an empty one. */
	r = sasl_response_decode(argv[1], strlen(argv[1]), true, data, sizeof(data), &len);
	if (r != SASL_RESPONSE_DATA)
		return pop3_bad(s, out, "Invalid base64 data in initial response.");
	if (strcasecmp(argv[0], "PLAIN") == 0)
		act = auth_plain(s, data, len, out);
	else
		act = auth_login_user(s, data, len, out);
	explicit_bzero(data, sizeof(data));
	return act;
}

unsigned
pop3_auth_continue(struct session *s, const char *line, size_t len, struct buf *out)
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
		return pop3_bad(s, out, "Line too long.");
	r = sasl_response_decode(line, len, false, data, sizeof(data), &dlen);
	if (r == SASL_RESPONSE_CANCEL) {
		pop3_reply(out, "-ERR Authentication aborted by client.");
		return 0;
	}
	if (r == SASL_RESPONSE_INVALID)
		return pop3_bad(s, out, "Invalid base64 data in continued response.");
	switch (st) {
	case ST_AUTH_PLAIN:
		act = auth_plain(s, data, dlen, out);
		break;
	case ST_AUTH_CRAM:
		act = auth_cram(s, data, dlen, out);
		break;
	case ST_AUTH_LOGIN_USER:
		act = auth_login_user(s, data, dlen, out);
		break;
	default:        /* ST_AUTH_LOGIN_PASS */
		fmt_text(user, sizeof(user), "%s", s->user);
		if (!had_user || !sasl_login_field_ok(data, dlen)) {
			pop3_set_error(s, "AUTH LOGIN: invalid password");
			act = auth_failed(s, out);
			break;
		}
		act = login(s, user, (const char *)data, out);
		break;
	}
	explicit_bzero(data, sizeof(data));
	return act;
}

