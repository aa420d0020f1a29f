/* userdb_int.h - what userdb.c, userdb_read.c and userdb_write.c share; nothing else includes it. */
#ifndef OSD_USERDB_INT_H
#define OSD_USERDB_INT_H

#include <stdbool.h>
#include <stddef.h>

/* vpopmail's names in a domain folder: the lock is shared with its tools. */
#define VPASSWD_FILE "vpasswd"
#define VPASSWD_LOCK_FILE ".vpasswd.lock"

/* Fields of a vpasswd line; the 8th (cleartext) is optional. */
#define VPASSWD_FIELDS_MIN 7
#define VPASSWD_FIELDS_MAX 8

/* vpopmail's uid field for a new user: 1 = POP login (2 would be APOP). */
#define VPASSWD_NEW_UID "1"

/* A vpasswd field: at most max octets, no ':' and no control characters. */
bool udb_field_ok(const char *text, size_t max);

/* A user name (len octets) fit for vpasswd and a folder name; -1 with err. */
int udb_check_user(const char *user, size_t len, char *err, size_t errsize);

/* A domain name (len octets), lower-cased into out; -1 with err. */
int udb_check_domain_len(const char *domain, size_t len, char *out, size_t size, char *err,
			 size_t errsize);

/* Is the first ':'-field of [line, line+len) exactly user? */
bool udb_first_field_is(const char *line, size_t len, const char *user);

#endif
