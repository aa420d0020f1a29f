/* test_fnv.c - unit tests for FNV-1a and the ASCII helpers: case folding, control characters, sanitising (lib/util/fnv.h, lib/util/ascii.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ascii.h"
#include "fnv.h"

/* The published test vectors of FNV-1a (draft-eastlake-fnv, section 8 / Noll's page). */
static void
test_fnv1a_known_vectors(void **state)
{
	(void)state;
	assert_true(fnv1a64_str(FNV1A64_BASIS, "") == 0xcbf29ce484222325ull);
	assert_true(fnv1a64_str(FNV1A64_BASIS, "a") == 0xaf63dc4c8601ec8cull);
	assert_true(fnv1a64_str(FNV1A64_BASIS, "foobar") == 0x85944171f73967e8ull);
	assert_true(fnv1a64(FNV1A64_BASIS, "foobar", 6) == 0x85944171f73967e8ull);
	assert_true(fnv1a32_str(FNV1A32_BASIS, "") == 0x811c9dc5u);
	assert_true(fnv1a32_str(FNV1A32_BASIS, "a") == 0xe40c292cu);
	assert_true(fnv1a32_str(FNV1A32_BASIS, "foobar") == 0xbf9cf968u);
}

/* Pieces chain: hashing "foo" then "bar" is hashing "foobar"; a byte at a time too; octets >= 0x80 unsigned. */
static void
test_fnv1a_pieces_chain(void **state)
{
	uint64_t h = FNV1A64_BASIS;
	const char *s = "foob\xe9r";

	(void)state;
	assert_true(fnv1a64_str(fnv1a64_str(FNV1A64_BASIS, "foo"), "bar")
		    == fnv1a64(fnv1a64(FNV1A64_BASIS, "foo", 3), "bar", 3));
	for (size_t i = 0; s[i] != '\0'; i++)
		h = fnv1a64_byte(h, (unsigned char)s[i]);
	assert_true(h == fnv1a64_str(FNV1A64_BASIS, s));
	assert_true(h == fnv1a64(FNV1A64_BASIS, s, strlen(s)));
}

/* Only 'A'..'Z' fold: no locale, octets >= 0x80 and punctuation left alone. */
static void
test_ascii_lower_only_letters(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		char want = c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;

		assert_int_equal(ascii_lower((char)c), want);
	}
	assert_true(ascii_eq_nocase("Example.ORG", "example.org", 11));
	assert_false(ascii_eq_nocase("\xc9", "\xe9", 1));
	assert_false(ascii_eq_nocase("a@b", "a@c", 3));
	assert_true(ascii_eq_nocase("abc", "ABD", 2));
	assert_true(ascii_eq_nocase("", "x", 0));
}

/* Controls (NUL too) always replaced, 8-bit only when asked; the copy is cut to fit and always terminated. */
static void
test_ascii_sanitize_controls_and_8bit(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(ascii_sanitize(out, sizeof(out), "a\r\nb\0c\x7f\xc3\xa9", 9, ASCII_KEEP_8BIT, '?'), 9);
	assert_string_equal(out, "a??b?c?\xc3\xa9");
	assert_int_equal(ascii_sanitize(out, sizeof(out), "a\r\nb\0c\x7f\xc3\xa9", 9, ASCII_KEEP_PRINTABLE, '?'), 9);
	assert_string_equal(out, "a??b?c???");
	assert_int_equal(ascii_sanitize(out, sizeof(out), "x\ty", 3, ASCII_KEEP_8BIT, ' '), 3);
	assert_string_equal(out, "x y");
	/* Cut: size 4 holds 3 octets and the NUL. */
	assert_int_equal(ascii_sanitize(out, 4, "abcdef", 6, ASCII_KEEP_8BIT, '?'), 3);
	assert_string_equal(out, "abc");
	out[0] = 'z';
	assert_int_equal(ascii_sanitize(out, 0, "abc", 3, ASCII_KEEP_8BIT, '?'), 0);
	assert_int_equal(out[0], 'z');
	assert_true(ascii_has_ctl("ab\0", 3));
	assert_true(ascii_has_ctl("a\x7f", 2));
	assert_false(ascii_has_ctl("a b\xff~", 5));
	assert_false(ascii_has_ctl("a\n", 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv1a_known_vectors),
		cmocka_unit_test(test_fnv1a_pieces_chain),
		cmocka_unit_test(test_ascii_lower_only_letters),
		cmocka_unit_test(test_ascii_sanitize_controls_and_8bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
