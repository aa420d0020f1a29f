/* base64.h - strict RFC 4648 base64, for SASL exchanges (POP3 AUTH, SMTP AUTH). */
#ifndef OSD_BASE64_H
#define OSD_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Bytes that decoding len characters can produce at most. */
#define BASE64_DECODED_MAX(len) ((len) / 4 * 3)

/* Characters that encoding len bytes produces (without a NUL). */
#define BASE64_ENCODED_LEN(len) (((len) + 2) / 3 * 4)

/*
 * Decode in (inlen characters) into out (outsize bytes).  Strict: the
 * standard alphabet only, no whitespace, length a multiple of 4, '='
 * padding only at the end and only as much as needed, and the unused bits
 * before the padding zero (RFC 4648 section 3.5), so each byte string has
 * exactly one accepted encoding.  Empty input decodes to nothing.
 * Returns 0 with *outlen_r set, or -1 with errno = EINVAL for bad input or
 * EMSGSIZE when out is too small.  out is not NUL-terminated.
 */
int base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize,
		  size_t *outlen_r);

/*
 * The 6-bit value of c in the base64 alphabet whose 64th character is
 * char63 ('/' in RFC 4648; ',' in IMAP's modified BASE64, RFC 3501
 * section 5.1.3), or -1 when c is not in it ('=' included).
 */
int base64_value(unsigned char c, char char63);

/* Append the padded base64 encoding of len bytes to out; 0 or -1 (EMSGSIZE). */
int base64_encode(struct buf *out, const void *in, size_t len);

#endif
