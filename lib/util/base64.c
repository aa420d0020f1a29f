/* base64.c - strict RFC 4648 base64 decoding and encoding. */
#include "base64.h"

#include <errno.h>
#include <stdint.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
base64_value(unsigned char c, char char63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == (unsigned char)char63)
		return 63;
	return -1;
}

int
base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize,
	      size_t *outlen_r)
{
	size_t i, o = 0;

	if (inlen % 4 != 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < inlen; i += 4) {
		const unsigned char *q = (const unsigned char *)in + i;
		int v[4], k, pad = 0;
		uint32_t bits;
		size_t n;

		for (k = 0; k < 4; k++) {
			if (q[k] == '=' && i + 4 == inlen && k >= 2) {
				/* "x=" followed by anything but '=' is caught below. */
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0) {
				errno = EINVAL;
				return -1;
			}
			v[k] = base64_value(q[k], '/');
			if (v[k] < 0) {
				errno = EINVAL;
				return -1;
			}
		}
		bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		       (uint32_t)v[3];
		/* Non-zero bits hidden under the padding would let two encodings mean one string. */
		if ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0)) {
			errno = EINVAL;
			return -1;
		}
		n = 3 - (size_t)pad;
		if (n > outsize - o) {
			errno = EMSGSIZE;
			return -1;
		}
		out[o++] = (unsigned char)(bits >> 16);
		if (n > 1)
			out[o++] = (unsigned char)(bits >> 8);
		if (n > 2)
			out[o++] = (unsigned char)bits;
	}
	*outlen_r = o;
	return 0;
}

int
base64_encode(struct buf *out, const void *in, size_t len)
{
	const unsigned char *p = in;
	size_t start = out->len, i;
	char q[4];

	for (i = 0; i + 3 <= len; i += 3) {
		q[0] = alphabet[p[i] >> 2];
		q[1] = alphabet[(p[i] & 0x03) << 4 | p[i + 1] >> 4];
		q[2] = alphabet[(p[i + 1] & 0x0f) << 2 | p[i + 2] >> 6];
		q[3] = alphabet[p[i + 2] & 0x3f];
		if (buf_append(out, q, 4) == -1)
			goto fail;
	}
	if (len - i == 1) {
		q[0] = alphabet[p[i] >> 2];
		q[1] = alphabet[(p[i] & 0x03) << 4];
		q[2] = '=';
		q[3] = '=';
		if (buf_append(out, q, 4) == -1)
			goto fail;
	} else if (len - i == 2) {
		q[0] = alphabet[p[i] >> 2];
		q[1] = alphabet[(p[i] & 0x03) << 4 | p[i + 1] >> 4];
		q[2] = alphabet[(p[i + 1] & 0x0f) << 2];
		q[3] = '=';
		if (buf_append(out, q, 4) == -1)
			goto fail;
	}
	return 0;
fail:
	/* Leave out as it was: no half encoding. */
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return -1;
}
