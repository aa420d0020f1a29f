/* cram.c - APOP and CRAM-MD5 challenges and digests with OpenSSL's MD5 and HMAC. */
#include "cram.h"

#include <stdint.h>
#include <sys/random.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

size_t
cram_challenge(const char *host, char out[CRAM_CHALLENGE_SIZE])
{
	static uint64_t counter;
	unsigned char rnd[8];
	uint64_t r = 0;
	struct timespec ts;
	size_t i, hlen;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	/*
	 * The kernel's generator, not RAND_bytes: every POP3 greeting makes a
	 * challenge, and waking OpenSSL's DRBG in a fresh session process
	 * faults in about 2.7 MB of libcrypto (RSS) for nothing.
	 */
	if (getrandom(rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd)) {
		for (i = 0; i < sizeof(rnd); i++)
			r = r << 8 | rnd[i];
	} else {
		r = ((uint64_t)ts.tv_nsec << 20) ^ ++counter;
	}
	if (host == NULL || *host == '\0')
		host = "localhost";
	hlen = strnlen(host, CRAM_HOST_MAX);
	n = snprintf(out, CRAM_CHALLENGE_SIZE, "<%ld.%lld.%016llx@%.*s>", (long)getpid(),
		     (long long)ts.tv_sec, (unsigned long long)r, (int)hlen, host);
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)n < CRAM_CHALLENGE_SIZE ? (size_t)n : CRAM_CHALLENGE_SIZE - 1;
}

static void
to_hex(const unsigned char *md, char out[CRAM_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0x0f];
	}
	out[32] = '\0';
}

int
cram_apop_digest(const char *banner, const char *secret, char out[CRAM_HEX_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	out[0] = '\0';
	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, banner, strlen(banner)) == 1 &&
	     EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16;
	EVP_MD_CTX_free(ctx);
	if (ok)
		to_hex(md, out);
	OPENSSL_cleanse(md, sizeof(md));
	return ok ? 0 : -1;
}

int
cram_md5_digest(const char *challenge, const char *secret, char out[CRAM_HEX_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ok;

	out[0] = '\0';
	ok = HMAC(EVP_md5(), secret, (int)strlen(secret), (const unsigned char *)challenge,
		  strlen(challenge), md, &mdlen) != NULL && mdlen == 16;
	if (ok)
		to_hex(md, out);
	OPENSSL_cleanse(md, sizeof(md));
	return ok ? 0 : -1;
}

bool
cram_digest_equal(const char *expected, const char *given, size_t len)
{
	unsigned diff = len != CRAM_HEX_SIZE - 1;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)given[i];
		unsigned char e = (unsigned char)expected[i % (CRAM_HEX_SIZE - 1)];

		/* ASCII upper case to lower case, without a branch on the byte. */
		c |= (unsigned char)(((unsigned)(c - 'A') <= 'Z' - 'A') << 5);
		diff |= (unsigned)(c ^ e);
	}
	return diff == 0 && len == CRAM_HEX_SIZE - 1;
}

int
cram_verify(const char *challenge, bool hmac, const char *secret, const char *given,
	    size_t given_len)
{
	static const char dummy[] = "osd: no cleartext password for this user";
	char expected[CRAM_HEX_SIZE];
	bool have = secret != NULL && secret[0] != '\0';
	bool match;
	int d;

	/* Without a secret the digest is still computed, so a refusal costs the same. */
	if (hmac)
		d = cram_md5_digest(challenge, have ? secret : dummy, expected);
	else
		d = cram_apop_digest(challenge, have ? secret : dummy, expected);
	match = d == 0 && cram_digest_equal(expected, given, given_len);
	explicit_bzero(expected, sizeof(expected));
	if (d == -1)
		return -1;
	return have && match ? 1 : 0;
}
