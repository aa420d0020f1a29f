/* imap_cmd_auth.c - the not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE PLAIN/LOGIN/CRAM-MD5 with SASL-IR (RFC 3501 section 6.2, RFC 4959), over lib/auth's SASL exchanges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cram.h"
#include "imap_session_int.h"
#include "login.h"

static const char plaintext_refused[] =
	"Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";

unsigned
imap_cmd_starttls(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		  bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "STARTTLS takes no arguments.");
	if (s->cfg.tls_active)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "TLS is already active.");
	if (!s->cfg.tls_available)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "TLS support isn't enabled.");
	(void)imap_reply_tagged(s, out, tag, "OK", NULL, "Begin TLS negotiation now.");
	return IMAP_ACT_STARTTLS;
}

/* A failed login: NO [AUTHENTICATIONFAILED], and after too many, the end. */
static unsigned
auth_failed(struct imap_session *s, const char *tag, struct buf *out)
{
	unsigned act = IMAP_ACT_AUTH_FAILED;

	(void)imap_reply_tagged(s, out, tag, "NO", "AUTHENTICATIONFAILED", "Authentication failed.");
	if (++s->auth_failures >= s->cfg.max_auth_failures)
		act |= imap_session_bye(s, out, "Too many failed logins.");
	return act;
}

/*
 * CRAM-MD5: the digest against the user's cleartext secret, or against
 * a dummy one when there is none, so that a refusal costs what a wrong
 * digest does.
 */
static int
check_digest(struct imap_session *s, const char *name, char **root_r, char *err, size_t errsize)
{
	char *secret = NULL;
	bool have;
	int r, v;

	r = s->cfg.get_secret(s->cfg.ctx, name, &secret, root_r, err, errsize);
	have = r == IMAP_CHECK_OK && secret != NULL && secret[0] != '\0';
	v = cram_verify(s->sasl.cram_text, true, have ? secret : NULL, s->sasl.secret,
			s->sasl.secret_len);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (r != IMAP_CHECK_OK)
		return r;
	if (!have) {
		snprintf(err, errsize, "no cleartext password for CRAM-MD5");
		return IMAP_CHECK_BAD;
	}
	if (v != 1) {
		snprintf(err, errsize, v == -1 ? "MD5 computation failed" : "wrong CRAM-MD5 digest");
		return v == -1 ? IMAP_CHECK_TEMPFAIL : IMAP_CHECK_BAD;
	}
	return IMAP_CHECK_OK;
}

/* Check the credentials (password, or CRAM-MD5's digest when NULL): the end of LOGIN and AUTHENTICATE. */
static unsigned
login_end(struct imap_session *s, const char *tag, const char *name, const char *password,
	  struct buf *out)
{
	char err[200] = "";
	char *root = NULL;
	struct buf code;
	unsigned act;
	int r;

	snprintf(s->user, sizeof(s->user), "%s", name);
	if (!login_name_ok(name)) {
		/* Never reaches the database (nor the log) with spaces or control bytes. */
		snprintf(s->user, sizeof(s->user), "%s", "(invalid)");
		imap_set_error(s, "invalid login name");
		return auth_failed(s, tag, out);
	}
	if (password != NULL)
		r = s->cfg.check_password(s->cfg.ctx, name, password, &root, err, sizeof(err));
	else
		r = check_digest(s, name, &root, err, sizeof(err));
	if (r == IMAP_CHECK_TEMPFAIL) {
		free(root);
		imap_set_error(s, "authentication temporarily failed: %s", err);
		return IMAP_ACT_ERROR | imap_reply_tagged(s, out, tag, "NO", "UNAVAILABLE",
							  "Temporary authentication failure.");
	}
	if (r != IMAP_CHECK_OK || root == NULL) {
		free(root);
		imap_set_error(s, "authentication failed: %s", err[0] != '\0' ? err : "bad credentials");
		return auth_failed(s, tag, out);
	}
	s->error[0] = '\0';
	if (s->cfg.handoff) {
		free(root);
		snprintf(s->handoff_tag, sizeof(s->handoff_tag), "%s", tag);
		s->state = IMAP_ST_LOGOUT;
		return IMAP_ACT_AUTH_OK | IMAP_ACT_HANDOFF;
	}
	free(s->root);
	s->root = root;
	s->state = IMAP_ST_AUTH;
	/* The capabilities change at login: the tagged OK says them (as Dovecot does). */
	buf_init(&code, 0);
	(void)buf_append_str(&code, "CAPABILITY ");
	imap_write_capability(s, &code);
	(void)buf_append_char(&code, '\0');
	act = imap_reply_tagged(s, out, tag, "OK", code.data, "Logged in");
	buf_free(&code);
	return act | IMAP_ACT_AUTH_OK;
}

