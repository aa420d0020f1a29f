/* pop3_session_auth.c - POP3 login: USER/PASS and APOP (RFC 1939), AUTH PLAIN, LOGIN and CRAM-MD5 (RFC 5034, 2195), then opening the maildrop. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "login.h"
#include "maildir_tmp.h"
#include "path.h"
#include "pop3_session_int.h"

/* Format a log text into a fixed buffer; cutting it short is acceptable for a log. */
static void __attribute__((format(printf, 3, 4)))
fmt_text(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
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
open_default(const char *home, long tmp_max_age, struct maildir **md_r, char *err, size_t errsize)
{
	char path[PATH_MAX];
	const char *why;
	int e;

	if (path_join(path, sizeof(path), home, "Maildir") == -1) {
		fmt_text(err, errsize, "home folder path too long");
		return SESSION_OPEN_FAILED;
	}
	if (maildir_open(path, MAILDIR_OPEN_LOCK, md_r, &why) == 0) {
		/* The reader cleans up after interrupted deliveries (maildir(5), as qmail-pop3d). */
		(void)maildir_tmp_clean(path, tmp_max_age, time(NULL));
		return SESSION_OPEN_OK;
	}
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
	if (s->cfg.handoff) {
		free(home);
		s->error[0] = '\0';
		s->state = ST_CLOSED;
		return SESSION_ACT_AUTH_OK | SESSION_ACT_HANDOFF;
	}
	err[0] = '\0';
	if (s->cfg.open_mailbox != NULL)
		r = s->cfg.open_mailbox(s->cfg.ctx, name, home, &s->md, err, sizeof(err));
	else
		r = open_default(home, s->cfg.maildir_tmp_max_age, &s->md, err, sizeof(err));
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

/* The exchange is over (or LOGIN asks for the password): the credentials it gave, or why not. */
static unsigned
auth_end(struct session *s, enum sasl_result r, bool initial, struct buf *out)
{
	struct sasl_server *x = &s->sasl;
	struct proof p = { .password = x->secret };

	switch (r) {
	case SASL_CHALLENGE:
		/* LOGIN asks for the password; the name is the session's user until then. */
		fmt_text(s->user, sizeof(s->user), "%s", x->login);
		s->have_user = true;
		pop3_reply(out, "+ %s", x->challenge);
		s->state = ST_AUTH_SASL;
		return 0;
	case SASL_CANCELLED:
		pop3_reply(out, "-ERR Authentication aborted by client.");
		return 0;
	case SASL_UNDECODABLE:
		return pop3_bad(s, out, initial ? "Invalid base64 data in initial response." :
			"Invalid base64 data in continued response.");
	case SASL_MALFORMED:
		/* The name when the exchange got as far as one (LOGIN's password), else a stand-in. */
		fmt_text(s->user, sizeof(s->user), "%s", x->login[0] != '\0' ? x->login :
			 x->mech == SASL_MECH_PLAIN ? "(none)" : "(invalid)");
		pop3_set_error(s, "AUTH %s: %s", sasl_mech_name(x->mech), x->error);
		return auth_failed(s, out);
	case SASL_DONE:
		break;
	}
	if (x->mech == SASL_MECH_CRAM_MD5)
		p = (struct proof){ .challenge = x->cram_text, .digest = x->secret,
				    .digest_len = x->secret_len, .hmac = true };
	return login_proof(s, x->login, &p, out);
}

/* One client response to the exchange (initial: the one given with AUTH), and what follows. */
static unsigned
auth_step(struct session *s, const char *line, size_t len, bool initial, struct buf *out)
{
	enum sasl_result r;
	unsigned act;

	/* Whatever happens, this exchange ends here unless LOGIN asks for the password. */
	s->state = ST_AUTHORIZATION;
	/* A USER given before AUTH stays until a login tries it (as it always has). */
	if (!initial)
		s->have_user = false;
	r = sasl_server_step(&s->sasl, line, len, initial);
	act = auth_end(s, r, initial, out);
	if (r != SASL_CHALLENGE)
		sasl_server_clear(&s->sasl);
	return act;
}

/* Start an AUTH exchange: the first challenge, or, with an initial response, its first step. */
static unsigned
auth_start(struct session *s, enum sasl_mech mech, const char *initial, struct buf *out)
{
	char cram[CRAM_CHALLENGE_SIZE];

	if (mech == SASL_MECH_CRAM_MD5)
		cram_challenge(s->cfg.hostname, cram);
	if (sasl_server_start(&s->sasl, mech, mech == SASL_MECH_CRAM_MD5 ? cram : NULL) == -1) {
		pop3_set_error(s, "AUTH %s: cannot start the exchange", sasl_mech_name(mech));
		pop3_reply(out, "-ERR [SYS/TEMP] Cannot start the exchange.");
		return SESSION_ACT_ERROR;
	}
	if (initial != NULL)
		return auth_step(s, initial, strlen(initial), true, out);
	pop3_reply(out, "+ %s", s->sasl.challenge);
	s->state = ST_AUTH_SASL;
	return 0;
}

unsigned
pop3_auth_command(struct session *s, int argc, char **argv, struct buf *out)
{
	int mech;

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
	mech = sasl_mech_parse(argv[0], strlen(argv[0]));
	if (s->cfg.get_secret != NULL && mech == SASL_MECH_CRAM_MD5) {
		/* RFC 2195: the server speaks first; there is no initial response. */
		if (argc == 2)
			return pop3_bad(s, out, "CRAM-MD5 takes no initial response.");
		return auth_start(s, SASL_MECH_CRAM_MD5, NULL, out);
	}
	if (!pop3_plaintext_ok(s))
		return refuse_plaintext(s, out);
	if (mech != SASL_MECH_PLAIN && mech != SASL_MECH_LOGIN)
		return pop3_bad(s, out, "Unsupported authentication mechanism.");
	/* RFC 5034 section 4: the initial response, "=" for an empty one. */
	return auth_start(s, (enum sasl_mech)mech, argc == 2 ? argv[1] : NULL, out);
}

unsigned
pop3_auth_continue(struct session *s, const char *line, size_t len, struct buf *out)
{
	if (len > SESSION_LINE_MAX) {
		s->state = ST_AUTHORIZATION;
		s->have_user = false;
		sasl_server_clear(&s->sasl);
		return pop3_bad(s, out, "Line too long.");
	}
	return auth_step(s, line, len, false, out);
}
