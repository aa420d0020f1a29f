/* login.c - the one login check of every server (POP3, SMTP AUTH, IMAP): vpasswd, the password or secret, the service's flag. */
#include "login.h"

#include <stdlib.h>
#include <string.h>

#include "errfmt.h"

/* The vpasswd flag that refuses each service, and the text the servers log for it. */
static const struct {
	unsigned long flag;
	const char *refusal;
} services[] = {
	[LOGIN_POP3] = { USERDB_NO_POP, "POP3 access disabled for this user (vpasswd flag NO_POP)" },
	[LOGIN_SMTP] = { USERDB_NO_SMTP, "SMTP AUTH disabled for this user (vpasswd flag NO_SMTP)" },
	[LOGIN_IMAP] = { USERDB_NO_IMAP, "IMAP access disabled for this user (vpasswd flag NO_IMAP)" },
};

const char *
login_refusal(enum login_service service)
{
	return services[service].refusal;
}

bool
login_name_ok(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return true;
}

void
login_user_clear(struct login_user *user)
{
	explicit_bzero(user, sizeof(*user));
}

/* The user was found (and proved): the service's flag, then what the server needs. */
static int
take_user(enum login_service service, const struct userdb_user *user, bool want_secret,
	  struct login_user *user_r, char *err, size_t errsize)
{
	if (user->flags & services[service].flag) {
		errfmt(err, errsize, "%s", services[service].refusal);
		return LOGIN_BAD;
	}
	if (want_secret && user->cleartext[0] == '\0') {
		errfmt(err, errsize, "no cleartext password in vpasswd");
		return LOGIN_BAD;
	}
	user_r->no_relay = (user->flags & USERDB_NO_RELAY) != 0;
	/* Both fit: struct userdb_user's fields have the same sizes. */
	memcpy(user_r->home, user->home, sizeof(user_r->home));
	if (want_secret)
		memcpy(user_r->secret, user->cleartext, sizeof(user_r->secret));
	return LOGIN_OK;
}

int
login_password(const struct login_db *db, enum login_service service, const char *login,
	       const char *password, struct login_user *user_r, char *err, size_t errsize)
{
	struct userdb_user user;
	int r;

	login_user_clear(user_r);
	r = userdb_authenticate(db->users_dir, db->default_domain, login, password, &user, err,
				errsize);
	if (r == 1)
		r = take_user(service, &user, false, user_r, err, errsize);
	else
		r = r == -1 ? LOGIN_TEMPFAIL : LOGIN_BAD;
	explicit_bzero(&user, sizeof(user));
	if (r != LOGIN_OK)
		login_user_clear(user_r);
	return r;
}

int
login_secret(const struct login_db *db, enum login_service service, const char *login,
	     struct login_user *user_r, char *err, size_t errsize)
{
	struct userdb_name name;
	struct userdb_user user;
	char why[256];
	int r;

	login_user_clear(user_r);
	if (userdb_split_login(login, db->default_domain, &name, why, sizeof(why)) == -1) {
		errfmt(err, errsize, "bad login name: %s", why);
		return LOGIN_BAD;
	}
	r = userdb_lookup(db->users_dir, &name, &user, err, errsize);
	if (r == -1)
		return LOGIN_TEMPFAIL;
	if (r == 0) {
		errfmt(err, errsize, "unknown user");
		return LOGIN_BAD;
	}
	r = take_user(service, &user, true, user_r, err, errsize);
	explicit_bzero(&user, sizeof(user));
	if (r != LOGIN_OK)
		login_user_clear(user_r);
	return r;
}

int
login_check(const struct login_db *db, enum login_service service, const char *login,
	    const char *password, char **secret_r, char **home_r, bool *no_relay_r, char *err,
	    size_t errsize)
{
	struct login_user user;
	int r;

	*home_r = NULL;
	if (secret_r != NULL)
		*secret_r = NULL;
	if (password != NULL)
		r = login_password(db, service, login, password, &user, err, errsize);
	else
		r = login_secret(db, service, login, &user, err, errsize);
	if (r == LOGIN_OK) {
		*home_r = strdup(user.home);
		if (secret_r != NULL)
			*secret_r = strdup(user.secret);
		if (*home_r == NULL || (secret_r != NULL && *secret_r == NULL)) {
			free(*home_r);
			*home_r = NULL;
			if (secret_r != NULL && *secret_r != NULL) {
				explicit_bzero(*secret_r, strlen(*secret_r));
				free(*secret_r);
				*secret_r = NULL;
			}
			errfmt(err, errsize, "out of memory");
			r = LOGIN_TEMPFAIL;
		} else {
			*no_relay_r = user.no_relay;
		}
	}
	login_user_clear(&user);
	return r;
}
