/* smtp_session_auth.c - SMTP AUTH (RFC 4954): PLAIN, LOGIN and CRAM-MD5 exchanges against the session's password hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "login.h"
#include "smtp_session_int.h"

bool
smtp_auth_plaintext_ok(const struct smtp_session *s)
{
	return s->tls || s->cfg.auth_plaintext_ok;
}

static void
set_user(struct smtp_session *s, const char *name)
{
	snprintf(s->auth_user, sizeof(s->auth_user), "%s",
		 login_name_ok(name) ? name : "(invalid)");
}

/* The end of every exchange: reply, and say what happened. */
static unsigned
finish(struct smtp_session *s, int r, bool relay, const char *err, struct buf *out)
{
	s->auth_running = false;
	sasl_server_clear(&s->sasl);
	if (r == SMTP_CHECK_OK) {
		s->authenticated = true;
		s->auth_relay = relay;
		s->error[0] = '\0';
		smtp_reply(out, "235 2.7.0 Authentication successful");
		return SMTP_ACT_AUTH_OK;
	}
	snprintf(s->error, sizeof(s->error), "%s", err[0] != '\0' ? err : "bad credentials");
	if (r == SMTP_CHECK_TEMPFAIL) {
		smtp_reply(out, "454 4.7.0 Temporary authentication failure");
		return 0;
	}
	smtp_reply(out, "535 5.7.8 Authentication credentials invalid");
	/*
	 * A client guessing passwords gets a few tries per connection, as in
	 * pop3d and imapd, not one per error up to max_errors: then 421 and
	 * the end (RFC 5321 section 3.8).  The reply still waits for the
	 * failed-login delay (the loop's LOOP_LOGIN_FAILED).
	 */
	if (++s->auth_failures >= s->cfg.max_auth_failures) {
		smtp_reply(out, "421 4.7.0 %s Error: too many failed authentications, "
			   "closing the connection", s->cfg.hostname);
		s->closing = true;
		return SMTP_ACT_AUTH_FAILED | SMTP_ACT_CLOSE;
	}
	return SMTP_ACT_AUTH_FAILED | smtp_session_count_error(s, out);
}

static unsigned
check_password(struct smtp_session *s, const char *name, const char *password, struct buf *out)
{
	char err[200] = "";
	bool relay = false;
	int r;

	set_user(s, name);
	if (!login_name_ok(name)) {
		snprintf(err, sizeof(err), "invalid login name");
		r = SMTP_CHECK_BAD;
	} else {
		r = s->cfg.check_password(s->cfg.ctx, name, password, &relay, err, sizeof(err));
	}
	return finish(s, r, relay, err, out);
}

static unsigned
check_cram(struct smtp_session *s, const char *user, const char *digest, size_t dlen,
	   struct buf *out)
{
	char err[200] = "";
	char *secret = NULL;
	bool relay = false;
	int r, v;

	if (!login_name_ok(user)) {
		set_user(s, "");
		return finish(s, SMTP_CHECK_BAD, false, "malformed CRAM-MD5 response", out);
	}
	set_user(s, user);
	r = s->cfg.get_secret(s->cfg.ctx, user, &secret, &relay, err, sizeof(err));
	v = cram_verify(s->sasl.cram_text, true, r == SMTP_CHECK_OK ? secret : NULL, digest, dlen);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (r == SMTP_CHECK_OK && v != 1) {
		r = v == -1 ? SMTP_CHECK_TEMPFAIL : SMTP_CHECK_BAD;
		snprintf(err, sizeof(err), "%s", v == -1 ? "MD5 computation failed" : "wrong CRAM-MD5 digest");
	}
	return finish(s, r, relay, err, out);
}

