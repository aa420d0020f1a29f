/* checkpw_login.c - osd checkpassword's login check: the password, else an APOP digest of qmail-popup's timestamp, as vchkpw does. */
#include "checkpw_login.h"

#include <stdlib.h>
#include <string.h>

#include "cram.h"
#include "errfmt.h"

/* Could password be an APOP digest of timestamp (RFC 1939 section 7: 32 hex digits)? */
static bool
apop_shaped(const struct checkpw_input *in)
{
	size_t i;

	if (in->timestamp[0] == '\0' || strlen(in->password) != CRAM_HEX_SIZE - 1)
		return false;
	for (i = 0; i < CRAM_HEX_SIZE - 1; i++)
		if (strchr("0123456789abcdefABCDEF", in->password[i]) == NULL)
			return false;
	return true;
}

/* The APOP check of in, once its password failed as a password. */
static int
apop(const struct login_db *db, const struct checkpw_input *in, char **home_r, bool *no_relay_r,
     char *err, size_t errsize)
{
	char why[256], *secret = NULL;
	int r, match;

	r = login_check(db, LOGIN_POP3, in->login, NULL, &secret, home_r, no_relay_r, why,
			sizeof(why));
	if (r == LOGIN_TEMPFAIL) {
		errfmt(err, errsize, "%s", why);
		return r;
	}
	/* A refused user costs a digest all the same (against a dummy secret). */
	match = cram_verify(in->timestamp, false, r == LOGIN_OK ? secret : NULL, in->password,
			    strlen(in->password));
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (r == LOGIN_OK && match == 1)
		return LOGIN_OK;
	free(*home_r);
	*home_r = NULL;
	if (match == -1) {
		errfmt(err, errsize, "APOP digest: MD5 failed");
		return LOGIN_TEMPFAIL;
	}
	/* err keeps the password check's reason (wrong password, NO_POP, ...). */
	return LOGIN_BAD;
}

int
checkpw_login(const struct login_db *db, const struct checkpw_input *in, char **home_r,
	      bool *no_relay_r, char *err, size_t errsize)
{
	int r;

	r = login_check(db, LOGIN_POP3, in->login, in->password, NULL, home_r, no_relay_r, err,
			errsize);
	if (r != LOGIN_BAD || !apop_shaped(in))
		return r;
	return apop(db, in, home_r, no_relay_r, err, errsize);
}
