/* fuzz_sasl.c - fuzz target: SASL PLAIN, LOGIN and CRAM-MD5 exchanges as smtpd, pop3d and imapd run them (lib/auth/sasl.c), and the decoders under them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The lines of an exchange, at most: more than any mechanism takes. */
#define STEPS_MAX 8

/* After SASL_DONE: a login name, a secret within its bounds, nothing past their ends. */
static void
check_done(const struct sasl_server *s)
{
	size_t login = strnlen(s->login, sizeof(s->login));

	if (login == 0 || login > SASL_FIELD_MAX || s->secret_len > SASL_PLAIN_MAX)
		abort();
	if (s->mech != SASL_MECH_CRAM_MD5 && strlen(s->secret) != s->secret_len)
		abort();
}

/*
 * One exchange: the first byte picks the mechanism and whether the first
 * line is an initial response; the lines follow, split at LF.
 */
static void
exchange(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	enum sasl_mech mech = (enum sasl_mech)(data[0] % 3);
	bool initial = (data[0] & 4) != 0 && mech != SASL_MECH_CRAM_MD5;
	struct sasl_server s;
	enum sasl_result r = SASL_CHALLENGE;

	if (sasl_server_start(&s, mech, mech == SASL_MECH_CRAM_MD5 ?
			      "<1896.697170952@postoffice.example.net>" : NULL) != SASL_CHALLENGE)
		abort();
	for (int step = 0; step < STEPS_MAX && r == SASL_CHALLENGE && p <= end; step++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		r = sasl_server_step(&s, p, len, initial);
		initial = false;
		p += len + 1;
		if (r == SASL_MALFORMED && s.error == NULL)
			abort();
	}
	if (r == SASL_DONE)
		check_done(&s);
	sasl_server_clear(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[SASL_PLAIN_MAX + 1];
	char user[SASL_FIELD_MAX + 1];
	struct sasl_plain plain;
	const char *error, *digest;
	size_t outlen, dlen;

	if (size == 0)
		return 0;
	exchange(data, size);
	/* The pieces on the raw bytes too: the decoder, and the parsers of decoded messages. */
	if (sasl_response_decode((const char *)data, size, (data[0] & 8) != 0, out, sizeof(out),
				 &outlen) == SASL_RESPONSE_DATA && outlen >= sizeof(out))
		abort();
	if (sasl_plain_parse(data, size, &plain, &error) == 0) {
		if (plain.authcid[0] == '\0' || plain.passwd[0] == '\0')
			abort();
		sasl_plain_clear(&plain);
	}
	(void)sasl_login_field_ok(data, size);
	if (sasl_cram_split(data, size, user, &digest, &dlen) == 0 &&
	    (user[0] == '\0' || digest < (const char *)data || digest + dlen > (const char *)data + size))
		abort();
	(void)sasl_mech_parse((const char *)data, size);
	return 0;
}
