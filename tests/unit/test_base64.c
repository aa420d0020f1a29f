/* test_base64.c - unit tests for the strict base64 codec (lib/util/base64.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"

static int
decode(const char *in, unsigned char *out, size_t outsize, size_t *len_r)
{
	return base64_decode(in, strlen(in), out, outsize, len_r);
}

/* RFC 4648 section 10 test vectors, both ways. */
static void
test_base64_rfc4648_vectors_round_trip(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };
	unsigned char out[16];
	struct buf b;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(base64_encode(&b, plain[i], strlen(plain[i])), 0);
		assert_int_equal(b.len, strlen(coded[i]));
		if (b.len > 0)
			assert_string_equal(b.data, coded[i]);
		assert_int_equal(b.len, BASE64_ENCODED_LEN(strlen(plain[i])));
		buf_free(&b);
		assert_int_equal(decode(coded[i], out, sizeof(out), &len), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(out, plain[i], len);
	}
}

static void
test_base64_decodes_every_byte_value(void **state)
{
	unsigned char in[256], out[256];
	struct buf b;
	size_t i, len;

	(void)state;
	for (i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, in, sizeof(in)), 0);
	assert_int_equal(base64_decode(b.data, b.len, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(in));
	assert_memory_equal(out, in, sizeof(in));
	buf_free(&b);
}

static void
test_base64_rejects_malformed_input(void **state)
{
	static const char *const bad[] = {
		"Zg=",          /* length not a multiple of 4 */
		"Zg",           /* no padding */
		"Zm9v\r\n",     /* whitespace */
		"Zm 9",         /* space */
		"Zg==Zg==",     /* padding in the middle */
		"Z===",         /* too much padding */
		"====",
		"Zm=v",         /* '=' before data */
		"Zh==",         /* non-zero bits under the padding */
		"Zm9=",         /* same, one '=' */
		"Zm9v-_==",     /* URL alphabet */
		"Zm9\x80",      /* high byte */
	};
	unsigned char out[16];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(decode(bad[i], out, sizeof(out), &len), -1);
		assert_int_equal(errno, EINVAL);
	}
	/* An embedded NUL is not part of the alphabet either. */
	assert_int_equal(base64_decode("Zm\0v", 4, out, sizeof(out), &len), -1);
}

static void
test_base64_decode_respects_output_size(void **state)
{
	unsigned char out[5];
	size_t len;

	(void)state;
	errno = 0;
	assert_int_equal(decode("Zm9vYmFy", out, sizeof(out), &len), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(decode("Zm9vYmE=", out, sizeof(out), &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(BASE64_DECODED_MAX(8), 6);
}

static void
test_base64_encode_fails_whole_on_full_buffer(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 6);
	assert_int_equal(base64_encode(&b, "ab", 2), 0);
	assert_int_equal(base64_encode(&b, "abcdef", 6), -1);
	/* Nothing half-written after the failure. */
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "YWI=");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_rfc4648_vectors_round_trip),
		cmocka_unit_test(test_base64_decodes_every_byte_value),
		cmocka_unit_test(test_base64_rejects_malformed_input),
		cmocka_unit_test(test_base64_decode_respects_output_size),
		cmocka_unit_test(test_base64_encode_fails_whole_on_full_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
