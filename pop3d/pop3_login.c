/* pop3_login.c - osd pop3d logins: passwords and APOP/CRAM-MD5 secrets from vpasswd, and the open-smtp record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "opensmtp.h"
#include "path.h"
#include "pop3d.h"
#include "pop3_session.h"
#include "relaykey.h"
#include "userdb.h"

int
auth_check_password(void *vctx, const char *login, const char *password, char **home_r,
		    char *err, size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct userdb_user user;
	int r;

	r = userdb_authenticate(ctx->pd->conf.users_dir, ctx->pd->conf.default_domain, login,
				password, &user, err, errsize);
	if (r == -1)
		return SESSION_CHECK_TEMPFAIL;
	if (r == 0)
		return SESSION_CHECK_BAD;
	if (user.flags & USERDB_NO_POP) {
		snprintf(err, errsize, "POP3 access disabled for this user (vpasswd flag NO_POP)");
		explicit_bzero(&user, sizeof(user));
		return SESSION_CHECK_BAD;
	}
	ctx->no_relay = (user.flags & USERDB_NO_RELAY) != 0;
	*home_r = strdup(user.home);
	explicit_bzero(&user, sizeof(user));
	if (*home_r == NULL) {
		snprintf(err, errsize, "out of memory");
		return SESSION_CHECK_TEMPFAIL;
	}
	return SESSION_CHECK_OK;
}

/*
 * APOP and CRAM-MD5: the cleartext 8th vpasswd field.  Same refusals as
 * auth_check_password (bad name, unknown user, NO_POP), plus a user
 * without a cleartext field.  No crypt(3) here: the session computes a
 * digest against a dummy secret for every refusal, so an unknown user,
 * one without a cleartext password and a wrong digest take about the same
 * time (best effort: a bad login name skips the vpasswd read).
 */
int
auth_get_secret(void *vctx, const char *login, char **secret_r, char **home_r, char *err,
		size_t errsize)
{
	struct login_ctx *ctx = vctx;
	struct userdb_name name;
	struct userdb_user user;
	char why[256];
	int r;

	if (userdb_split_login(login, ctx->pd->conf.default_domain, &name, why,
			       sizeof(why)) == -1) {
		snprintf(err, errsize, "bad login name: %s", why);
		return SESSION_CHECK_BAD;
	}
	r = userdb_lookup(ctx->pd->conf.users_dir, &name, &user, err, errsize);
	if (r == -1)
		return SESSION_CHECK_TEMPFAIL;
	if (r == 0) {
		snprintf(err, errsize, "unknown user");
		return SESSION_CHECK_BAD;
	}
	r = SESSION_CHECK_BAD;
	if (user.flags & USERDB_NO_POP) {
		snprintf(err, errsize, "POP3 access disabled for this user (vpasswd flag NO_POP)");
	} else if (user.cleartext[0] == '\0') {
		snprintf(err, errsize, "no cleartext password in vpasswd");
	} else {
		*secret_r = strdup(user.cleartext);
		*home_r = strdup(user.home);
		r = SESSION_CHECK_OK;
		if (*secret_r == NULL || *home_r == NULL) {
			snprintf(err, errsize, "out of memory");
			r = SESSION_CHECK_TEMPFAIL;
		} else {
			ctx->no_relay = (user.flags & USERDB_NO_RELAY) != 0;
		}
	}
	explicit_bzero(&user, sizeof(user));
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
