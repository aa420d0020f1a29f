/* pop3_login.c - osd pop3d logins: passwords and APOP/CRAM-MD5 secrets from vpasswd, and the open-smtp record. */
#include "login.h"
#include "loginrecord.h"
#include "metrics.h"
#include "pop3d.h"
#include "pop3_session.h"

_Static_assert((int)LOGIN_OK == (int)SESSION_CHECK_OK && (int)LOGIN_BAD == (int)SESSION_CHECK_BAD &&
	       (int)LOGIN_TEMPFAIL == (int)SESSION_CHECK_TEMPFAIL, "the login results are the session's");

/* The users of this server's configuration. */
static struct login_db
users(const struct login_ctx *ctx)
{
	return (struct login_db){ .users_dir = ctx->pd->conf.users_dir,
				  .default_domain = ctx->pd->conf.default_domain };
}

int
auth_check_password(void *vctx, const char *login, const char *password, char **home_r,
		    char *err, size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct login_db db = users(ctx);

	return login_check(&db, LOGIN_POP3, login, password, NULL, home_r, &ctx->no_relay, err,
			   errsize);
}

/*
 * APOP and CRAM-MD5: the cleartext 8th vpasswd field (login_secret).  The
 * session computes a digest against a dummy secret for every refusal, so
 * an unknown user, one without a cleartext password and a wrong digest
 * take about the same time (best effort: a bad login name skips the
 * vpasswd read).
 */
int
auth_get_secret(void *vctx, const char *login, char **secret_r, char **home_r, char *err,
		size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct login_db db = users(ctx);

	return login_check(&db, LOGIN_POP3, login, NULL, secret_r, home_r, &ctx->no_relay, err,
			   errsize);
}

int
auth_record_login(const struct pop3d *pd, const struct ipaddr *client, const char *text,
		  const char *user)
{
	struct login_record_dir dir = { .path = pd->opensmtp_dir, .fd = pd->opensmtp_fd,
					.ipv6_prefix = pd->conf.relay_ipv6_prefix };

	if (login_record(&dir, client, text, user) == -1)
		return -1;
	metrics_inc(M_LOGIN_RECORDED_POP3);
	return 0;
}
