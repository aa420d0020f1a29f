/* sasl.c - the server side of SASL PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195): the messages and one exchange per mechanism. */
#include "sasl.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base64.h"

void
sasl_plain_clear(struct sasl_plain *r)
{
	explicit_bzero(r, sizeof(*r));
}

int
sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_plain *r,
		 const char **error_r)
{
	const unsigned char *nul1, *nul2, *authzid, *authcid, *passwd;
	size_t zlen, clen, plen;

	sasl_plain_clear(r);
	nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL) {
		*error_r = "PLAIN message without NUL separators";
		return -1;
	}
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL) {
		*error_r = "PLAIN message with one NUL separator";
		return -1;
	}
	authzid = msg;
	zlen = (size_t)(nul1 - msg);
	authcid = nul1 + 1;
	clen = (size_t)(nul2 - authcid);
	passwd = nul2 + 1;
	plen = len - (size_t)(passwd - msg);
	/* A third NUL would sit inside the password: RFC 4616 forbids NUL there. */
	if (memchr(passwd, '\0', plen) != NULL) {
		*error_r = "PLAIN message with more than two NULs";
		return -1;
	}
	if (clen == 0) {
		*error_r = "PLAIN message with an empty login";
		return -1;
	}
	if (plen == 0) {
		*error_r = "PLAIN message with an empty password";
		return -1;
	}
	if (zlen > SASL_FIELD_MAX || clen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX) {
		*error_r = "PLAIN message with a field longer than 255 octets";
		return -1;
	}
	if (zlen > 0 && (zlen != clen || memcmp(authzid, authcid, clen) != 0)) {
		*error_r = "PLAIN authorization identity differs from the login";
		return -1;
	}
	memcpy(r->authcid, authcid, clen);
	r->authcid[clen] = '\0';
	memcpy(r->passwd, passwd, plen);
	r->passwd[plen] = '\0';
	return 0;
}

enum sasl_response
sasl_response_decode(const char *line, size_t len, bool initial, unsigned char *out,
		     size_t outsize, size_t *outlen_r)
{
	*outlen_r = 0;
	if (outsize == 0)
		return SASL_RESPONSE_INVALID;
	out[0] = '\0';
	if (len == 1 && line[0] == '*')
		return initial ? SASL_RESPONSE_INVALID : SASL_RESPONSE_CANCEL;
	if (initial && len == 1 && line[0] == '=')
		return SASL_RESPONSE_DATA;
	if (initial && len == 0)
		return SASL_RESPONSE_INVALID;
	if (base64_decode(line, len, out, outsize - 1, outlen_r) == -1) {
		/* What was decoded before the error may be part of a password. */
		explicit_bzero(out, outsize);
		*outlen_r = 0;
		return SASL_RESPONSE_INVALID;
	}
	out[*outlen_r] = '\0';
	return SASL_RESPONSE_DATA;
}

bool
sasl_login_field_ok(const unsigned char *data, size_t len)
{
	return len > 0 && len <= SASL_FIELD_MAX && memchr(data, '\0', len) == NULL;
}

int
sasl_cram_split(const unsigned char *data, size_t len, char user_r[SASL_FIELD_MAX + 1],
		const char **digest_r, size_t *digest_len_r)
{
	const unsigned char *sp = NULL;
	size_t i, ulen;

	for (i = 0; i < len; i++)
		if (data[i] == ' ')
			sp = data + i;
	if (sp == NULL || sp == data || memchr(data, '\0', len) != NULL)
		return -1;
	ulen = (size_t)(sp - data);
	if (ulen > SASL_FIELD_MAX)
		return -1;
	memcpy(user_r, data, ulen);
	user_r[ulen] = '\0';
	*digest_r = (const char *)sp + 1;
	*digest_len_r = len - ulen - 1;
	return 0;
}

static const char *const mech_names[] = {
	[SASL_MECH_PLAIN] = "PLAIN",
	[SASL_MECH_LOGIN] = "LOGIN",
	[SASL_MECH_CRAM_MD5] = "CRAM-MD5",
};

int
sasl_mech_parse(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++)
		if (strlen(mech_names[i]) == len && strncasecmp(name, mech_names[i], len) == 0)
			return (int)i;
	return -1;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	return mech_names[mech];
}

void
sasl_server_clear(struct sasl_server *s)
{
	explicit_bzero(s, sizeof(*s));
}

