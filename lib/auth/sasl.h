/* sasl.h - SASL PLAIN and LOGIN message parsing, shared by the POP3 server and the SMTP gate. */
#ifndef OSD_SASL_H
#define OSD_SASL_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 4616 section 2: each of authzid, authcid and passwd is at most 255 octets. */
#define SASL_FIELD_MAX 255

/* Longest decoded PLAIN message: three fields and two NULs. */
#define SASL_PLAIN_MAX (3 * SASL_FIELD_MAX + 2)

/* Longest base64 client response a server needs to accept for PLAIN. */
#define SASL_RESPONSE_MAX (((SASL_PLAIN_MAX + 2) / 3) * 4)

/* The fixed LOGIN challenges ("Username:" and "Password:" in base64). */
#define SASL_LOGIN_USERNAME_CHALLENGE "VXNlcm5hbWU6"
#define SASL_LOGIN_PASSWORD_CHALLENGE "UGFzc3dvcmQ6"

struct sasl_plain {
	char authcid[SASL_FIELD_MAX + 1];       /* the login name, NUL-terminated */
	char passwd[SASL_FIELD_MAX + 1];        /* the password, NUL-terminated */
};

/*
 * Parse a decoded PLAIN message (RFC 4616): [authzid] NUL authcid NUL passwd.
 * authcid and passwd must be non-empty, no field longer than SASL_FIELD_MAX,
 * and authzid empty or equal to authcid (osd lets nobody act as another
 * user).  Returns 0 and fills r, or -1 with *error_r saying why (never
 * quoting the password).  r is wiped on failure.
 */
int sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_plain *r,
		     const char **error_r);

/* Overwrite the password and login in r (explicit_bzero). */
void sasl_plain_clear(struct sasl_plain *r);

enum sasl_response {
	SASL_RESPONSE_DATA,     /* decoded bytes in out */
	SASL_RESPONSE_CANCEL,   /* the client sent "*" (RFC 4422 section 3.5) */
	SASL_RESPONSE_INVALID   /* not base64, or longer than out */
};

/*
 * Decode one client response line (without its CRLF).  "*" cancels the
 * exchange.  When initial is true the line is the initial response given
 * with the command, where "=" stands for an empty response (RFC 5034
 * section 4, RFC 4954 section 4); otherwise an empty line is the empty
 * response.  out receives at most outsize bytes and is NUL-terminated
 * (so outsize must leave room for it); *outlen_r excludes the NUL.
 */
enum sasl_response sasl_response_decode(const char *line, size_t len, bool initial,
					unsigned char *out, size_t outsize, size_t *outlen_r);

/*
 * Check one decoded LOGIN answer (user name or password): non-empty, no
 * NUL, at most SASL_FIELD_MAX octets.  Returns true when it is acceptable.
 */
bool sasl_login_field_ok(const unsigned char *data, size_t len);

/*
 * Split a decoded CRAM-MD5 response (RFC 2195): "user SP digest", where the
 * user name may itself hold spaces (the last space separates).  user_r
 * receives the NUL-terminated name; *digest_r and *digest_len_r point into
 * data.  0, or -1 when there is no space, the name is empty or longer than
 * SASL_FIELD_MAX, or data holds a NUL.
 */
int sasl_cram_split(const unsigned char *data, size_t len, char user_r[SASL_FIELD_MAX + 1],
		    const char **digest_r, size_t *digest_len_r);

#endif
