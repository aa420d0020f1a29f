/* cram.h - APOP (RFC 1939 section 7) and CRAM-MD5 (RFC 2195): challenges and MD5 digests, for the POP3 server and the SMTP gate. */
#ifndef OSD_CRAM_H
#define OSD_CRAM_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host name put in a challenge; a longer one is cut. */
#define CRAM_HOST_MAX 255
/* Room for "<pid.time.random@host>" and its NUL. */
#define CRAM_CHALLENGE_SIZE (CRAM_HOST_MAX + 64)
/* Room for an MD5 digest in lower-case hex and its NUL. */
#define CRAM_HEX_SIZE 33

/*
 * A fresh challenge "<pid.time.random@host>" into out (CRAM_CHALLENGE_SIZE
 * bytes): the process id, the time in seconds, 64 random bits (getrandom(2);
 * should it fail, a per-process counter and the clock in
 * nanoseconds) and host ("localhost" when NULL or empty).  Two calls never
 * give the same string.  Returns the length.
 */
size_t cram_challenge(const char *host, char out[CRAM_CHALLENGE_SIZE]);

/* RFC 1939 APOP: lower-case hex MD5(banner || secret) into out.  0, or -1 (OpenSSL failed). */
int cram_apop_digest(const char *banner, const char *secret, char out[CRAM_HEX_SIZE]);

/*
 * RFC 2195 CRAM-MD5: lower-case hex HMAC-MD5(key = secret, challenge) into
 * out.  0, or -1 (OpenSSL failed).
 */
int cram_md5_digest(const char *challenge, const char *secret, char out[CRAM_HEX_SIZE]);

/*
 * Is the client's digest (len octets, hex in either case) equal to expected
 * (CRAM_HEX_SIZE - 1 lower-case hex digits)?  The time taken depends only
 * on len, never on where the two differ.
 */
bool cram_digest_equal(const char *expected, const char *given, size_t len);

/*
 * Check a client's digest (given, given_len octets of hex) against the one
 * secret gives for challenge: CRAM-MD5 when hmac, APOP otherwise.  With no
 * secret (NULL or "") a digest against a dummy secret is computed all the
 * same, so a user without a cleartext password is refused in about the
 * time a wrong digest takes.  1 match, 0 no match, -1 OpenSSL failed.
 */
int cram_verify(const char *challenge, bool hmac, const char *secret, const char *given,
		size_t given_len);

#endif