unsigned
imap_cmd_login(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	       bool uid, struct buf *out)
{
	const char *name, *password;

	(void)uid;
	if (n != 2 || (name = imap_arg_astring(&args[0])) == NULL ||
	    (password = imap_arg_astring(&args[1])) == NULL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "LOGIN takes a user name and a password.");
	if (!imap_plaintext_ok(s)) {
		imap_set_error(s, "plaintext login refused on an insecure connection");
		return imap_reply_tagged(s, out, tag, "NO", "PRIVACYREQUIRED", "%s", plaintext_refused);
	}
	/* Handoff mode answers with this tag after the session is gone: it must fit. */
	if (s->cfg.handoff && strlen(tag) >= sizeof(s->handoff_tag))
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Tag too long.");
	if (args[0].len > SASL_FIELD_MAX || args[1].len > SASL_FIELD_MAX) {
		snprintf(s->user, sizeof(s->user), "%s", "(too long)");
		imap_set_error(s, "user name or password too long");
		return auth_failed(s, tag, out);
	}
	return login_end(s, tag, name, password, out);
}

/* The exchange said r: ask on, or end it with the credentials it gave, or why not. */
static unsigned
auth_result(struct imap_session *s, const char *tag, enum sasl_result r, bool initial,
	    struct buf *out)
{
	struct sasl_server *x = &s->sasl;
	unsigned act;

	switch (r) {
	case SASL_CHALLENGE:
		if (x->login[0] != '\0')
			snprintf(s->user, sizeof(s->user), "%s", x->login);
		(void)buf_printf(out, "+ %s\r\n", x->challenge);
		s->mode = IMAP_MODE_SASL;
		return 0;
	case SASL_CANCELLED:
		act = imap_reply_tagged(s, out, tag, "BAD", NULL, "Authentication aborted by client.");
		break;
	case SASL_UNDECODABLE:
		act = imap_reply_tagged(s, out, tag, "BAD", NULL,
					initial ? "Invalid base64 data in initial response." :
						  "Invalid base64 data in continued response.");
		break;
	case SASL_MALFORMED:
		snprintf(s->user, sizeof(s->user), "%s", x->login[0] != '\0' ? x->login : "(none)");
		imap_set_error(s, "AUTHENTICATE %s: %s", sasl_mech_name(x->mech), x->error);
		act = auth_failed(s, tag, out);
		break;
	case SASL_DONE:
	default:
		act = login_end(s, tag, x->login, x->mech == SASL_MECH_CRAM_MD5 ? NULL : x->secret, out);
		break;
	}
	sasl_server_clear(x);
	return act;
}

unsigned
imap_cmd_authenticate(struct imap_session *s, const char *tag, const struct imap_arg *args,
		      size_t n, bool uid, struct buf *out)
{
	const char *initial = NULL;
	int mech;

	(void)uid;
	if (n < 1 || n > 2 || args[0].type != IMAP_ARG_ATOM ||
	    (n == 2 && (initial = imap_arg_astring(&args[1])) == NULL))
		return imap_reply_tagged(s, out, tag, "BAD", NULL,
					 "AUTHENTICATE takes a mechanism and an optional initial response.");
	mech = sasl_mech_parse(args[0].str, args[0].len);
	if (mech == SASL_MECH_CRAM_MD5 && s->cfg.get_secret != NULL) {
		/* RFC 2195: the server speaks first; there is no initial response. */
		if (initial != NULL)
			return imap_reply_tagged(s, out, tag, "BAD", NULL,
						 "CRAM-MD5 takes no initial response.");
		cram_challenge(s->cfg.hostname, s->cram_text);
	} else if (mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN) {
		if (!imap_plaintext_ok(s)) {
			imap_set_error(s, "plaintext login refused on an insecure connection");
			return imap_reply_tagged(s, out, tag, "NO", "PRIVACYREQUIRED", "%s",
						 plaintext_refused);
		}
	} else {
		return imap_reply_tagged(s, out, tag, "NO", NULL, "Unsupported authentication mechanism.");
	}
	if (snprintf(s->sasl_tag, sizeof(s->sasl_tag), "%s", tag) >= (int)sizeof(s->sasl_tag))
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Tag too long.");
	if (sasl_server_start(&s->sasl, (enum sasl_mech)mech,
			      mech == SASL_MECH_CRAM_MD5 ? s->cram_text : NULL) == -1) {
		imap_set_error(s, "AUTHENTICATE: cannot start the exchange");
		return IMAP_ACT_ERROR | imap_reply_tagged(s, out, tag, "NO", "UNAVAILABLE",
							  "Cannot start the exchange.");
	}
	s->user[0] = '\0';
	/* RFC 4959: the initial response with the command, "=" for an empty one. */
	if (initial != NULL)
		return auth_result(s, tag, sasl_server_step(&s->sasl, initial, strlen(initial), true),
				   true, out);
	return auth_result(s, tag, SASL_CHALLENGE, false, out);
}

unsigned
imap_auth_continue(struct imap_session *s, const char *line, size_t len, struct buf *out)
{
	unsigned act;

	s->mode = IMAP_MODE_COMMAND;
	act = auth_result(s, s->sasl_tag, sasl_server_step(&s->sasl, line, len, false), false, out);
	if (s->mode == IMAP_MODE_COMMAND)
		s->cmd = NULL;
	return act;
}
