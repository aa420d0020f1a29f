/* sasl.h - the server side of SASL PLAIN, LOGIN and CRAM-MD5: message parsing and one exchange per mechanism, shared by every protocol server. */
#ifndef OSD_SASL_H
#define OSD_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "base64.h"

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

/* The mechanisms a server runs (RFC 4616, draft-murchison-sasl-login, RFC 2195). */
enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_CRAM_MD5
};

/* Longest CRAM-MD5 challenge text ("<pid.time.random@host>") sasl_server_start takes. */
#define SASL_CRAM_CHALLENGE_MAX 400

/* The name of a mechanism (any case, len octets) or -1 when osd runs no such mechanism. */
int sasl_mech_parse(const char *name, size_t len);

/* "PLAIN", "LOGIN" or "CRAM-MD5". */
const char *sasl_mech_name(enum sasl_mech mech);

/* What one step of an exchange says. */
enum sasl_result {
	SASL_CHALLENGE, /* send challenge (the protocol adds "334 " or "+ "), wait for a response */
	SASL_DONE,      /* login and secret are the client's credentials */
	SASL_CANCELLED, /* the client sent "*" (RFC 4422 section 3.5) */
	SASL_UNDECODABLE, /* not base64, too long, or "*" as an initial response */
	SASL_MALFORMED  /* decoded, but not what the mechanism wants: error says why */
};

/*
 * One server-side exchange: pure, no I/O, no logging.  The protocol
 * session starts it at AUTH, feeds it each client line with
 * sasl_server_step and acts on the result; the exchange is over at any
 * result but SASL_CHALLENGE.  It holds a password: sasl_server_clear it.
 */
struct sasl_server {
	enum sasl_mech mech;
	unsigned responses;                     /* responses taken so far */
	/* The login name: after SASL_DONE; after LOGIN's first response; "" when not known. */
	char login[SASL_FIELD_MAX + 1];
	/*
	 * After SASL_DONE: the password (PLAIN, LOGIN), or the client's
	 * digest as sent (CRAM-MD5, secret_len octets, not checked here: the
	 * caller compares it with cram_verify, constant time).
	 */
	char secret[SASL_PLAIN_MAX + 1];
	size_t secret_len;
	/* The next challenge in base64: "" (PLAIN), "VXNlcm5hbWU6", the encoded CRAM-MD5 text. */
	char challenge[BASE64_ENCODED_LEN(SASL_CRAM_CHALLENGE_MAX) + 1];
	char cram_text[SASL_CRAM_CHALLENGE_MAX + 1];    /* CRAM-MD5: the challenge sent, for the digest */
	/* SASL_MALFORMED: why, for the log ("invalid password"; never the password itself). */
	const char *error;
};

/*
 * Start an exchange of mech.  For CRAM-MD5, cram_text is the challenge
 * (RFC 2195: "<...>", at most SASL_CRAM_CHALLENGE_MAX octets) the server
 * made, otherwise NULL.  Returns SASL_CHALLENGE with the first challenge;
 * the caller sends it, or, when the command carried an initial response,
 * passes that to sasl_server_step at once (CRAM-MD5 takes none: the
 * caller refuses it first).  -1 (nothing started) when cram_text is
 * missing or too long.
 */
int sasl_server_start(struct sasl_server *s, enum sasl_mech mech, const char *cram_text);

/*
 * Take one client line (len octets, without CRLF): the base64 response
 * to the last challenge, or, when initial, the initial response given with
 * the command ("=" for an empty one, RFC 4954 section 4, RFC 5034 section 4).
 */
enum sasl_result sasl_server_step(struct sasl_server *s, const char *line, size_t len,
				  bool initial);

/* Wipe s: the password, the login name, the challenge. */
void sasl_server_clear(struct sasl_server *s);

#endif