/* Set the next challenge to the base64 of text; -1 when it does not fit (or no memory). */
static int
set_challenge(struct sasl_server *s, const char *text, size_t len)
{
	struct buf b;
	int r = -1;

	buf_init(&b, 0);
	if (base64_encode(&b, text, len) == 0 && b.len < sizeof(s->challenge)) {
		memcpy(s->challenge, b.data != NULL ? b.data : "", b.len);
		s->challenge[b.len] = '\0';
		r = 0;
	}
	buf_free(&b);
	return r;
}

int
sasl_server_start(struct sasl_server *s, enum sasl_mech mech, const char *cram_text)
{
	size_t len;

	sasl_server_clear(s);
	s->mech = mech;
	switch (mech) {
	case SASL_MECH_PLAIN:
		/* RFC 4954 section 4, RFC 5034 section 4: an empty challenge. */
		return SASL_CHALLENGE;
	case SASL_MECH_LOGIN:
		memcpy(s->challenge, SASL_LOGIN_USERNAME_CHALLENGE,
		       sizeof(SASL_LOGIN_USERNAME_CHALLENGE));
		return SASL_CHALLENGE;
	case SASL_MECH_CRAM_MD5:
		if (cram_text == NULL || (len = strlen(cram_text)) > SASL_CRAM_CHALLENGE_MAX ||
		    set_challenge(s, cram_text, len) == -1)
			break;
		memcpy(s->cram_text, cram_text, len + 1);
		return SASL_CHALLENGE;
	}
	sasl_server_clear(s);
	return -1;
}

/* The exchange ends with a malformed message: why, and no password kept. */
static enum sasl_result
malformed(struct sasl_server *s, const char *why)
{
	explicit_bzero(s->secret, sizeof(s->secret));
	s->secret_len = 0;
	s->error = why;
	return SASL_MALFORMED;
}

/* The exchange ends with credentials. */
static enum sasl_result
done(struct sasl_server *s, const char *login, const void *secret, size_t len)
{
	size_t llen = strlen(login);

	/* Both were checked to fit by the parsers. */
	if (login != s->login)
		memcpy(s->login, login, llen + 1);
	memcpy(s->secret, secret, len);
	s->secret[len] = '\0';
	s->secret_len = len;
	return SASL_DONE;
}

/* A decoded response has arrived. */
static enum sasl_result
take(struct sasl_server *s, const unsigned char *data, size_t len)
{
	struct sasl_plain plain;
	const char *why = NULL, *digest;
	size_t dlen;
	enum sasl_result r;

	switch (s->mech) {
	case SASL_MECH_PLAIN:
		if (sasl_plain_parse(data, len, &plain, &why) == -1)
			return malformed(s, why);
		r = done(s, plain.authcid, plain.passwd, strlen(plain.passwd));
		sasl_plain_clear(&plain);
		return r;
	case SASL_MECH_LOGIN:
		if (s->responses == 1) {
			if (!sasl_login_field_ok(data, len))
				return malformed(s, "invalid user name");
			memcpy(s->login, data, len);
			s->login[len] = '\0';
			memcpy(s->challenge, SASL_LOGIN_PASSWORD_CHALLENGE,
			       sizeof(SASL_LOGIN_PASSWORD_CHALLENGE));
			return SASL_CHALLENGE;
		}
		if (!sasl_login_field_ok(data, len))
			return malformed(s, "invalid password");
		return done(s, s->login, data, len);
	case SASL_MECH_CRAM_MD5:
		if (sasl_cram_split(data, len, s->login, &digest, &dlen) == -1)
			return malformed(s, "malformed response");
		return done(s, s->login, digest, dlen);
	}
	return malformed(s, "no exchange running");
}

enum sasl_result
sasl_server_step(struct sasl_server *s, const char *line, size_t len, bool initial)
{
	unsigned char data[SASL_PLAIN_MAX + 1];
	size_t dlen;
	enum sasl_result r;

	s->responses++;
	s->challenge[0] = '\0';
	switch (sasl_response_decode(line, len, initial, data, sizeof(data), &dlen)) {
	case SASL_RESPONSE_CANCEL:
		return SASL_CANCELLED;
	case SASL_RESPONSE_INVALID:
		return SASL_UNDECODABLE;
	case SASL_RESPONSE_DATA:
		break;
	}
	r = take(s, data, dlen);
	explicit_bzero(data, sizeof(data));
	return r;
}
