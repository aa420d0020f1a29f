/* checkpw_login.h - osd checkpassword's login check: the password through login_check, else, as vpopmail's vchkpw does for POP3, an APOP digest of the timestamp. */
#ifndef OSD_CHECKPW_LOGIN_H
#define OSD_CHECKPW_LOGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "checkpw_input.h"
#include "login.h"

/*
 * Check in's login and password as a POP3 login (login_check: vpasswd,
 * crypt compared in constant time, NO_POP refuses).  When that fails and
 * the password is shaped like an APOP digest (32 hex digits) with a
 * timestamp given, it is checked as vchkpw does (built with its default
 * clear-text passwords): MD5(timestamp || the cleartext vpasswd field),
 * compared in constant time (cram_verify); qmail-popup's APOP command
 * hands over the digest that way.  LOGIN_OK with *home_r (malloc'd) and
 * *no_relay_r; LOGIN_BAD or LOGIN_TEMPFAIL with err saying why (never
 * the password) and nothing allocated.
 */
int checkpw_login(const struct login_db *db, const struct checkpw_input *in, char **home_r,
		  bool *no_relay_r, char *err, size_t errsize);

#endif