/* Take one base64 response (initial: given with the command) and act on what the exchange says. */
static unsigned
respond(struct smtp_session *s, const char *text, size_t len, bool initial, struct buf *out)
{
	struct sasl_server *x = &s->sasl;
	char why[200];

	switch (sasl_server_step(x, text, len, initial)) {
	case SASL_CHALLENGE:
		/* LOGIN asks for the password. */
		smtp_reply(out, "334 %s", x->challenge);
		return 0;
	case SASL_CANCELLED:
		s->auth_running = false;
		sasl_server_clear(x);
		smtp_reply(out, "501 5.0.0 Authentication cancelled");
		return smtp_session_count_error(s, out);
	case SASL_UNDECODABLE:
		s->auth_running = false;
		sasl_server_clear(x);
		smtp_reply(out, "501 5.5.2 Cannot decode the response (not base64, or too long)");
		return smtp_session_count_error(s, out);
	case SASL_MALFORMED:
		/* The name when the exchange got as far as one (LOGIN's password). */
		set_user(s, x->login);
		snprintf(why, sizeof(why), "AUTH %s: %s", sasl_mech_name(x->mech), x->error);
		return finish(s, SMTP_CHECK_BAD, false, why, out);
	case SASL_DONE:
		break;
	}
	if (x->mech == SASL_MECH_CRAM_MD5)
		return check_cram(s, x->login, x->secret, x->secret_len, out);
	return check_password(s, x->login, x->secret, out);
}

/* Start an exchange: its first challenge, or the initial response's step. */
static unsigned
start(struct smtp_session *s, enum sasl_mech mech, const char *initial, size_t ilen,
      struct buf *out)
{
	char cram[CRAM_CHALLENGE_SIZE];

	if (mech == SASL_MECH_CRAM_MD5)
		cram_challenge(s->cfg.hostname, cram);
	if (sasl_server_start(&s->sasl, mech, mech == SASL_MECH_CRAM_MD5 ? cram : NULL) == -1)
		return SMTP_ACT_CLOSE;
	s->auth_running = true;
	if (initial != NULL)
		return respond(s, initial, ilen, true, out);
	/* RFC 4954 section 4: PLAIN's challenge is empty ("334 "). */
	smtp_reply(out, "334 %s", s->sasl.challenge);
	return 0;
}

static size_t
strip_eol(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

unsigned
smtp_auth_response(struct smtp_session *s, const char *line, size_t len, struct buf *out)
{
	return respond(s, line, strip_eol(line, len), false, out);
}

unsigned
smtp_auth_command(struct smtp_session *s, const char *arg, size_t len, struct buf *out)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp != NULL ? (size_t)(sp - arg) : len;
	const char *initial = sp != NULL ? sp + 1 : NULL;
	size_t ilen = sp != NULL ? len - mlen - 1 : 0;
	int mech;

	s->auth_seen = true;
	if (!s->esmtp) {
		smtp_reply(out, "503 5.5.1 Error: send EHLO first");
		return smtp_session_count_error(s, out);
	}
	if (s->authenticated) {
		smtp_reply(out, "503 5.5.1 Error: already authenticated");
		return smtp_session_count_error(s, out);
	}
	if (s->have_mail) {
		smtp_reply(out, "503 5.5.1 Error: MAIL transaction in progress");
		return smtp_session_count_error(s, out);
	}
	if (mlen == 0) {
		smtp_reply(out, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return smtp_session_count_error(s, out);
	}
	mech = sasl_mech_parse(arg, mlen);
	if (mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN) {
		if (!smtp_auth_plaintext_ok(s))
			goto need_tls;
		return start(s, (enum sasl_mech)mech, initial, ilen, out);
	}
	if (mech == SASL_MECH_CRAM_MD5 && s->cfg.get_secret != NULL) {
		if (initial != NULL) {
			smtp_reply(out, "501 5.5.4 CRAM-MD5 takes no initial response");
			return smtp_session_count_error(s, out);
		}
		return start(s, SASL_MECH_CRAM_MD5, NULL, 0, out);
	}
	smtp_reply(out, "504 5.5.4 Unrecognized authentication type");
	return smtp_session_count_error(s, out);
need_tls:
	smtp_reply(out, "538 5.7.11 Encryption required for requested authentication mechanism");
	return smtp_session_count_error(s, out);
}
