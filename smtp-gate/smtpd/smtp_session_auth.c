/* smtp_session_auth.c - SMTP AUTH (RFC 4954): PLAIN, LOGIN and CRAM-MD5 exchanges against the session's password hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "smtp_session_int.h"

/* The longest decoded client response any mechanism needs, and its NUL. */
#define AUTH_DECODED_MAX (SASL_PLAIN_MAX + 1)

bool
smtp_auth_plaintext_ok(const struct smtp_session *s)
{
	return s->tls || s->cfg.auth_plaintext_ok;
}

/* A login name worth looking up (and logging): printable, no spaces. */
static bool
login_name_ok(const char *name)
{
	const unsigned char *p;

	if (name[0] == '\0')
		return false;
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
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
	s->auth_step = AUTH_NONE;
	explicit_bzero(s->login_user, sizeof(s->login_user));
	explicit_bzero(s->challenge, sizeof(s->challenge));
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
check_cram(struct smtp_session *s, const unsigned char *data, size_t len, struct buf *out)
{
	char user[SASL_FIELD_MAX + 1], err[200] = "";
	const char *digest;
	size_t dlen;
	char *secret = NULL;
	bool relay = false;
	int r, v;

	if (sasl_cram_split(data, len, user, &digest, &dlen) == -1 || !login_name_ok(user)) {
		set_user(s, "");
		return finish(s, SMTP_CHECK_BAD, false, "malformed CRAM-MD5 response", out);
	}
	set_user(s, user);
	r = s->cfg.get_secret(s->cfg.ctx, user, &secret, &relay, err, sizeof(err));
	v = cram_verify(s->challenge, true, r == SMTP_CHECK_OK ? secret : NULL, digest, dlen);
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

/* A decoded response has arrived for the current step. */
static unsigned
step(struct smtp_session *s, const unsigned char *data, size_t len, struct buf *out)
{
	struct sasl_plain plain;
	const char *why = NULL;
	unsigned act;

	switch (s->auth_step) {
	case AUTH_PLAIN_WAIT:
		if (sasl_plain_parse(data, len, &plain, &why) == -1) {
			set_user(s, "");
			return finish(s, SMTP_CHECK_BAD, false, why, out);
		}
		act = check_password(s, plain.authcid, plain.passwd, out);
		sasl_plain_clear(&plain);
		return act;
	case AUTH_LOGIN_USER:
		if (!sasl_login_field_ok(data, len)) {
			set_user(s, "");
			return finish(s, SMTP_CHECK_BAD, false, "bad AUTH LOGIN user name", out);
		}
		memcpy(s->login_user, data, len);
		s->login_user[len] = '\0';
		s->auth_step = AUTH_LOGIN_PASS;
		smtp_reply(out, "334 " SASL_LOGIN_PASSWORD_CHALLENGE);
		return 0;
	case AUTH_LOGIN_PASS:
		if (!sasl_login_field_ok(data, len)) {
			set_user(s, s->login_user);
			return finish(s, SMTP_CHECK_BAD, false, "bad AUTH LOGIN password", out);
		}
		return check_password(s, s->login_user, (const char *)data, out);
	case AUTH_CRAM_WAIT:
		return check_cram(s, data, len, out);
	case AUTH_NONE:
		break;
	}
	return 0;
}

/* Decode one base64 response (initial: given with the command) and take the step. */
static unsigned
respond(struct smtp_session *s, const char *text, size_t len, bool initial, struct buf *out)
{
	unsigned char data[AUTH_DECODED_MAX + 1];
	size_t dlen = 0;
	unsigned act;

	switch (sasl_response_decode(text, len, initial, data, sizeof(data) - 1, &dlen)) {
	case SASL_RESPONSE_CANCEL:
		s->auth_step = AUTH_NONE;
		explicit_bzero(s->login_user, sizeof(s->login_user));
		smtp_reply(out, "501 5.0.0 Authentication cancelled");
		return smtp_session_count_error(s, out);
	case SASL_RESPONSE_INVALID:
		s->auth_step = AUTH_NONE;
		explicit_bzero(s->login_user, sizeof(s->login_user));
		smtp_reply(out, "501 5.5.2 Cannot decode the response (not base64, or too long)");
		return smtp_session_count_error(s, out);
	case SASL_RESPONSE_DATA:
		break;
	}
	act = step(s, data, dlen, out);
	explicit_bzero(data, sizeof(data));
	return act;
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
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		if (!smtp_auth_plaintext_ok(s))
			goto need_tls;
		s->auth_step = AUTH_PLAIN_WAIT;
		if (initial != NULL)
			return respond(s, initial, ilen, true, out);
		/* RFC 4954 section 4: an empty challenge. */
		smtp_reply(out, "334 ");
		return 0;
	}
	if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		if (!smtp_auth_plaintext_ok(s))
			goto need_tls;
		s->auth_step = AUTH_LOGIN_USER;
		if (initial != NULL)
			return respond(s, initial, ilen, true, out);
		smtp_reply(out, "334 " SASL_LOGIN_USERNAME_CHALLENGE);
		return 0;
	}
	if (mlen == 8 && strncasecmp(arg, "CRAM-MD5", 8) == 0 && s->cfg.get_secret != NULL) {
		size_t clen;

		if (initial != NULL) {
			smtp_reply(out, "501 5.5.4 CRAM-MD5 takes no initial response");
			return smtp_session_count_error(s, out);
		}
		clen = cram_challenge(s->cfg.hostname, s->challenge);
		s->auth_step = AUTH_CRAM_WAIT;
		if (buf_append_str(out, "334 ") == -1 || base64_encode(out, s->challenge, clen) == -1 ||
		    buf_append_str(out, "\r\n") == -1)
			return SMTP_ACT_CLOSE;
		return 0;
	}
	smtp_reply(out, "504 5.5.4 Unrecognized authentication type");
	return smtp_session_count_error(s, out);
need_tls:
	smtp_reply(out, "538 5.7.11 Encryption required for requested authentication mechanism");
	return smtp_session_count_error(s, out);
}
