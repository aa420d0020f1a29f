/* pop3_login.c - osd pop3d logins: passwords and APOP/CRAM-MD5 secrets from vpasswd, and the open-smtp record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "login.h"
#include "opensmtp.h"
#include "path.h"
#include "pop3d.h"
#include "pop3_session.h"
#include "relaykey.h"

_Static_assert((int)LOGIN_OK == (int)SESSION_CHECK_OK && (int)LOGIN_BAD == (int)SESSION_CHECK_BAD &&
	       (int)LOGIN_TEMPFAIL == (int)SESSION_CHECK_TEMPFAIL, "the login results are the session's");

/* The users of this server's configuration. */
static struct login_db
users(const struct login_ctx *ctx)
{
	return (struct login_db){ .users_dir = ctx->pd->conf.users_dir,
				  .default_domain = ctx->pd->conf.default_domain };
}

/* The session wants the home (and the secret) malloc'd; note NO_RELAY for the loop. */
static int
hand_over(struct login_ctx *ctx, const struct login_user *user, char **secret_r, char **home_r,
	  char *err, size_t errsize)
{
	*home_r = strdup(user->home);
	if (secret_r != NULL)
		*secret_r = strdup(user->secret);
	if (*home_r == NULL || (secret_r != NULL && *secret_r == NULL)) {
		snprintf(err, errsize, "out of memory");
		return SESSION_CHECK_TEMPFAIL;
	}
	ctx->no_relay = user->no_relay;
	return SESSION_CHECK_OK;
}

int
auth_check_password(void *vctx, const char *login, const char *password, char **home_r,
		    char *err, size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct login_db db = users(ctx);
	struct login_user user;
	int r;

	r = login_password(&db, LOGIN_POP3, login, password, &user, err, errsize);
	if (r == LOGIN_OK)
		r = hand_over(ctx, &user, NULL, home_r, err, errsize);
	login_user_clear(&user);
	return r;
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
	struct login_user user;
	int r;

	r = login_secret(&db, LOGIN_POP3, login, &user, err, errsize);
	if (r == LOGIN_OK)
		r = hand_over(ctx, &user, secret_r, home_r, err, errsize);
	login_user_clear(&user);
	return r;
}

void
auth_record_login(const struct pop3d *pd, const struct ipaddr *client, const char *text)
{
	struct ipaddr entry;
	const struct ipaddr *addr = &entry;

	/* With relay_ipv6_prefix = 64 the entry is the client's /64. */
	relaykey_entry_addr(client, pd->conf.relay_ipv6_prefix, &entry);
	if (!ipaddr_is_unicast(addr)) {
		log_warnx("%s: not recording the login: not a client's own address", text);
		return;
	}
	if (opensmtp_record_at(pd->opensmtp_fd, addr) == 0)
		return;
	/* The folder may have been removed and made anew since the start. */
	if (opensmtp_record(pd->opensmtp_dir, addr) == 0)
		return;
	if (errno == ENOENT && path_mkdirs(pd->opensmtp_dir, 0755) == 0 &&
	    opensmtp_record(pd->opensmtp_dir, addr) == 0)
		return;
	log_warn("%s: cannot record the login in %s", text, pd->opensmtp_dir);
}
