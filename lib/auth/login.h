/* login.h - the one login check of every server: vpasswd lookup, password or cleartext secret, the service's vpasswd flag. */
#ifndef OSD_LOGIN_H
#define OSD_LOGIN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "userdb.h"

/* Which server asks: it decides which vpasswd flag refuses the login. */
enum login_service {
	LOGIN_POP3,     /* refused by USERDB_NO_POP (0x02) */
	LOGIN_SMTP,     /* refused by USERDB_NO_SMTP (0x800) */
	LOGIN_IMAP      /* refused by USERDB_NO_IMAP (0x08) */
};

/* What a check says; the values of SESSION_CHECK_* and SMTP_CHECK_*. */
enum login_result {
	LOGIN_OK = 0,
	LOGIN_BAD = -1,         /* bad name, unknown user, wrong password, the service's flag */
	LOGIN_TEMPFAIL = -2     /* could not tell (vpasswd unreadable...) */
};

/* Where the users are. */
struct login_db {
	const char *users_dir;
	const char *default_domain;     /* for a bare "user"; NULL or "" for none */
};

/* What a login found out about the user (login_user_clear when done). */
struct login_user {
	bool no_relay;                          /* vpasswd flag NO_RELAY: never opens relay */
	char home[PATH_MAX];
	char secret[USERDB_CLEARTEXT_MAX + 1];  /* login_secret: the cleartext 8th field */
};

/*
 * The log text of a login the service's vpasswd flag refuses, e.g. "POP3
 * access disabled for this user (vpasswd flag NO_POP)".
 */
const char *login_refusal(enum login_service service);

/*
 * A login name fit to hand to the user database and to write in a log
 * line: not empty, printable ASCII without spaces (0x21-0x7e).  Bytes of
 * 0x80 and above are refused: vpasswd names are ASCII (userdb_split_login
 * refuses anything else), and raw 8-bit bytes have no place in a log line.
 */
bool login_name_ok(const char *name);

/*
 * Check login and password for service: userdb_authenticate (a bad name
 * or an unknown user costs the time of a wrong password), then the
 * service's flag.  LOGIN_OK with *user_r filled (but secret); otherwise
 * err says why for the log (never the password) and *user_r is wiped.
 */
int login_password(const struct login_db *db, enum login_service service, const char *login,
		   const char *password, struct login_user *user_r, char *err, size_t errsize);

/*
 * APOP and CRAM-MD5: the cleartext vpasswd field of login.  The same
 * refusals as login_password (bad name, unknown user, the service's
 * flag), plus a user without a cleartext field ("no cleartext password
 * in vpasswd").  No crypt(3) here: the caller computes a digest against a
 * dummy secret for every refusal (cram_verify with NULL), so a refusal
 * costs about as long as a wrong digest.  LOGIN_OK with *user_r filled,
 * secret included; otherwise *user_r is wiped.
 */
int login_secret(const struct login_db *db, enum login_service service, const char *login,
		 struct login_user *user_r, char *err, size_t errsize);

/*
 * The protocol sessions' hooks in one call: login_password when password
 * is not NULL, else login_secret with *secret_r (malloc'd; wipe it).  On
 * LOGIN_OK *home_r is the home (malloc'd) and *no_relay_r the NO_RELAY
 * flag; otherwise nothing is allocated.  Out of memory: LOGIN_TEMPFAIL.
 */
int login_check(const struct login_db *db, enum login_service service, const char *login,
		const char *password, char **secret_r, char **home_r, bool *no_relay_r, char *err,
		size_t errsize);

/* Wipe *user (explicit_bzero: it may hold a cleartext password). */
void login_user_clear(struct login_user *user);

#endif
