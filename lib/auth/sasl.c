/* sasl.c - SASL PLAIN (RFC 4616) and LOGIN message parsing. */
#include "sasl.h"

#include <errno.h>
#include <string.h>

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
