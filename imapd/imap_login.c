/* imap_login.c - osd imapd logins: passwords and CRAM-MD5 secrets from vpasswd (LOGIN_IMAP: NO_IMAP refuses), the Maildir under the home, and the open-smtp record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_session.h"
#include "imapd.h"
#include "login.h"
#include "loginrecord.h"
#include "metrics.h"

_Static_assert((int)LOGIN_OK == (int)IMAP_CHECK_OK && (int)LOGIN_BAD == (int)IMAP_CHECK_BAD &&
	       (int)LOGIN_TEMPFAIL == (int)IMAP_CHECK_TEMPFAIL, "the login results are the session's");

/* The users of this server's configuration. */
static struct login_db
users(const struct imap_login_ctx *ctx)
{
	return (struct login_db){ .users_dir = ctx->d->conf.users_dir,
				  .default_domain = ctx->d->conf.default_domain };
}

/* The session wants the Maildir: HOME/Maildir, as pop3d opens it. */
static int
maildir_of(int r, char **root_r, char **secret_r, char *err, size_t errsize)
{
	char *home = *root_r;
	size_t len;

	if (r != LOGIN_OK)
		return r;
	len = strlen(home) + sizeof("/Maildir");
	if ((*root_r = malloc(len)) == NULL) {
		free(home);
		if (secret_r != NULL && *secret_r != NULL) {
			explicit_bzero(*secret_r, strlen(*secret_r));
			free(*secret_r);
			*secret_r = NULL;
		}
		snprintf(err, errsize, "out of memory");
		return IMAP_CHECK_TEMPFAIL;
	}
	snprintf(*root_r, len, "%s/Maildir", home);
	free(home);
	return r;
}

int
imap_auth_check_password(void *vctx, const char *login, const char *password, char **root_r,
			 char *err, size_t errsize)
{
	struct imap_login_ctx *ctx = vctx;
	struct login_db db = users(ctx);
	int r;

	r = login_check(&db, LOGIN_IMAP, login, password, NULL, root_r, &ctx->no_relay, err, errsize);
	return maildir_of(r, root_r, NULL, err, errsize);
}

int
imap_auth_get_secret(void *vctx, const char *login, char **secret_r, char **root_r, char *err,
		     size_t errsize)
{
	struct imap_login_ctx *ctx = vctx;
	struct login_db db = users(ctx);
	int r;

	r = login_check(&db, LOGIN_IMAP, login, NULL, secret_r, root_r, &ctx->no_relay, err, errsize);
	return maildir_of(r, root_r, secret_r, err, errsize);
}

int
imap_auth_record_login(const struct imapd *d, const struct ipaddr *client, const char *text,
		       const char *user)
{
	struct login_record_dir dir = { .path = d->opensmtp_dir, .fd = d->opensmtp_fd,
					.ipv6_prefix = d->conf.relay_ipv6_prefix };

	if (login_record(&dir, client, text, user) == -1)
		return -1;
	metrics_inc(M_LOGIN_RECORDED_IMAP);
	return 0;
}
